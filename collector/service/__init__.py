"""The running collector (the OpenTelemetry Collector's ``service`` and ``otelcol``
config): the typed configuration and its validation (``config``), the pipeline graph built
from it (``graph``), the service that starts and stops it with its own telemetry
(``service``), and the supervisor of ``--workers N`` processes (``workers``).

May import every lower layer (``collector.component`` and what it may import,
``collector.confighttp``, ``collector.telemetry``); never a component: the registry it is
given names them.
"""

from collector.service.service import Service

__all__ = ["Service"]
