"""Configuration before it is typed (the OpenTelemetry Collector's ``confmap``): YAML files
deep-merged, ``--set`` overrides and ``${env:VAR}`` expansion (``resolver``), the value
types of config models (``units``: durations and sizes; ``netaddr``: endpoints), and
``ConfigError``.

Imports nothing of the collector.
"""

from collector.confmap.errors import ConfigError
from collector.confmap.resolver import ConfMap, load_files, parse_yaml

__all__ = ["ConfMap", "ConfigError", "load_files", "parse_yaml"]
