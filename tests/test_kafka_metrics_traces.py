"""Metrics and traces through Kafka, against the real broker: the edge publishes them to their
own topics (the OpenTelemetry Collector's ``otlp_metrics`` and ``otlp_spans`` by default) as
OTLP export requests with the tenant header, and a kafka receiver reads them back whole;
while Kafka is away they wait in the disk queue with their signal."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.component import ComponentID
from collector.pdata.signals import MetricsBatch, TracesBatch
from tests.conftest import StartCollector, read_topic
from tests.doubles import RecordingExporter

CAPTURES = Path(__file__).parent / "data" / "claude-code-2.1.197-write" / "http-protobuf"
PROTOBUF = "application/x-protobuf"


def edge_config(
    keys_file: Path, brokers: list[str], topic: str, queue: Path | None = None, **kafka: Any
) -> dict[str, Any]:
    exporter: dict[str, Any] = {
        "brokers": brokers, "topic": f"{topic}_logs", "timeout": "2s",
        "metrics": {"topic": f"{topic}_metrics"}, "traces": {"topic": f"{topic}_spans"},
        "retry_on_failure": {"initial_interval": "100ms", "max_interval": "500ms",
                             "max_elapsed_time": "1s"}, **kafka,
    }  # fmt: skip
    if queue is not None:
        exporter["sending_queue"] = {"storage": str(queue)}
    return {
        "extensions": {"apikeys": {"keys_file": str(keys_file), "reload_interval": "50ms"}},
        "receivers": {"otlp": {"endpoint": "127.0.0.1:0", "auth": "apikeys"}},
        "processors": {"batch": {"timeout": "20ms"}},
        "exporters": {"kafka": exporter},
        "service": {"extensions": ["apikeys"], "pipelines": {
            signal: {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["kafka"]}
            for signal in ("metrics", "traces")}},
    }  # fmt: skip


def reader_config(brokers: list[str], topic: str) -> dict[str, Any]:
    return {
        "receivers": {"kafka": {
            "brokers": brokers, "topics": [f"{topic}_logs"], "group_id": f"g_{topic}",
            "initial_offset": "earliest", "metrics": {"topics": [f"{topic}_metrics"]},
            "traces": {"topics": [f"{topic}_spans"]}}},
        "exporters": {"recording/metrics": {}, "recording/traces": {}},
        "service": {"pipelines": {
            signal: {"receivers": ["kafka"], "exporters": [f"recording/{signal}"]}
            for signal in ("metrics", "traces")}},
    }  # fmt: skip


async def post(client: httpx.AsyncClient, url: str, key: str, signal: str) -> int:
    body = (CAPTURES / f"{signal}.pb").read_bytes()
    headers = {"Content-Type": PROTOBUF, "Authorization": f"Bearer {key}"}
    return (await client.post(f"{url}/v1/{signal}", content=body, headers=headers)).status_code


async def recorded(name: str, count: int, within: float = 30) -> list[Any]:
    exporter = RecordingExporter.instances[name]
    deadline = time.monotonic() + within
    while len(exporter.records) < count:
        assert time.monotonic() < deadline, f"{name}: {len(exporter.records)} of {count}"
        await asyncio.sleep(0.05)
    return exporter.batches


async def test_metrics_go_to_their_topic_as_an_export_request_with_the_tenant(
    start_collector: StartCollector, keys_file: Path, org_key: str, kafka_bootstrap: str,
    topic: str, client: httpx.AsyncClient,
) -> None:  # fmt: skip
    edge = await start_collector(edge_config(keys_file, [kafka_bootstrap], topic))
    assert await post(client, edge.url, org_key, "metrics") == 200
    (message,) = await read_topic(kafka_bootstrap, f"{topic}_metrics", 1)
    assert dict(message.headers)["tenant"] == b"acme"
    assert message.key is None
    sent = ExportMetricsServiceRequest.FromString(message.value)
    original = ExportMetricsServiceRequest.FromString((CAPTURES / "metrics.pb").read_bytes())
    assert sent == original


async def test_traces_go_to_their_topic_in_otlp_json_when_asked(
    start_collector: StartCollector, keys_file: Path, org_key: str, kafka_bootstrap: str,
    topic: str, client: httpx.AsyncClient,
) -> None:  # fmt: skip
    config = edge_config(keys_file, [kafka_bootstrap], topic,
                         traces={"topic": f"{topic}_spans", "encoding": "otlp_json"})  # fmt: skip
    edge = await start_collector(config)
    assert await post(client, edge.url, org_key, "traces") == 200
    (message,) = await read_topic(kafka_bootstrap, f"{topic}_spans", 1)
    assert message.value.startswith(b'{"resourceSpans"')
    assert b'"traceId":"' in message.value


async def test_metrics_and_traces_read_back_from_kafka_are_whole(
    start_collector: StartCollector, keys_file: Path, org_key: str, kafka_bootstrap: str,
    topic: str, client: httpx.AsyncClient,
) -> None:  # fmt: skip
    edge = await start_collector(edge_config(keys_file, [kafka_bootstrap], topic))
    await start_collector(reader_config([kafka_bootstrap], topic))
    assert await post(client, edge.url, org_key, "metrics") == 200
    assert await post(client, edge.url, org_key, "traces") == 200
    (metrics,) = await recorded("recording/metrics", 10)
    (traces,) = await recorded("recording/traces", 6)
    assert isinstance(metrics, MetricsBatch) and isinstance(traces, TracesBatch)
    assert (metrics.tenant, traces.tenant) == ("acme", "acme")
    original = ExportTraceServiceRequest.FromString((CAPTURES / "traces.pb").read_bytes())
    assert ExportTraceServiceRequest.FromString(traces.to_proto()) == original


async def test_metrics_queued_while_kafka_is_away_are_delivered_after_a_restart(
    start_collector: StartCollector, keys_file: Path, org_key: str, kafka_bootstrap: str,
    topic: str, client: httpx.AsyncClient, tmp_path: Path,
) -> None:  # fmt: skip
    queue = tmp_path / "queue"
    first = await start_collector(edge_config(keys_file, ["127.0.0.1:9"], topic, queue))
    assert await post(client, first.url, org_key, "metrics") == 200
    assert await post(client, first.url, org_key, "traces") == 200
    assert first.service.exporters[ComponentID("kafka")].sender.queued_batches == 2
    await first.service.shutdown()

    await start_collector(edge_config(keys_file, [kafka_bootstrap], topic, queue))
    (metrics,) = await read_topic(kafka_bootstrap, f"{topic}_metrics", 1)
    (spans,) = await read_topic(kafka_bootstrap, f"{topic}_spans", 1)
    assert dict(metrics.headers)["tenant"] == b"acme"
    assert len(ExportMetricsServiceRequest.FromString(metrics.value).resource_metrics) == 1
    assert len(ExportTraceServiceRequest.FromString(spans.value).resource_spans) == 1


async def test_secrets_in_span_attributes_are_masked_before_kafka(
    start_collector: StartCollector, keys_file: Path, org_key: str, kafka_bootstrap: str,
    topic: str, client: httpx.AsyncClient,
) -> None:  # fmt: skip
    """Claude Code's interaction span carries the prompt (``user_prompt``): a key in it is
    masked at the edge, the rest of the span is as sent."""
    secret = "sk-ant-api03-" + "Q" * 40
    request = ExportTraceServiceRequest.FromString((CAPTURES / "traces.pb").read_bytes())
    spans = request.resource_spans[0].scope_spans[0].spans
    interaction = next(s for s in spans if s.name == "claude_code.interaction")
    prompt = next(kv for kv in interaction.attributes if kv.key == "user_prompt")
    prompt.value.string_value = f"deploy with {secret} now"
    config = edge_config(keys_file, [kafka_bootstrap], topic)
    config["processors"]["redaction"] = {}
    config["service"]["pipelines"]["traces"]["processors"] = ["redaction", "batch"]
    edge = await start_collector(config)
    headers = {"Content-Type": PROTOBUF, "Authorization": f"Bearer {org_key}"}
    resp = await client.post(f"{edge.url}/v1/traces", content=request.SerializeToString(),
                             headers=headers)  # fmt: skip
    assert resp.status_code == 200
    (message,) = await read_topic(kafka_bootstrap, f"{topic}_spans", 1)
    assert secret.encode() not in message.value
    sent = ExportTraceServiceRequest.FromString(message.value).resource_spans[0]
    by_name = {s.name: s for s in sent.scope_spans[0].spans}
    attributes = {kv.key: kv.value for kv in by_name["claude_code.interaction"].attributes}
    assert attributes["user_prompt"].string_value == (
        "deploy with [REDACTED:anthropic_api_key] now"
    )
    assert attributes["redaction.masked.count"].int_value == 1
    assert by_name["claude_code.tool"] == next(s for s in spans if s.name == "claude_code.tool")
