"""Data points and spans as rows of the OpenTelemetry Collector's ClickHouse tables
(``otel_metrics_gauge``, ``otel_metrics_sum``, ``otel_metrics_histogram``,
``otel_metrics_exponential_histogram``, ``otel_metrics_summary``, ``otel_traces``), built in
Python, column-oriented, one INSERT per table and batch.

The columns are those of the contrib ``clickhouseexporter`` (so Grafana's ClickHouse data
source reads them), with the same values: ids in lowercase hex (empty when all zero), span
kinds and status codes as pdata names them (``Internal``, ``Server``, ...; ``Unset``, ``Ok``,
``Error``), a span's ``Duration`` in nanoseconds, a data point's value as ``Float64`` whether
it was sent as an integer or a double. Beside them: ``Tenant`` (the batch's), and
``ValuesOutOfRange``. Attribute maps hold strings by the rules of ``otel_logs``
(:mod:`collector.sessions.clickhouse.rows`): strings as they are, booleans ``true``/``false``,
numbers in their text form, bytes as base64, arrays and maps as JSON.

**Values that do not fit.** Every value a column cannot hold is stored empty, so no data
point or span can fail an insert by its values, and the row's ``ValuesOutOfRange`` names the
columns emptied: a time before 1970 or past 2106-02-07 (``toDateTime`` of the TTL and of
``otel_traces_trace_id_ts`` cannot hold it) becomes 0 (1970-01-01); a span that ends before it
starts, or whose end does not fit, gets ``Duration`` 0. NaN and infinities are kept
(``Float64`` holds them); the session figures skip them.

**Identity.** Each table's ``RecordId`` is computed by ClickHouse from ``Tenant`` and every
column in :data:`COLUMNS` (see :mod:`collector.sessions.clickhouse.schema`): the same data
point or span stored twice is one row after a merge or with ``FINAL``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from collector.pdata.otlp_proto import attributes_of
from collector.pdata.signals import DataPoint, Span
from collector.sessions.clickhouse.rows import TIME_MAX_NS, stringify

#: the columns every metrics table shares, in insert order
_METRIC_HEAD = (
    "ResourceAttributes", "ResourceSchemaUrl", "ScopeName", "ScopeVersion", "ScopeAttributes",
    "ScopeDroppedAttrCount", "ScopeSchemaUrl", "ServiceName", "MetricName", "MetricDescription",
    "MetricUnit", "Attributes", "StartTimeUnix", "TimeUnix", "Flags",
)  # fmt: skip
_EXEMPLARS = (
    "Exemplars.FilteredAttributes", "Exemplars.TimeUnix", "Exemplars.Value",
    "Exemplars.SpanId", "Exemplars.TraceId",
)  # fmt: skip
_TAIL = ("Tenant", "ValuesOutOfRange")

#: a data point's kind (``DataPoint.kind``) -> its table
METRIC_TABLES = {
    "gauge": "otel_metrics_gauge",
    "sum": "otel_metrics_sum",
    "histogram": "otel_metrics_histogram",
    "exponential_histogram": "otel_metrics_exponential_histogram",
    "summary": "otel_metrics_summary",
}
TRACES_TABLE = "otel_traces"

#: the columns each table is inserted with: everything a row was sent with (its identity)
COLUMNS: dict[str, tuple[str, ...]] = {
    "otel_metrics_gauge": (*_METRIC_HEAD, "Value", *_EXEMPLARS, *_TAIL),
    "otel_metrics_sum": (
        *_METRIC_HEAD, "Value", *_EXEMPLARS, "AggregationTemporality", "IsMonotonic", *_TAIL,
    ),
    "otel_metrics_histogram": (
        *_METRIC_HEAD, "Count", "Sum", "BucketCounts", "ExplicitBounds", *_EXEMPLARS, "Min",
        "Max", "AggregationTemporality", *_TAIL,
    ),
    "otel_metrics_exponential_histogram": (
        *_METRIC_HEAD, "Count", "Sum", "Scale", "ZeroCount", "PositiveOffset",
        "PositiveBucketCounts", "NegativeOffset", "NegativeBucketCounts", *_EXEMPLARS, "Min",
        "Max", "AggregationTemporality", *_TAIL,
    ),
    "otel_metrics_summary": (
        *_METRIC_HEAD, "Count", "Sum", "ValueAtQuantiles.Quantile", "ValueAtQuantiles.Value",
        *_TAIL,
    ),
    TRACES_TABLE: (
        "Timestamp", "TraceId", "SpanId", "ParentSpanId", "TraceState", "SpanName", "SpanKind",
        "ServiceName", "ResourceAttributes", "ScopeName", "ScopeVersion", "SpanAttributes",
        "Duration", "StatusCode", "StatusMessage", "Events.Timestamp", "Events.Name",
        "Events.Attributes", "Links.TraceId", "Links.SpanId", "Links.TraceState",
        "Links.Attributes", *_TAIL,
    ),
}  # fmt: skip

#: pdata's names of span kinds and status codes (``SpanKind.String()``, ``StatusCode.String()``)
SPAN_KINDS = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
STATUS_CODES = ("Unset", "Ok", "Error")

Row = dict[str, Any]


def metric_columns(tenant: str, points: Iterable[DataPoint]) -> dict[str, list[list[Any]]]:
    """The data points' columns, by table (only the tables that get rows), in the order of
    :data:`COLUMNS`."""
    rows: dict[str, list[Row]] = {}
    origins = _Origins()
    for point in points:
        kind = point.kind
        table = METRIC_TABLES.get(kind)
        if table is None:
            continue  # a kind this collector does not know: nothing it could store
        rows.setdefault(table, []).append(_metric_row(tenant, point, kind, origins))
    return {table: _columnar(table, table_rows) for table, table_rows in rows.items()}


def span_columns(tenant: str, spans: Iterable[Span]) -> list[list[Any]]:
    """The spans' ``otel_traces`` columns, in the order of :data:`COLUMNS`."""
    origins = _Origins()
    return _columnar(TRACES_TABLE, [_span_row(tenant, span, origins) for span in spans])


