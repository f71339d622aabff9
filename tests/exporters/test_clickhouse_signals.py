"""Metrics and traces in the clickhouse exporter's store, against real ClickHouse (embedded
chDB, or the server named by CLICKHOUSE_URL): the OpenTelemetry Collector's tables hold the
real Claude Code captures (``tests/data/claude-code-2.1.197-write``) exactly, once however
often they are delivered, and a session's figures from its metrics are exact for delta and
cumulative temporality."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import orjson
import pytest

from collector.component import ComponentID
from collector.pdata import otlp_proto
from collector.pdata.records import LogBatch
from collector.pdata.signals import (
    DataPoint,
    MetricsBatch,
    Span,
    TracesBatch,
    decode_metrics,
    decode_metrics_json,
    decode_traces,
    decode_traces_json,
)
from collector.sessions.clickhouse import ClickHouseSettings, Store, queries, rows
from collector.sessions.clickhouse.schema import LATEST, current_version, migrate
from exporters.clickhouse import ClickHouseExporter, ClickHouseExporterConfig
from tests.exporters.conftest import NoHost

CAPTURES = Path(__file__).parents[1] / "data" / "claude-code-2.1.197-write"
#: each capture's session and the active time it reported
CAPTURED = {
    "grpc": ("b1fcb8f4-dd27-4bf9-89d6-7363875428f8", 0.185),
    "http-protobuf": ("297231a0-7e67-4b47-bdb5-340edaf2d357", 0.222),
    "http-json": ("8af787ba-882a-4418-94d2-d113507b5d11", 0.477),
}
SESSION = "5e55e55e-0000-4000-8000-000000000001"
T0 = 1_796_379_989_000_000_000  # 2026-12-04, as in the captures


def captured_points(protocol: str) -> list[DataPoint]:
    if protocol == "http-json":
        return decode_metrics_json((CAPTURES / protocol / "metrics.json").read_bytes())
    return decode_metrics((CAPTURES / protocol / "metrics.pb").read_bytes())


def captured_spans(protocol: str) -> list[Span]:
    if protocol == "http-json":
        return decode_traces_json((CAPTURES / protocol / "traces.json").read_bytes())
    return decode_traces((CAPTURES / protocol / "traces.pb").read_bytes())


async def query(exp: ClickHouseExporter, sql: str, **params: Any) -> list[dict[str, Any]]:
    store = exp.store
    assert store is not None
    return await store.call(store.query, sql, params)


async def figures(exp: ClickHouseExporter, tenant: str, session: str) -> dict[str, Any]:
    store = exp.store
    assert store is not None
    found = await store.call(queries.session_metrics, store, tenant, [session])
    return found.get((tenant, session), dict.fromkeys(queries.METRIC_FIELDS, 0))


# -- building data points ----------------------------------------------------------------------


def kv(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": value}}


def metrics_request(*metrics: dict[str, Any]) -> bytes:
    return orjson.dumps({
        "resourceMetrics": [{
            "resource": {"attributes": [kv("service.name", "claude-code")]},
            "scopeMetrics": [{
                "scope": {"name": "com.anthropic.claude_code", "version": "2.1.197"},
                "metrics": list(metrics),
            }],
        }]
    })  # fmt: skip


def point(value: float | str, time: int, start: int = T0, **attrs: Any) -> dict[str, Any]:
    attrs.setdefault("session_id", SESSION)
    return {
        "attributes": [kv(k.replace("_", "."), v) for k, v in attrs.items()],
        "startTimeUnixNano": str(start),
        "timeUnixNano": str(time),
        "asDouble": value,
    }


def counter(name: str, temporality: int, *points: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "sum": {
            "aggregationTemporality": temporality,
            "isMonotonic": True,
            "dataPoints": list(points),
        },
    }


def batch(tenant: str, *metrics: dict[str, Any]) -> MetricsBatch:
    return MetricsBatch(tenant, decode_metrics_json(metrics_request(*metrics)))


LINES = "claude_code.lines_of_code.count"
ACTIVE = "claude_code.active_time.total"
COMMITS = "claude_code.commit.count"
PRS = "claude_code.pull_request.count"


# -- the tables --------------------------------------------------------------------------------


METRIC_COLUMNS = {
    "ResourceAttributes": "Map(LowCardinality(String), String)",
    "ResourceSchemaUrl": "String",
    "ScopeName": "String",
    "ScopeVersion": "String",
    "ScopeAttributes": "Map(LowCardinality(String), String)",
    "ScopeDroppedAttrCount": "UInt32",
    "ScopeSchemaUrl": "String",
    "ServiceName": "LowCardinality(String)",
    "MetricName": "String",
    "MetricDescription": "String",
    "MetricUnit": "String",
    "Attributes": "Map(LowCardinality(String), String)",
    "StartTimeUnix": "DateTime64(9)",
    "TimeUnix": "DateTime64(9)",
    "Flags": "UInt32",
    "Tenant": "LowCardinality(String)",
}
EXEMPLARS = {
    "Exemplars.FilteredAttributes": "Array(Map(LowCardinality(String), String))",
    "Exemplars.TimeUnix": "Array(DateTime64(9))",
    "Exemplars.Value": "Array(Float64)",
    "Exemplars.SpanId": "Array(String)",
    "Exemplars.TraceId": "Array(String)",
}
HISTOGRAM = {"Count": "UInt64", "Sum": "Float64", "Min": "Float64", "Max": "Float64"}
TABLE_COLUMNS = {
    "otel_metrics_gauge": {**METRIC_COLUMNS, "Value": "Float64", **EXEMPLARS},
    "otel_metrics_sum": {
        **METRIC_COLUMNS, "Value": "Float64", **EXEMPLARS, "AggregationTemporality": "Int32",
        "IsMonotonic": "Bool",
    },
    "otel_metrics_histogram": {
        **METRIC_COLUMNS, **HISTOGRAM, "BucketCounts": "Array(UInt64)",
        "ExplicitBounds": "Array(Float64)", **EXEMPLARS, "AggregationTemporality": "Int32",
    },
    "otel_metrics_exponential_histogram": {
        **METRIC_COLUMNS, **HISTOGRAM, "Scale": "Int32", "ZeroCount": "UInt64",
        "PositiveOffset": "Int32", "PositiveBucketCounts": "Array(UInt64)",
        "NegativeOffset": "Int32", "NegativeBucketCounts": "Array(UInt64)", **EXEMPLARS,
        "AggregationTemporality": "Int32",
    },
    "otel_metrics_summary": {
        **METRIC_COLUMNS, "Count": "UInt64", "Sum": "Float64",
        "ValueAtQuantiles.Quantile": "Array(Float64)", "ValueAtQuantiles.Value": "Array(Float64)",
    },
    "otel_traces": {
        "Timestamp": "DateTime64(9)", "TraceId": "String", "SpanId": "String",
        "ParentSpanId": "String", "TraceState": "String", "SpanName": "LowCardinality(String)",
        "SpanKind": "LowCardinality(String)", "ServiceName": "LowCardinality(String)",
        "ResourceAttributes": "Map(LowCardinality(String), String)", "ScopeName": "String",
        "ScopeVersion": "String", "SpanAttributes": "Map(LowCardinality(String), String)",
        "Duration": "UInt64", "StatusCode": "LowCardinality(String)", "StatusMessage": "String",
        "Events.Timestamp": "Array(DateTime64(9))", "Events.Name": "Array(LowCardinality(String))",
        "Events.Attributes": "Array(Map(LowCardinality(String), String))",
        "Links.TraceId": "Array(String)", "Links.SpanId": "Array(String)",
        "Links.TraceState": "Array(String)",
        "Links.Attributes": "Array(Map(LowCardinality(String), String))",
        "Tenant": "LowCardinality(String)",
    },
    "otel_traces_trace_id_ts": {
        "Tenant": "LowCardinality(String)", "TraceId": "String",
        "Start": "SimpleAggregateFunction(min, DateTime)",
        "End": "SimpleAggregateFunction(max, DateTime)",
    },
}  # fmt: skip


@pytest.mark.parametrize("table", list(TABLE_COLUMNS))
async def test_each_table_has_the_opentelemetry_exporter_columns(
    exporter: ClickHouseExporter, table: str
) -> None:
    """Grafana's ClickHouse data source finds the columns and types the OpenTelemetry
    Collector's exporter writes (and the tenant beside them)."""
    found = await query(
        exporter,
        "SELECT name, type FROM system.columns WHERE table = {t:String} "
        "AND database = currentDatabase()",
        t=table,
    )
    columns = {r["name"]: r["type"] for r in found}
    for name, kind in TABLE_COLUMNS[table].items():
        assert columns.get(name) == kind, (table, name)


