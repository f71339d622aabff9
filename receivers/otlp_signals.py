"""What differs between the three OTLP signals at the receiver: the gRPC service, and the
response with its ``partial_success`` field (the decoders and batches are
``collector.pdata.signals``'s)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from collector.pdata.signals import Signal


@dataclass(frozen=True)
class SignalCodec:
    signal: Signal
    #: the gRPC service, ``opentelemetry.proto.collector.<x>.v1.<X>Service``
    service: str
    response: Any
    #: the field of ``partial_success`` that counts what was refused
    rejected_field: str

    @property
    def json_rejected(self) -> str:
        """The field's OTLP/JSON name (``rejectedLogRecords``)."""
        head, *rest = self.rejected_field.split("_")
        return head + "".join(word.title() for word in rest)

    def response_bytes(self, rejected: int = 0, message: str = "") -> bytes:
        response = self.response()
        if rejected or message:
            setattr(response.partial_success, self.rejected_field, rejected)
            response.partial_success.error_message = message
        return bytes(response.SerializeToString())


CODECS: dict[Signal, SignalCodec] = {
    Signal.LOGS: SignalCodec(
        Signal.LOGS,
        "opentelemetry.proto.collector.logs.v1.LogsService",
        ExportLogsServiceResponse,
        "rejected_log_records",
    ),
    Signal.METRICS: SignalCodec(
        Signal.METRICS,
        "opentelemetry.proto.collector.metrics.v1.MetricsService",
        ExportMetricsServiceResponse,
        "rejected_data_points",
    ),
    Signal.TRACES: SignalCodec(
        Signal.TRACES,
        "opentelemetry.proto.collector.trace.v1.TraceService",
        ExportTraceServiceResponse,
        "rejected_spans",
    ),
}
