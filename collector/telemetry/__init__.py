"""The collector's own telemetry (the OpenTelemetry Collector's ``service/telemetry``): its
Prometheus metrics, one registry every component counts into (``metrics``), and its logs
(``logs``: structlog, console or JSON lines).

Imports nothing of the collector.
"""