async def test_a_version_3_store_gains_metrics_and_traces_and_keeps_its_sessions(
    store_endpoint: dict[str, Any], sample_json: bytes
) -> None:
    """A store of schema version 3 (logs and sessions only) is upgraded to version 4 in
    place: its session stays exact and it takes metrics."""
    from collector.pdata import otlp_json

    old = Store(ClickHouseSettings.model_validate(store_endpoint))
    try:
        await old.call(migrate, old, None, 3)
        records = otlp_json.decode_request(sample_json)
        await old.call(old.insert, "otel_logs", rows.columns("acme", records), rows.COLUMNS)
    finally:
        await old.call(old.close)
    exp = ClickHouseExporter(
        ComponentID("clickhouse"), ClickHouseExporterConfig.model_validate(store_endpoint)
    )
    await exp.start(NoHost())
    try:
        store = exp.store
        assert await store.call(current_version, store) == LATEST == 4
        (session,) = await store.call(queries.list_sessions, store, "acme")
        assert (session["api_requests"], session["input_tokens"]) == (2, 2400)
        assert session["lines_added"] == 0
        sid = session["session_id"]
        await exp.consume(
            batch("acme", counter(LINES, 1, point(4, T0 + 1, session_id=sid, type="added")))
        )
        (session,) = await store.call(queries.list_sessions, store, "acme")
        assert session["lines_added"] == 4
    finally:
        await exp.shutdown()


