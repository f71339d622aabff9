"""The session domain: what Claude Code and Cowork events mean (``events``: session,
prompt, tool, tokens and cost derived from a record) and the store that keeps them
(``clickhouse``: settings, client, schema and migrations, the insert paths, queries).

May import ``collector.pdata``, ``collector.component``, ``collector.confmap`` and
``collector.consumererror``; never a component, the service or the command line.
"""
