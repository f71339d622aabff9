"""Serving HTTP the same way for every component that listens (the OpenTelemetry
Collector's ``config/confighttp``): one aiohttp server per endpoint, with the connection
bounds every server has (``ConnectionLimits``) and answers that never quote request bytes.

May import ``collector.confmap``, ``collector.telemetry`` and ``collector.component``.
"""