@pytest.mark.parametrize("protocol", list(CAPTURED))
async def test_otel_metrics_sum_holds_each_captured_data_point(
    exporter: ClickHouseExporter, protocol: str
) -> None:
    """Each of the ten data points of a capture is one row with its metric, attributes and
    value, all sums of delta temporality."""
    session, active = CAPTURED[protocol]
    await exporter.consume(MetricsBatch("acme", captured_points(protocol)))
    found = await query(
        exporter,
        "SELECT MetricName, Attributes['type'] AS type, Value, AggregationTemporality AS t, "
        "IsMonotonic AS mono, Attributes['session.id'] AS sid, Tenant "
        "FROM otel_metrics_sum FINAL ORDER BY MetricName, type",
    )
    assert [(r["MetricName"], r["type"], r["Value"]) for r in found] == [
        (ACTIVE, "cli", active),
        ("claude_code.code_edit_tool.decision", "", 1.0),
        ("claude_code.cost.usage", "", 0.018749999999999996),
        (LINES, "added", 3.0),
        (LINES, "removed", 0.0),
        ("claude_code.session.count", "", 1.0),
        ("claude_code.token.usage", "cacheCreation", 600.0),
        ("claude_code.token.usage", "cacheRead", 1800.0),
        ("claude_code.token.usage", "input", 2400.0),
        ("claude_code.token.usage", "output", 84.0),
    ]
    assert {(r["t"], r["mono"], r["sid"], r["Tenant"]) for r in found} == {
        (1, True, session, "acme")
    }


