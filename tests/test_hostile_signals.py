"""Hostile metrics and traces through every stage they can reach: an edge (otlp -> Kafka) and a
storage collector (Kafka -> batch -> write-ahead disk queue -> ClickHouse), against the real
broker and real chDB. Values that protobuf accepts but a column cannot hold (NaN, infinities,
times past 2262, a span that ends before it starts, unknown enum values, ids of the wrong
length, bucket counts that disagree with their bounds) never stop the store: the other
tenant's data, sent after them, is stored whole, and so are theirs, with what could not be
held emptied."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.component import ComponentID
from tests.conftest import StartCollector

CAPTURES = Path(__file__).parent / "data" / "claude-code-2.1.197-write" / "http-protobuf"
U64_MAX = 2**64 - 1
SESSION = "hostile-session"


def hostile_metrics() -> bytes:
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.add(key="service.name").value.string_value = "x" * 10_000
    sm = rm.scope_metrics.add()
    gauge = sm.metrics.add(name="nan.gauge")
    for value in (math.nan, math.inf, -math.inf, 1e308):
        p = gauge.gauge.data_points.add(time_unix_nano=U64_MAX, as_double=value)
        p.attributes.add(key="session.id").value.string_value = SESSION
    total = sm.metrics.add(name="claude_code.lines_of_code.count")
    total.sum.aggregation_temporality = 7  # not a temporality OTLP knows
    p = total.sum.data_points.add(start_time_unix_nano=U64_MAX, time_unix_nano=1, as_double=-5)
    p.attributes.add(key="session.id").value.string_value = SESSION
    p.attributes.add(key="type").value.string_value = "added"
    hist = sm.metrics.add(name="odd.histogram")
    hp = hist.histogram.data_points.add(time_unix_nano=U64_MAX, count=U64_MAX, sum=math.nan)
    hp.bucket_counts.extend([U64_MAX] * 5)  # five buckets, one bound: they disagree
    hp.explicit_bounds.append(math.inf)
    hp.exemplars.add(time_unix_nano=U64_MAX, as_double=math.nan, trace_id=b"\x01" * 3)
    exp = sm.metrics.add(name="odd.exponential")
    ep = exp.exponential_histogram.data_points.add(scale=-(2**31), zero_count=U64_MAX)
    ep.positive.offset = 2**31 - 1
    ep.positive.bucket_counts.extend([U64_MAX, 0, 1])
    summary = sm.metrics.add(name="odd.summary")
    qp = summary.summary.data_points.add(count=U64_MAX, sum=-math.inf)
    qp.quantile_values.add(quantile=math.nan, value=math.inf)
    sm.metrics.add(name="no.data")  # a metric with no data at all
    return request.SerializeToString()


def hostile_traces() -> bytes:
    request = ExportTraceServiceRequest()
    ss = request.resource_spans.add().scope_spans.add()
    backwards = ss.spans.add(name="ends.before.it.starts", trace_id=b"\x02" * 16,
                             span_id=b"\x03" * 8, start_time_unix_nano=U64_MAX,
                             end_time_unix_nano=1, kind=99)  # fmt: skip
    backwards.status.code = 42  # not a status code OTLP knows
    backwards.attributes.add(key="session.id").value.string_value = SESSION
    backwards.events.add(time_unix_nano=U64_MAX, name="e" * 5000)
    odd_ids = ss.spans.add(name="odd.ids", trace_id=b"\x04" * 3, span_id=b"",
                           parent_span_id=b"\x05" * 40)  # fmt: skip
    odd_ids.links.add(trace_id=b"\x06", span_id=b"\x07" * 9, trace_state="=" * 3000)
    odd_ids.attributes.add(key="").value.double_value = math.nan
    return request.SerializeToString()


def edge_config(keys_file: Path, brokers: list[str], topic: str) -> dict[str, Any]:
    return {
        "extensions": {"apikeys": {"keys_file": str(keys_file), "reload_interval": "50ms"}},
        "receivers": {"otlp": {"endpoint": "127.0.0.1:0", "auth": "apikeys"}},
        "exporters": {"kafka": {"brokers": brokers, "topic": f"{topic}_logs",
                                "metrics": {"topic": f"{topic}_metrics"},
                                "traces": {"topic": f"{topic}_spans"}}},
        "service": {"extensions": ["apikeys"], "pipelines": {
            signal: {"receivers": ["otlp"], "exporters": ["kafka"]}
            for signal in ("metrics", "traces")}},
    }  # fmt: skip


def storage_config(
    brokers: list[str], topic: str, store: dict[str, Any], queue: Path
) -> dict[str, Any]:
    return {
        "receivers": {"kafka": {
            "brokers": brokers, "topics": [f"{topic}_logs"], "group_id": f"g_{topic}",
            "initial_offset": "earliest", "metrics": {"topics": [f"{topic}_metrics"]},
            "traces": {"topics": [f"{topic}_spans"]}}},
        "processors": {"batch": {"timeout": "20ms"}},
        "exporters": {"clickhouse": {**store, "sending_queue": {
            "storage": str(queue), "write_ahead": True}}},
        "service": {"pipelines": {
            signal: {"receivers": ["kafka"], "processors": ["batch"],
                     "exporters": ["clickhouse"]}
            for signal in ("metrics", "traces")}},
    }  # fmt: skip


async def post(client: httpx.AsyncClient, url: str, key: str, signal: str, body: bytes) -> int:
    headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {key}"}
    return (await client.post(f"{url}/v1/{signal}", content=body, headers=headers)).status_code


async def counts(store: Any, tenant: str) -> tuple[int, int]:
    tables = ("sum", "gauge", "histogram", "exponential_histogram", "summary")
    points = " + ".join(
        f"(SELECT count() FROM otel_metrics_{t} FINAL WHERE Tenant = {{t:String}})" for t in tables
    )
    sql = (
        f"SELECT {points} AS points, "
        "(SELECT count() FROM otel_traces FINAL WHERE Tenant = {t:String}) AS spans"
    )
    (row,) = await store.call(store.query, sql, {"t": tenant})
    return int(row["points"]), int(row["spans"])


async def test_hostile_metrics_and_traces_never_stop_the_store_for_another_tenant(
    start_collector: StartCollector, keys_file: Path, kafka_bootstrap: str, topic: str,
    store_endpoint: dict[str, Any], client: httpx.AsyncClient, tmp_path: Path,
) -> None:  # fmt: skip
    edge = await start_collector(edge_config(keys_file, [kafka_bootstrap], topic))
    storage = await start_collector(
        storage_config([kafka_bootstrap], topic, store_endpoint, tmp_path / "queue")
    )
    mallory, acme = await edge.key(org="mallory"), await edge.key(org="acme")
    assert await post(client, edge.url, mallory, "metrics", hostile_metrics()) == 200
    assert await post(client, edge.url, mallory, "traces", hostile_traces()) == 200
    for signal in ("metrics", "traces"):
        body = (CAPTURES / f"{signal}.pb").read_bytes()
        assert await post(client, edge.url, acme, signal, body) == 200

    store = storage.service.exporters[ComponentID("clickhouse")].store  # type: ignore[attr-defined]
    deadline = time.monotonic() + 60
    while await counts(store, "acme") != (10, 6):
        assert time.monotonic() < deadline, await counts(store, "acme")
        await asyncio.sleep(0.1)
    # mallory's data is stored too, what no column could hold emptied: 4 gauge points, the
    # sum, histogram, exponential histogram and summary points, and both spans
    while await counts(store, "mallory") != (8, 2):
        assert time.monotonic() < deadline, await counts(store, "mallory")
        await asyncio.sleep(0.1)
    exporter = storage.service.exporters[ComponentID("clickhouse")]
    assert exporter.sender.queue is not None and len(exporter.sender.queue) == 0  # type: ignore[attr-defined]
