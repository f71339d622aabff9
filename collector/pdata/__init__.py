"""The record model and its codecs (the OpenTelemetry Collector's ``pdata``): ``records``
(``LogRecord``, ``LogBatch``, the bounds of a request), the OTLP protobuf and JSON codecs,
and the wire views that read protobuf without converting it.

May import ``collector.consumererror`` and nothing else of the collector: the record model
knows no component, no service and no session domain.
"""