async def test_a_captured_data_point_row_has_every_column_as_the_opentelemetry_exporter(
    exporter: ClickHouseExporter,
) -> None:
    """The gRPC capture's "lines added" point, column by column (times to the nanosecond)."""
    await exporter.consume(MetricsBatch("acme", captured_points("grpc")))
    (row,) = await query(
        exporter,
        "SELECT * EXCEPT (StartTimeUnix, TimeUnix), toUnixTimestamp64Nano(StartTimeUnix) AS "
        "start_ns, toUnixTimestamp64Nano(TimeUnix) AS time_ns FROM otel_metrics_sum FINAL "
        "WHERE MetricName = {m:String} AND Attributes['type'] = 'added'",
        m=LINES,
    )
    assert row == {
        "ResourceAttributes": {
            "host.arch": "amd64", "os.type": "linux", "os.version": "6.18.44-fc-v1252",
            "service.name": "claude-code", "service.version": "2.1.197",
        },
        "ResourceSchemaUrl": "",
        "ScopeName": "com.anthropic.claude_code",
        "ScopeVersion": "2.1.197",
        "ScopeAttributes": {},
        "ScopeDroppedAttrCount": 0,
        "ScopeSchemaUrl": "",
        "ServiceName": "claude-code",
        "MetricName": LINES,
        "MetricDescription": (
            "Count of lines of code modified, with the 'type' attribute indicating whether lines "
            "were added or removed and the 'model' attribute indicating which model made the "
            "change"
        ),
        "MetricUnit": "",
        "Attributes": {
            "user.id": "d8f0fd401d0fcc60305a17361095946c28f6a602fc426c74bf78fbbc0351ff7c",
            "session.id": CAPTURED["grpc"][0], "terminal.type": "non-interactive",
            "type": "added", "model": "claude-opus-4-8",
        },
        "Value": 3.0,
        "Flags": 0,
        "Exemplars.FilteredAttributes": [],
        "Exemplars.TimeUnix": [],
        "Exemplars.Value": [],
        "Exemplars.SpanId": [],
        "Exemplars.TraceId": [],
        "AggregationTemporality": 1,
        "IsMonotonic": True,
        "Tenant": "acme",
        "ValuesOutOfRange": [],
        "start_ns": 1796379989814000000,
        "time_ns": 1796379989841000000,
    }  # fmt: skip


async def test_gauge_histogram_exponential_histogram_and_summary_points_go_to_their_tables(
    exporter: ClickHouseExporter,
) -> None:
    """One point of each other kind, each in its table with its own columns."""
    attrs = [kv("session.id", SESSION)]
    times = {"startTimeUnixNano": str(T0), "timeUnixNano": str(T0 + 10**9)}
    exemplar = {
        "timeUnixNano": str(T0 + 5), "asInt": "7", "spanId": "00f067aa0ba902b7",
        "traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "filteredAttributes": [kv("k", True)],
    }  # fmt: skip
    await exporter.consume(batch(
        "acme",
        {"name": "g", "unit": "1", "gauge": {"dataPoints": [
            {"attributes": attrs, **times, "asInt": "42", "exemplars": [exemplar]}]}},
        {"name": "h", "histogram": {"aggregationTemporality": 2, "dataPoints": [
            {"attributes": attrs, **times, "count": "6", "sum": 12.5, "min": 0.5, "max": 4.0,
             "bucketCounts": ["1", "2", "3"], "explicitBounds": [1.0, 2.0]}]}},
        {"name": "e", "exponentialHistogram": {"aggregationTemporality": 1, "dataPoints": [
            {"attributes": attrs, **times, "count": "5", "sum": 9.0, "scale": -2,
             "zeroCount": "1", "positive": {"offset": -1, "bucketCounts": ["2", "1"]},
             "negative": {"offset": 3, "bucketCounts": ["1"]}, "min": -8.0, "max": 3.0}]}},
        {"name": "s", "summary": {"dataPoints": [
            {"attributes": attrs, **times, "count": "3", "sum": 6.0, "quantileValues": [
                {"quantile": 0.5, "value": 2.0}, {"quantile": 0.99, "value": 3.5}]}]}},
    ))  # fmt: skip
    (gauge,) = await query(
        exporter,
        "SELECT MetricName, MetricUnit, Value, Exemplars.FilteredAttributes AS ea, "
        "arrayMap(t -> toUnixTimestamp64Nano(t), Exemplars.TimeUnix) AS et, "
        "Exemplars.Value AS ev, Exemplars.SpanId AS es, Exemplars.TraceId AS etr "
        "FROM otel_metrics_gauge FINAL",
    )
    assert gauge == {
        "MetricName": "g", "MetricUnit": "1", "Value": 42.0, "ea": [{"k": "true"}],
        "et": [T0 + 5], "ev": [7.0], "es": ["00f067aa0ba902b7"],
        "etr": ["4bf92f3577b34da6a3ce929d0e0e4736"],
    }  # fmt: skip
    (histogram,) = await query(
        exporter,
        "SELECT Count, Sum, Min, Max, BucketCounts, ExplicitBounds, AggregationTemporality AS t "
        "FROM otel_metrics_histogram FINAL",
    )
    assert histogram == {
        "Count": 6, "Sum": 12.5, "Min": 0.5, "Max": 4.0, "BucketCounts": [1, 2, 3],
        "ExplicitBounds": [1.0, 2.0], "t": 2,
    }  # fmt: skip
    (exponential,) = await query(
        exporter,
        "SELECT Count, Sum, Scale, ZeroCount, PositiveOffset, PositiveBucketCounts, "
        "NegativeOffset, NegativeBucketCounts, Min, Max, AggregationTemporality AS t "
        "FROM otel_metrics_exponential_histogram FINAL",
    )
    assert exponential == {
        "Count": 5, "Sum": 9.0, "Scale": -2, "ZeroCount": 1, "PositiveOffset": -1,
        "PositiveBucketCounts": [2, 1], "NegativeOffset": 3, "NegativeBucketCounts": [1],
        "Min": -8.0, "Max": 3.0, "t": 1,
    }  # fmt: skip
    (summary,) = await query(
        exporter,
        "SELECT Count, Sum, ValueAtQuantiles.Quantile AS q, ValueAtQuantiles.Value AS v, "
        "Attributes['session.id'] AS sid FROM otel_metrics_summary FINAL",
    )
    assert summary == {"Count": 3, "Sum": 6.0, "q": [0.5, 0.99], "v": [2.0, 3.5], "sid": SESSION}