def _columnar(table: str, rows: list[Row]) -> list[list[Any]]:
    return [[row[name] for row in rows] for name in COLUMNS[table]]


class _Origins:
    """Resources and scopes as stored, each converted once per batch."""

    def __init__(self) -> None:
        self._resources: dict[int, tuple[dict[str, str], str]] = {}
        self._scopes: dict[int, dict[str, str]] = {}

    def resource(self, origin: Any) -> tuple[dict[str, str], str]:
        """Its attributes and its ``service.name``."""
        found = self._resources.get(id(origin))
        if found is None:
            attrs = attributes(origin.pb.attributes)
            found = self._resources[id(origin)] = (attrs, attrs.get("service.name", ""))
        return found

    def scope(self, origin: Any) -> dict[str, str]:
        found = self._scopes.get(id(origin))
        if found is None:
            found = self._scopes[id(origin)] = attributes(origin.pb.attributes)
        return found


def _metric_row(tenant: str, point: DataPoint, kind: str, origins: _Origins) -> Row:
    pb, metric = point.pb, point.metric
    resource_attrs, service = origins.resource(point.resource)
    scope = point.scope.pb
    emptied: list[str] = []
    row: Row = {
        "ResourceAttributes": resource_attrs,
        "ResourceSchemaUrl": point.resource.schema_url,
        "ScopeName": scope.name,
        "ScopeVersion": scope.version,
        "ScopeAttributes": origins.scope(point.scope),
        "ScopeDroppedAttrCount": scope.dropped_attributes_count,
        "ScopeSchemaUrl": point.scope.schema_url,
        "ServiceName": service,
        "MetricName": metric.name,
        "MetricDescription": metric.description,
        "MetricUnit": metric.unit,
        "Attributes": attributes(pb.attributes),
        "StartTimeUnix": _time(pb.start_time_unix_nano, "StartTimeUnix", emptied),
        "TimeUnix": _time(pb.time_unix_nano, "TimeUnix", emptied),
        "Flags": pb.flags,
        "Tenant": tenant,
        "ValuesOutOfRange": emptied,
    }
    if kind in ("gauge", "sum"):
        row["Value"] = number(pb)
    elif kind == "summary":
        row["Count"] = pb.count
        row["Sum"] = pb.sum
        row["ValueAtQuantiles.Quantile"] = [q.quantile for q in pb.quantile_values]
        row["ValueAtQuantiles.Value"] = [q.value for q in pb.quantile_values]
    else:  # the histograms
        row["Count"] = pb.count
        row["Sum"] = pb.sum
        row["Min"] = pb.min
        row["Max"] = pb.max
        if kind == "histogram":
            row["BucketCounts"] = list(pb.bucket_counts)
            row["ExplicitBounds"] = list(pb.explicit_bounds)
        else:
            row["Scale"] = pb.scale
            row["ZeroCount"] = pb.zero_count
            row["PositiveOffset"] = pb.positive.offset
            row["PositiveBucketCounts"] = list(pb.positive.bucket_counts)
            row["NegativeOffset"] = pb.negative.offset
            row["NegativeBucketCounts"] = list(pb.negative.bucket_counts)
    if kind != "summary":
        exemplars = pb.exemplars
        row["Exemplars.FilteredAttributes"] = [attributes(e.filtered_attributes) for e in exemplars]
        row["Exemplars.TimeUnix"] = [
            _time(e.time_unix_nano, "Exemplars.TimeUnix", emptied) for e in exemplars
        ]
        row["Exemplars.Value"] = [number(e) for e in exemplars]
        row["Exemplars.SpanId"] = [hex_id(e.span_id) for e in exemplars]
        row["Exemplars.TraceId"] = [hex_id(e.trace_id) for e in exemplars]
    if kind in ("sum", "histogram", "exponential_histogram"):
        data = getattr(metric, kind)
        row["AggregationTemporality"] = data.aggregation_temporality
        if kind == "sum":
            row["IsMonotonic"] = data.is_monotonic
    return row


