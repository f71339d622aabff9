"""The OpenTelemetry Python SDK's own OTLP exporters of all three signals, gRPC and HTTP
(gzip), against a running collector on loopback: what they send is accepted, attributed to
the key's org and reaches the pipeline of its signal whole."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from collector.component import ComponentID
from tests.conftest import RunningCollector, StartCollector, base_config


@pytest.fixture
async def running(
    start_collector: StartCollector, keys_file: Path, org_key: str
) -> RunningCollector:
    """otlp over gRPC and HTTP: logs to ``recording``, metrics and traces to
    ``recording/metrics`` and ``recording/traces``."""
    raw = base_config(keys_file)
    raw["receivers"]["otlp"].pop("endpoint")
    raw["receivers"]["otlp"]["protocols"] = {
        "grpc": {"endpoint": "127.0.0.1:0"},
        "http": {"endpoint": "127.0.0.1:0"},
    }
    raw["exporters"].update({"recording/metrics": {}, "recording/traces": {}})
    for signal in ("metrics", "traces"):
        raw["service"]["pipelines"][signal] = {
            "receivers": ["otlp"],
            "exporters": [f"recording/{signal}"],
        }
    return await start_collector(raw)


def exporter(kind: str, running: RunningCollector, key: str) -> Any:
    receiver = running.service.receivers[ComponentID("otlp")]
    headers = {"authorization": f"Bearer {key}"}
    if kind == "grpc":
        return GrpcExporter(
            endpoint=f"http://{receiver.grpc_address}",  # type: ignore[attr-defined]
            insecure=True,
            headers=headers,
        )
    return HttpExporter(
        endpoint=f"http://{receiver.address}/v1/logs",  # type: ignore[attr-defined]
        headers=headers,
        compression=HttpCompression.Gzip,
    )


def emit_one(exp: Any) -> None:
    """A Claude Code-like event through the SDK, sent at once (a simple processor)."""
    provider = LoggerProvider(resource=Resource.create({"service.name": "claude-code"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exp))
    provider.get_logger("com.anthropic.claude_code.events").emit(
        body="claude_code.user_prompt",
        event_name="claude_code.user_prompt",
        attributes={
            "session.id": "sdk-session",
            "prompt.id": "p1",
            "prompt_length": 5,
            "event.sequence": 0,
        },
    )
    provider.shutdown()


@pytest.mark.parametrize("kind", ["grpc", "http"])
async def test_the_sdk_exporters_are_accepted_as_the_keys_org(
    running: RunningCollector, org_key: str, kind: str
) -> None:
    await asyncio.to_thread(emit_one, exporter(kind, running, org_key))
    (batch,) = running.exporter().batches
    (record,) = batch.records
    assert batch.tenant == "acme"
    assert record.resource.attributes["service.name"] == "claude-code"
    assert record.event_name == "claude_code.user_prompt"
    assert record.attributes["session.id"] == "sdk-session"
    assert record.attributes["prompt_length"] == 5


@pytest.mark.parametrize("kind", ["grpc", "http"])
async def test_the_sdk_exporters_are_refused_without_a_valid_key(
    running: RunningCollector, kind: str
) -> None:
    """An unknown key: refused as unknown (counted), nothing reaches the pipeline, and the
    SDK does not retry the refusal."""
    before = unknown_keys()
    await asyncio.to_thread(emit_one, exporter(kind, running, "sck_unknown"))
    assert running.exporter().batches == []
    assert unknown_keys() - before == 1


def unknown_keys() -> float:
    from collector.telemetry import metrics

    return sum(
        sample.value
        for metric in metrics.REGISTRY.collect()
        for sample in metric.samples
        if sample.name == "session_collector_auth_failures_total"
        and sample.labels.get("reason") == "unknown"
    )


# -- metrics and traces -----------------------------------------------------------------------


def signal_exporter(kind: str, signal: str, running: RunningCollector, key: str) -> Any:
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
        OTLPMetricExporter as GrpcMetrics,
    )
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        OTLPSpanExporter as GrpcSpans,
    )
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter as HttpMetrics,
    )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpSpans,
    )
    from opentelemetry.sdk.metrics import Counter
    from opentelemetry.sdk.metrics.export import AggregationTemporality

    receiver = running.service.receivers[ComponentID("otlp")]
    headers = {"authorization": f"Bearer {key}"}
    # Claude Code's default temporality for counters: delta
    delta = {"preferred_temporality": {Counter: AggregationTemporality.DELTA}}
    if kind == "grpc":
        endpoint = f"http://{receiver.grpc_address}"  # type: ignore[attr-defined]
        if signal == "metrics":
            return GrpcMetrics(endpoint=endpoint, insecure=True, headers=headers, **delta)
        return GrpcSpans(endpoint=endpoint, insecure=True, headers=headers)
    url = f"http://{receiver.address}/v1/{signal}"  # type: ignore[attr-defined]
    if signal == "metrics":
        return HttpMetrics(endpoint=url, headers=headers, compression=HttpCompression.Gzip,
                           **delta)  # fmt: skip
    return HttpSpans(endpoint=url, headers=headers, compression=HttpCompression.Gzip)


def count_lines(exp: Any) -> None:
    """Claude Code's lines-of-code counter, once, through a reader flushed at shutdown."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    reader = PeriodicExportingMetricReader(exp, export_interval_millis=60_000)
    provider = MeterProvider(metric_readers=[reader],
                             resource=Resource.create({"service.name": "claude-code"}))  # fmt: skip
    counter = provider.get_meter("com.anthropic.claude_code").create_counter(
        "claude_code.lines_of_code.count"
    )
    counter.add(7, {"session.id": "sdk-session", "type": "added"})
    counter.add(2, {"session.id": "sdk-session", "type": "removed"})
    provider.shutdown()