@pytest.mark.parametrize("protocol", list(CAPTURED))
async def test_otel_traces_holds_each_captured_span(
    exporter: ClickHouseExporter, protocol: str
) -> None:
    """The six spans of a capture: one trace under claude_code.interaction, kinds and
    status as the OpenTelemetry exporter writes them, durations in nanoseconds, and the
    trace's time range in otel_traces_trace_id_ts."""
    session, _ = CAPTURED[protocol]
    spans = captured_spans(protocol)
    await exporter.consume(TracesBatch("acme", spans))
    found = await query(
        exporter,
        "SELECT SpanName, SpanKind, StatusCode, StatusMessage, TraceId, SpanId, ParentSpanId, "
        "Duration, toUnixTimestamp64Nano(Timestamp) AS ts, length(Events.Name) AS events, "
        "SpanAttributes['session.id'] AS sid, ServiceName, ScopeName, ScopeVersion, Tenant "
        "FROM otel_traces FINAL ORDER BY Timestamp, SpanName",
    )
    by_id = {s.pb.span_id.hex(): s.pb for s in spans}
    assert len(found) == 6
    for row in found:
        pb = by_id[row["SpanId"]]
        assert row["SpanName"] == pb.name
        assert row["TraceId"] == pb.trace_id.hex()
        assert row["ParentSpanId"] == pb.parent_span_id.hex()
        assert row["ts"] == pb.start_time_unix_nano
        assert row["Duration"] == pb.end_time_unix_nano - pb.start_time_unix_nano
        assert row["events"] == len(pb.events)
    assert {
        (r["SpanKind"], r["StatusCode"], r["StatusMessage"], r["sid"], r["ServiceName"],
         r["ScopeName"], r["ScopeVersion"], r["Tenant"])
        for r in found
    } == {("Internal", "Unset", "", session, "claude-code", "com.anthropic.claude_code.tracing",
           "1.0.0", "acme")}  # fmt: skip
    root = found[0]
    assert (root["SpanName"], root["ParentSpanId"]) == ("claude_code.interaction", "")
    assert sorted(r["SpanName"] for r in found) == [
        "claude_code.interaction", "claude_code.llm_request", "claude_code.llm_request",
        "claude_code.tool", "claude_code.tool.blocked_on_user", "claude_code.tool.execution",
    ]  # fmt: skip
    assert sum(r["events"] for r in found) == 2  # one retry-attempt event per LLM request
    (lookup,) = await query(
        exporter,
        "SELECT Tenant, TraceId, min(Start) AS start, max(End) AS end "
        "FROM otel_traces_trace_id_ts GROUP BY Tenant, TraceId",
    )
    assert (lookup["Tenant"], lookup["TraceId"]) == ("acme", root["TraceId"])
    assert int(lookup["start"].timestamp()) == root["ts"] // 10**9


