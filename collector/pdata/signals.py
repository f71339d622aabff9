"""Metrics and traces: the batches of the other two OTLP signals, and their encodings.

Logs have a record shape of their own (:mod:`collector.pdata.records`), built for the hot path
that turns them into sessions. Metrics and spans are carried as the protobuf messages they came
in (upb, in C) and never converted field by field: a :class:`MetricsBatch` holds one
:class:`DataPoint` per data point and a :class:`TracesBatch` one :class:`Span` per span, each
pointing at its resource, scope (and metric) shared with its neighbours, so the batch
processor can cut and join them as it does log records and an encoder can rebuild the
request's grouping. ``len()`` of a batch is its data points or spans, the unit the OpenTelemetry
Collector counts them in.

Both decoders (protobuf and OTLP/JSON) check a request against :class:`RequestLimits` before
any item is built: data points or spans, scopes and resources against ``records``, and the
attributes of each against ``attributes``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Self, TypeAlias, TypeVar

import orjson
from google.protobuf.message import DecodeError as _ProtoDecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric as PbMetric

from collector.consumererror import DecodeError, TooMuchInRequest
from collector.pdata import otlp_json, otlp_json_messages, otlp_proto
from collector.pdata.records import LogBatch, RequestLimits

_Item = TypeVar("_Item", "DataPoint", "Span")


class Signal(enum.StrEnum):
    """The three OTLP signals, named as pipeline types are."""

    LOGS = "logs"
    METRICS = "metrics"
    TRACES = "traces"


@dataclass(slots=True, eq=False)
class Origin:
    """A resource or an instrumentation scope with its schema URL, shared by the items under it."""

    pb: Any  # Resource or InstrumentationScope
    schema_url: str = ""


class DataPoint:
    """One data point of one metric; ``metric`` is the metric without its data points."""

    __slots__ = ("metric", "pb", "resource", "scope")

    def __init__(self, resource: Origin, scope: Origin, metric: Any, pb: Any) -> None:
        self.resource = resource
        self.scope = scope
        self.metric = metric
        self.pb = pb

    def copy(self) -> DataPoint:
        return DataPoint(self.resource, self.scope, self.metric, _copy(self.pb))

    @property
    def kind(self) -> str:
        """``gauge``, ``sum``, ``histogram``, ``exponential_histogram`` or ``summary``."""
        return self.metric.WhichOneof("data") or ""

    def __repr__(self) -> str:
        return f"DataPoint({self.metric.name!r}, {self.kind})"


class Span:
    """One span with its resource and scope."""

    __slots__ = ("pb", "resource", "scope")

    def __init__(self, resource: Origin, scope: Origin, pb: Any) -> None:
        self.resource = resource
        self.scope = scope
        self.pb = pb

    def copy(self) -> Span:
        return Span(self.resource, self.scope, _copy(self.pb))

    def __repr__(self) -> str:
        return f"Span({self.pb.name!r})"


@dataclass(slots=True, eq=False)
class _Items(Generic[_Item]):
    """Items (data points or spans) of one tenant."""

    tenant: str
    records: list[_Item]

    def __len__(self) -> int:
        return len(self.records)

    def copy(self) -> Self:
        """A deep copy of the items' messages (resources, scopes and metrics are shared: no
        processor changes them), for a consumer that changes data while another branch
        reads it."""
        return type(self)(self.tenant, [item.copy() for item in self.records])

    def request(self) -> Any:
        """The export request of the items, grouped as they came."""
        raise NotImplementedError

    def to_proto(self) -> bytes:
        return bytes(self.request().SerializeToString())

    def to_json(self) -> bytes:
        return _to_json(self.request())


@dataclass(slots=True, eq=False)
class MetricsBatch(_Items[DataPoint]):
    """Data points of one tenant."""

    signal: ClassVar[Signal] = Signal.METRICS

    def request(self) -> Any:
        return metrics_request(self.records)


@dataclass(slots=True, eq=False)
class TracesBatch(_Items[Span]):
    """Spans of one tenant."""

    signal: ClassVar[Signal] = Signal.TRACES

    def request(self) -> Any:
        return traces_request(self.records)


def _copy(message: Any) -> Any:
    out = type(message)()
    out.CopyFrom(message)
    return out


#: what flows through a pipeline of any signal
Batch: TypeAlias = LogBatch | MetricsBatch | TracesBatch


def signal_of(batch: Batch) -> Signal:
    return batch.signal if not isinstance(batch, LogBatch) else Signal.LOGS


def batch_of(signal: Signal | str, tenant: str, records: list[Any]) -> Batch:
    """A batch of ``signal`` holding ``records``."""
    signal = Signal(signal)
    if signal is Signal.LOGS:
        return LogBatch(tenant, records)
    return BATCH_TYPES[signal](tenant, records)


# -- decoding --------------------------------------------------------------------------------


def decode_metrics(data: bytes, limits: RequestLimits | None = None) -> list[DataPoint]:
    """Decode an ``ExportMetricsServiceRequest``; :class:`DecodeError` if invalid."""
    return metrics_items(_parse(ExportMetricsServiceRequest, data), limits)


def decode_traces(data: bytes, limits: RequestLimits | None = None) -> list[Span]:
    """Decode an ``ExportTraceServiceRequest``; :class:`DecodeError` if invalid."""
    return trace_items(_parse(ExportTraceServiceRequest, data), limits)


def decode_metrics_json(data: bytes, limits: RequestLimits | None = None) -> list[DataPoint]:
    """Decode an ``ExportMetricsServiceRequest`` in OTLP/JSON."""
    return metrics_items(_parse_json(ExportMetricsServiceRequest, data), limits)


def decode_traces_json(data: bytes, limits: RequestLimits | None = None) -> list[Span]:
    """Decode an ``ExportTraceServiceRequest`` in OTLP/JSON."""
    return trace_items(_parse_json(ExportTraceServiceRequest, data), limits)


def _parse(cls: Any, data: bytes) -> Any:
    try:
        return cls.FromString(data)
    except _ProtoDecodeError as exc:
        raise DecodeError(f"invalid protobuf {cls.__name__}: {exc}") from None
    except RecursionError:
        raise DecodeError("invalid protobuf: nested too deeply") from None


def _parse_json(cls: Any, data: bytes) -> Any:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"invalid JSON: {exc}") from None
    return otlp_json_messages.parse(cls, doc)


def _counted(request: Any, limits: RequestLimits | None) -> bool:
    """Whether ``request`` may hold more than ``limits`` allow, so that its items and
    attributes must be counted (in Python, per item): each takes 2 bytes or more of its
    encoding (a tag and a length), which protobuf measures in C."""
    return limits is not None and request.ByteSize() > 2 * min(limits.records, limits.attributes)


def _check(limits: RequestLimits | None, entries: int, attributes: int) -> None:
    if limits is None:
        return
    if entries > limits.records:
        raise TooMuchInRequest(
            f"the request holds more than {limits.records} items, scopes and resources",
            "max_records_per_request",
        )
    if attributes > limits.attributes:
        raise TooMuchInRequest(
            f"the request holds more than {limits.attributes} attributes",
            "max_attributes_per_request",
        )


_POINTS = {
    "gauge": lambda m: m.gauge.data_points,
    "sum": lambda m: m.sum.data_points,
    "histogram": lambda m: m.histogram.data_points,
    "exponential_histogram": lambda m: m.exponential_histogram.data_points,
    "summary": lambda m: m.summary.data_points,
}


def metrics_items(request: Any, limits: RequestLimits | None = None) -> list[DataPoint]:
    """The data points of a parsed ``ExportMetricsServiceRequest``, checked against limits."""
    if _counted(request, limits):
        entries = attributes = 0
        for rm in request.resource_metrics:
            entries += 1 + len(rm.scope_metrics)
            attributes += len(rm.resource.attributes)
            for sm in rm.scope_metrics:
                attributes += len(sm.scope.attributes)
                for m in sm.metrics:
                    kind = m.WhichOneof("data")
                    points = _POINTS[kind](m) if kind else ()
                    entries += len(points) + 1
                    attributes += sum(len(p.attributes) for p in points)
        _check(limits, entries, attributes)
    out: list[DataPoint] = []
    for rm in request.resource_metrics:
        resource = Origin(rm.resource, rm.schema_url)
        for sm in rm.scope_metrics:
            scope = Origin(sm.scope, sm.schema_url)
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                if kind is None:
                    continue  # a metric without data: nothing to carry
                points = _POINTS[kind](m)
                metric = PbMetric()
                metric.CopyFrom(m)
                del _POINTS[kind](metric)[:]
                out.extend(DataPoint(resource, scope, metric, p) for p in points)
    return out


def trace_items(request: Any, limits: RequestLimits | None = None) -> list[Span]:
    """The spans of a parsed ``ExportTraceServiceRequest``, checked against limits."""
    if _counted(request, limits):
        entries = attributes = 0
        for rs in request.resource_spans:
            entries += 1 + len(rs.scope_spans)
            attributes += len(rs.resource.attributes)
            for ss in rs.scope_spans:
                entries += len(ss.spans)
                attributes += len(ss.scope.attributes)
                for s in ss.spans:
                    attributes += len(s.attributes) + sum(len(e.attributes) for e in s.events)
                    attributes += sum(len(k.attributes) for k in s.links)
                    entries += len(s.events) + len(s.links)
        _check(limits, entries, attributes)
    out: list[Span] = []
    for rs in request.resource_spans:
        resource = Origin(rs.resource, rs.schema_url)
        for ss in rs.scope_spans:
            scope = Origin(ss.scope, ss.schema_url)
            out.extend(Span(resource, scope, s) for s in ss.spans)
    return out


# -- encoding --------------------------------------------------------------------------------


def _grouped(items: Iterable[Any], key: Callable[[Any], Any]) -> dict[int, Any]:
    """Items by resource, then scope, then ``key`` (identity), in first-seen order."""
    out: dict[int, Any] = {}
    for item in items:
        by_scope = out.setdefault(id(item.resource), (item.resource, {}))[1]
        by_key = by_scope.setdefault(id(item.scope), (item.scope, {}))[1]
        k = key(item)
        by_key.setdefault(id(k), (k, []))[1].append(item)
    return out


def metrics_request(points: Iterable[DataPoint]) -> Any:
    """The ``ExportMetricsServiceRequest`` of data points, grouped as they came."""
    request = ExportMetricsServiceRequest()
    for resource, scopes in _grouped(points, lambda p: p.metric).values():
        rm = request.resource_metrics.add(schema_url=resource.schema_url)
        rm.resource.CopyFrom(resource.pb)
        for scope, metrics in scopes.values():
            sm = rm.scope_metrics.add(schema_url=scope.schema_url)
            sm.scope.CopyFrom(scope.pb)
            for metric, items in metrics.values():
                m = sm.metrics.add()
                m.CopyFrom(metric)
                _POINTS[metric.WhichOneof("data")](m).extend(p.pb for p in items)
    return request


def traces_request(spans: Iterable[Span]) -> Any:
    """The ``ExportTraceServiceRequest`` of spans, grouped as they came."""
    request = ExportTraceServiceRequest()
    for resource, scopes in _grouped(spans, lambda s: s.scope).values():
        rs = request.resource_spans.add(schema_url=resource.schema_url)
        rs.resource.CopyFrom(resource.pb)
        for scope, groups in scopes.values():
            ss = rs.scope_spans.add(schema_url=scope.schema_url)
            ss.scope.CopyFrom(scope.pb)
            for _, items in groups.values():
                ss.spans.extend(s.pb for s in items)
    return request


def _to_json(message: Any) -> bytes:
    """OTLP/JSON (see :func:`collector.pdata.otlp_json_messages.to_dict`)."""
    return orjson.dumps(otlp_json_messages.to_dict(message))


#: the decoders of a request body, by signal and encoding (``proto`` or ``json``)
DECODERS: dict[tuple[Signal, str], Callable[[bytes, RequestLimits | None], list[Any]]] = {
    (Signal.LOGS, "proto"): otlp_proto.decode_request,
    (Signal.LOGS, "json"): otlp_json.decode_request,
    (Signal.METRICS, "proto"): decode_metrics,
    (Signal.METRICS, "json"): decode_metrics_json,
    (Signal.TRACES, "proto"): decode_traces,
    (Signal.TRACES, "json"): decode_traces_json,
}

BATCH_TYPES: dict[Signal, type[MetricsBatch] | type[TracesBatch]] = {
    Signal.METRICS: MetricsBatch,
    Signal.TRACES: TracesBatch,
}


def encode_batch(batch: Batch, encoding: str = "proto") -> bytes:
    """A batch of any signal as its OTLP export request, in ``encoding`` (``proto`` or
    ``json``): what the disk queue, Kafka and the file exporter write."""
    if isinstance(batch, LogBatch):
        codec = otlp_proto if encoding == "proto" else otlp_json
        return codec.encode_request(batch)
    return batch.to_proto() if encoding == "proto" else batch.to_json()


def decode_batch(signal: Signal | str, tenant: str, payload: bytes) -> Batch:
    """What :func:`encode_batch` wrote, back as a batch of ``signal``."""
    signal = Signal(signal)
    return batch_of(signal, tenant, DECODERS[(signal, "proto")](payload, None))
