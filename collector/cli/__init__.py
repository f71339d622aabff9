"""The command line and the distribution (the OpenTelemetry Collector's ``otelcol`` command
and its built-in component list): ``session-collector run | validate | components | keys |
sessions`` (``main``, ``sessions``), the built-in default config, and the components that
ship (``components``: the one module that imports them, and ``builtin_registry``).

The top layer: may import everything.
"""

from collector.cli.main import load_config, main

__all__ = ["load_config", "main"]