async def test_a_captured_span_keeps_its_attributes_and_events_as_strings(
    exporter: ClickHouseExporter,
) -> None:
    """Numbers, booleans and arrays among a span's attributes are stored in their text
    form, its event with its time and attributes."""
    await exporter.consume(TracesBatch("acme", captured_spans("grpc")))
    (row,) = await query(
        exporter,
        "SELECT SpanAttributes AS a, Events.Name AS names, "
        "arrayMap(t -> toUnixTimestamp64Nano(t), Events.Timestamp) AS times, "
        "Events.Attributes AS attrs FROM otel_traces FINAL "
        "WHERE SpanName = 'claude_code.llm_request' ORDER BY Timestamp LIMIT 1",
    )
    assert row["a"]["input_tokens"] == "1200"
    assert row["a"]["success"] == "true"
    assert row["a"]["gen_ai.response.finish_reasons"] == '["tool_use"]'
    assert (row["names"], row["times"], row["attrs"]) == (
        ["gen_ai.request.attempt"],
        [1796379989775339499],
        [{"attempt": "1"}],
    )


# -- idempotence -------------------------------------------------------------------------------


async def test_the_same_metrics_and_spans_stored_twice_are_the_same_rows_and_figures(
    exporter: ClickHouseExporter,
) -> None:
    """A redelivered export (a retry, a Kafka replay) changes no row and no figure."""
    session, active = CAPTURED["grpc"]
    for _ in range(2):
        await exporter.consume(MetricsBatch("acme", captured_points("grpc")))
        await exporter.consume(TracesBatch("acme", captured_spans("grpc")))
        (metrics,) = await query(exporter, "SELECT count() AS n FROM otel_metrics_sum FINAL")
        (spans,) = await query(exporter, "SELECT count() AS n FROM otel_traces FINAL")
        assert (metrics["n"], spans["n"]) == (10, 6)
        assert await figures(exporter, "acme", session) == {
            "lines_added": 3, "lines_removed": 0, "commits": 0, "pull_requests": 0,
            "active_time_s": active,
        }  # fmt: skip
    (ids,) = await query(
        exporter, "SELECT count() AS n, uniqExact(RecordId) AS ids FROM otel_metrics_sum"
    )
    assert (ids["n"], ids["ids"]) == (20, 10)  # two copies of each row, one identity


async def test_data_points_that_differ_in_anything_stay_two_rows(
    exporter: ClickHouseExporter,
) -> None:
    """Two points alike but for their value, or an attribute, are two rows."""
    await exporter.consume(batch(
        "acme",
        counter(LINES, 1, point(3, T0 + 1, type="added"), point(4, T0 + 1, type="added"),
                point(3, T0 + 1, type="added", model="claude-opus-4-8")),
    ))  # fmt: skip
    (found,) = await query(exporter, "SELECT count() AS n FROM otel_metrics_sum FINAL")
    assert found["n"] == 3


async def test_the_same_point_of_two_tenants_is_a_row_of_each(
    exporter: ClickHouseExporter,
) -> None:
    """The tenant is part of a row's identity, and each tenant sees only its own figures."""
    for tenant in ("acme", "globex"):
        await exporter.consume(batch(tenant, counter(LINES, 1, point(3, T0 + 1, type="added"))))
    (found,) = await query(exporter, "SELECT count() AS n FROM otel_metrics_sum FINAL")
    assert found["n"] == 2
    assert (await figures(exporter, "acme", SESSION))["lines_added"] == 3
    assert (await figures(exporter, "initech", SESSION))["lines_added"] == 0


# -- figures by temporality --------------------------------------------------------------------


async def test_delta_points_sum_to_exact_session_figures(exporter: ClickHouseExporter) -> None:
    """Delta temporality (Claude Code's default): every distinct point adds, each once
    however often it is delivered; active time of every type adds up."""
    first = batch(
        "acme",
        counter(LINES, 1, point(3, T0 + 1, type="added"), point(1, T0 + 1, type="removed")),
        counter(ACTIVE, 1, point(0.5, T0 + 1, type="cli"), point(1.25, T0 + 1, type="user")),
        counter(COMMITS, 1, point(1, T0 + 1)),
    )
    second = batch(
        "acme",
        counter(LINES, 1, point(2, T0 + 2, start=T0 + 1, type="added")),
        counter(ACTIVE, 1, point(0.25, T0 + 2, start=T0 + 1, type="cli")),
        counter(COMMITS, 1, point(1, T0 + 2, start=T0 + 1)),
        counter(PRS, 1, point(1, T0 + 2, start=T0 + 1)),
    )
    for exported in (first, second, first, second):  # each delivered twice
        await exporter.consume(exported)
    assert await figures(exporter, "acme", SESSION) == {
        "lines_added": 5, "lines_removed": 1, "commits": 2, "pull_requests": 1,
        "active_time_s": 2.0,
    }  # fmt: skip