def trace_one(exp: Any) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "claude-code"}))
    provider.add_span_processor(SimpleSpanProcessor(exp))
    tracer = provider.get_tracer("com.anthropic.claude_code.tracing")
    with (
        tracer.start_as_current_span("claude_code.interaction",
                                     attributes={"session.id": "sdk-session"}),
        tracer.start_as_current_span("claude_code.llm_request"),
    ):  # fmt: skip
        pass
    provider.shutdown()


@pytest.mark.parametrize("kind", ["grpc", "http"])
async def test_the_sdk_metric_exporters_deliver_delta_sums_as_the_keys_org(
    running: RunningCollector, org_key: str, kind: str
) -> None:
    await asyncio.to_thread(count_lines, signal_exporter(kind, "metrics", running, org_key))
    (batch,) = running.exporter("recording/metrics").batches
    assert batch.tenant == "acme"
    points = {
        next(kv.value.string_value for kv in p.pb.attributes if kv.key == "type"): p
        for p in batch.records
    }
    assert {k: p.pb.as_int for k, p in points.items()} == {"added": 7, "removed": 2}
    assert all(p.metric.sum.aggregation_temporality == 1 for p in points.values())


@pytest.mark.parametrize("kind", ["grpc", "http"])
async def test_the_sdk_span_exporters_deliver_parent_and_child(
    running: RunningCollector, org_key: str, kind: str
) -> None:
    await asyncio.to_thread(trace_one, signal_exporter(kind, "traces", running, org_key))
    spans = [s for b in running.exporter("recording/traces").batches for s in b.records]
    by_name = {s.pb.name: s.pb for s in spans}
    assert set(by_name) == {"claude_code.interaction", "claude_code.llm_request"}
    parent, child = by_name["claude_code.interaction"], by_name["claude_code.llm_request"]
    assert child.parent_span_id == parent.span_id and child.trace_id == parent.trace_id
    assert all(b.tenant == "acme" for b in running.exporter("recording/traces").batches)