def _span_row(tenant: str, span: Span, origins: _Origins) -> Row:
    pb = span.pb
    resource_attrs, service = origins.resource(span.resource)
    emptied: list[str] = []
    start, end = pb.start_time_unix_nano, pb.end_time_unix_nano
    timestamp = _time(start, "Timestamp", emptied)
    if timestamp == start and start <= end <= TIME_MAX_NS:
        duration = end - start
    else:
        duration = 0
        if end < start or end > TIME_MAX_NS:
            emptied.append("Duration")
    events, links = pb.events, pb.links
    return {
        "Timestamp": timestamp,
        "TraceId": hex_id(pb.trace_id),
        "SpanId": hex_id(pb.span_id),
        "ParentSpanId": hex_id(pb.parent_span_id),
        "TraceState": pb.trace_state,
        "SpanName": pb.name,
        "SpanKind": _name(SPAN_KINDS, pb.kind),
        "ServiceName": service,
        "ResourceAttributes": resource_attrs,
        "ScopeName": span.scope.pb.name,
        "ScopeVersion": span.scope.pb.version,
        "SpanAttributes": attributes(pb.attributes),
        "Duration": duration,
        "StatusCode": _name(STATUS_CODES, pb.status.code),
        "StatusMessage": pb.status.message,
        "Events.Timestamp": [_time(e.time_unix_nano, "Events.Timestamp", emptied) for e in events],
        "Events.Name": [e.name for e in events],
        "Events.Attributes": [attributes(e.attributes) for e in events],
        "Links.TraceId": [hex_id(k.trace_id) for k in links],
        "Links.SpanId": [hex_id(k.span_id) for k in links],
        "Links.TraceState": [k.trace_state for k in links],
        "Links.Attributes": [attributes(k.attributes) for k in links],
        "Tenant": tenant,
        "ValuesOutOfRange": emptied,
    }


def _time(value: int, column: str, emptied: list[str]) -> int:
    """A time in nanoseconds, 0 (and ``column`` named in ``emptied``) where it does not fit."""
    if value <= TIME_MAX_NS:
        return value
    if column not in emptied:
        emptied.append(column)
    return 0


def _name(names: tuple[str, ...], value: int) -> str:
    return names[value] if 0 <= value < len(names) else ""


def number(pb: Any) -> float:
    """A data point's or exemplar's value (``as_double`` or ``as_int``) as a float."""
    return float(pb.as_int) if pb.WhichOneof("value") == "as_int" else pb.as_double


def hex_id(raw: bytes) -> str:
    """A trace or span id in lowercase hex, empty when it is all zeros (as pdata writes it)."""
    return raw.hex() if raw.strip(b"\x00") else ""


def attributes(kvs: Iterable[Any]) -> dict[str, str]:
    """OTLP ``KeyValue`` messages as a map of strings (the rules of ``otel_logs``)."""
    return stringify(attributes_of(kvs))


#: what an insert of each signal runs: (table, columns) pairs
Inserts = list[tuple[str, list[list[Any]]]]
Build = Callable[[str, list[Any]], Inserts]


def metric_inserts(tenant: str, points: list[DataPoint]) -> Inserts:
    return list(metric_columns(tenant, points).items())


def span_inserts(tenant: str, spans: list[Span]) -> Inserts:
    return [(TRACES_TABLE, span_columns(tenant, spans))] if spans else []