async def test_cumulative_series_count_their_latest_value(exporter: ClickHouseExporter) -> None:
    """Cumulative temporality: each series (attributes and start time) counts its latest
    value, whatever order the points come in; a series that restarted adds its own."""
    later = batch(
        "acme",
        counter(LINES, 2, point(5, T0 + 20, type="added"), point(2, T0 + 20, type="removed")),
        counter(ACTIVE, 2, point(3.5, T0 + 20, type="cli"), point(1.5, T0 + 20, type="user")),
    )
    earlier = batch(
        "acme",
        counter(LINES, 2, point(3, T0 + 10, type="added"), point(1, T0 + 10, type="removed")),
        counter(ACTIVE, 2, point(2.0, T0 + 10, type="cli")),
    )
    restarted = batch("acme", counter(LINES, 2, point(4, T0 + 40, start=T0 + 30, type="added")))
    for exported in (later, earlier, restarted, later):
        await exporter.consume(exported)
    assert await figures(exporter, "acme", SESSION) == {
        "lines_added": 9, "lines_removed": 2, "commits": 0, "pull_requests": 0,
        "active_time_s": 5.0,
    }  # fmt: skip


# -- values that do not fit --------------------------------------------------------------------


async def test_a_nan_or_out_of_range_point_does_not_stop_the_others_or_another_tenant(
    exporter: ClickHouseExporter,
) -> None:
    """A NaN value, a negative count and times past 2106 are stored (the times emptied and
    named in ValuesOutOfRange) beside the good points; no figure takes them, and another
    tenant's batch after them is stored as usual."""
    await exporter.consume(batch(
        "acme",
        counter(LINES, 1,
                point("NaN", T0 + 1, type="added"),
                point(-7, T0 + 2, type="added"),
                point(2, 2**64 - 1, start=2**63 + 5, type="added"),
                point(3, T0 + 3, type="added"),
                point("Infinity", T0 + 4, type="removed")),
    ))  # fmt: skip
    await exporter.consume(batch("globex", counter(LINES, 1, point(6, T0 + 1, type="added"))))
    found = await query(
        exporter,
        "SELECT Value, toUnixTimestamp64Nano(TimeUnix) AS t, ValuesOutOfRange AS out "
        "FROM otel_metrics_sum FINAL WHERE Tenant = 'acme' ORDER BY t, Value",
    )
    assert len(found) == 5
    emptied = [r for r in found if r["out"]]
    assert [(r["Value"], r["t"], r["out"]) for r in emptied] == [
        (2.0, 0, ["StartTimeUnix", "TimeUnix"])
    ]
    assert any(math.isnan(r["Value"]) for r in found)
    # NaN, infinity and the negative count add nothing; the emptied-time point still counts
    assert await figures(exporter, "acme", SESSION) == {
        "lines_added": 5, "lines_removed": 0, "commits": 0, "pull_requests": 0,
        "active_time_s": 0,
    }  # fmt: skip
    assert (await figures(exporter, "globex", SESSION))["lines_added"] == 6
    await exporter.poll_values_out_of_range()
    counted = await query(
        exporter, "SELECT Column, sum(Count) AS n FROM values_out_of_range GROUP BY Column"
    )
    assert {r["Column"]: r["n"] for r in counted} == {
        "otel_metrics_sum.StartTimeUnix": 1, "otel_metrics_sum.TimeUnix": 1,
    }  # fmt: skip


