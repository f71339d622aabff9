"""What exporters share (the OpenTelemetry Collector's ``exporter/exporterhelper``): the
sending queue, retries with backoff and the write-ahead drainer (``sender``), and the
durable on-disk queue under them (``disk_queue``).

May import ``collector.component``, ``collector.pdata``, ``collector.confmap``,
``collector.telemetry`` and ``collector.consumererror``; never a component.
"""

from collector.exporterhelper.sender import QueuedSender, QueueSettings, RetrySettings

__all__ = ["QueueSettings", "QueuedSender", "RetrySettings"]
