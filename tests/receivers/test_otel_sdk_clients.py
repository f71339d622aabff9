"""The OpenTelemetry Python SDK's own OTLP log exporters, gRPC and HTTP (gzip), against a
running collector on loopback: what they send is accepted, attributed to the key's org and
reaches the pipeline whole."""

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
    raw = base_config(keys_file)
    raw["receivers"]["otlp"].pop("endpoint")
    raw["receivers"]["otlp"]["protocols"] = {
        "grpc": {"endpoint": "127.0.0.1:0"},
        "http": {"endpoint": "127.0.0.1:0"},
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