async def test_a_span_ending_before_it_starts_or_past_2106_is_stored_with_duration_emptied(
    exporter: ClickHouseExporter,
) -> None:
    """Spans whose times do not fit are stored, their Duration 0 and named in
    ValuesOutOfRange; the good span of the same batch is untouched."""
    spans = captured_spans("grpc")[:3]
    spans[0].pb.end_time_unix_nano = spans[0].pb.start_time_unix_nano - 1
    spans[1].pb.start_time_unix_nano = 2**64 - 1
    await exporter.consume(TracesBatch("acme", spans))
    found = await query(
        exporter,
        "SELECT SpanId, Duration, toUnixTimestamp64Nano(Timestamp) AS ts, "
        "ValuesOutOfRange AS out FROM otel_traces FINAL",
    )
    by_id = {r["SpanId"]: r for r in found}
    first, second, third = (by_id[s.pb.span_id.hex()] for s in spans)
    assert (first["Duration"], first["out"]) == (0, ["Duration"])
    assert (second["Duration"], second["ts"], second["out"]) == (0, 0, ["Timestamp", "Duration"])
    good = spans[2].pb
    assert (third["Duration"], third["out"]) == (
        good.end_time_unix_nano - good.start_time_unix_nano,
        [],
    )


# -- the session ---------------------------------------------------------------------------------


async def test_a_session_gets_its_metric_figures_and_its_traces(
    exporter: ClickHouseExporter,
) -> None:
    """The gRPC capture's logs, metrics and spans: the session has lines, active time and
    one trace of six spans under claude_code.interaction; a session without metrics has 0."""
    session, active = CAPTURED["grpc"]
    logs = otlp_proto.decode_request((CAPTURES / "grpc" / "logs.pb").read_bytes())
    await exporter.consume(LogBatch("acme", logs))
    await exporter.consume(MetricsBatch("acme", captured_points("grpc")))
    await exporter.consume(TracesBatch("acme", captured_spans("grpc")))
    other = otlp_proto.decode_request((CAPTURES / "http-protobuf" / "logs.pb").read_bytes())
    await exporter.consume(LogBatch("acme", other))
    store = exporter.store
    assert store is not None
    detail = await store.call(queries.get_session_detail, store, "acme", session)
    assert detail is not None
    assert {k: detail[k] for k in queries.METRIC_FIELDS} == {
        "lines_added": 3, "lines_removed": 0, "commits": 0, "pull_requests": 0,
        "active_time_s": active,
    }  # fmt: skip
    assert detail["traces"] == [{
        "trace_id": "83bb0fdbe56566fd6fb20f2f0986d302", "spans": 6,
        "root_name": "claude_code.interaction", "start": "2026-12-04T10:26:29.653Z",
        "duration_ms": 185.553,
    }]  # fmt: skip
    listed = {s["session_id"]: s for s in await store.call(queries.list_sessions, store, "acme")}
    assert listed[session]["lines_added"] == 3
    no_metrics = listed[CAPTURED["http-protobuf"][0]]
    assert {k: no_metrics[k] for k in queries.METRIC_FIELDS} == dict.fromkeys(
        queries.METRIC_FIELDS, 0
    )
    assert await store.call(queries.get_session_detail, store, "globex", session) is None


async def test_the_metrics_and_traces_tables_keep_rows_for_the_stores_ttl(
    store_endpoint: dict[str, Any],
) -> None:
    """With ``ttl`` set, every new table drops rows that old, by their own time column."""
    config = ClickHouseExporterConfig.model_validate({**store_endpoint, "ttl": "720h"})
    exp = ClickHouseExporter(ComponentID("clickhouse"), config)
    await exp.start(NoHost())
    try:
        found = await query(
            exp,
            "SELECT name, create_table_query AS q FROM system.tables "
            "WHERE database = currentDatabase() AND (name LIKE 'otel_metrics_%' "
            "OR name LIKE 'otel_traces%') AND engine NOT IN ('MaterializedView')",
        )
        ttl = {r["name"]: r["q"].split(" TTL ", 1)[1].split(" SETTINGS")[0] for r in found}
        assert ttl == {
            **{
                f"otel_metrics_{kind}": "toDateTime(TimeUnix) + toIntervalSecond(2592000)"
                for kind in ("gauge", "sum", "histogram", "exponential_histogram", "summary")
            },
            "otel_traces": "toDateTime(Timestamp) + toIntervalSecond(2592000)",
            "otel_traces_trace_id_ts": "Start + toIntervalSecond(2592000)",
        }
    finally:
        await exp.shutdown()
