"""Real exports of the Claude Code CLI (``tests/data/claude-code-2.1.197-write``), one per
OTLP protocol, sent as the CLI sent them through the same protocol to a storage collector
(real HTTP or gRPC on loopback, real chDB): each is accepted and folded into its session with
exact figures, and sending it again changes nothing. Its metrics and traces, sent beside the
logs through the same protocol, give the session its lines, active time and trace."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
import httpx
import orjson
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from collector.component import ComponentID
from tests.conftest import RunningCollector, StartCollector, storage_config

CAPTURES = Path(__file__).parent / "data" / "claude-code-2.1.197-write"
SERVICES = {
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
}


def session_of(protocol: str) -> str:
    """The capture's session id, read from its bytes."""
    if protocol == "http-json":
        doc = orjson.loads((CAPTURES / protocol / "logs.json").read_bytes())
        records = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
        attrs = {a["key"]: a["value"] for a in records[0]["attributes"]}
        return str(attrs["session.id"]["stringValue"])
    request = ExportLogsServiceRequest.FromString((CAPTURES / protocol / "logs.pb").read_bytes())
    record = request.resource_logs[0].scope_logs[0].log_records[0]
    return next(a.value.string_value for a in record.attributes if a.key == "session.id")


def active_time(protocol: str) -> float:
    """The capture's active time (each run's is its own), read from its bytes."""
    if protocol == "http-json":
        doc = orjson.loads((CAPTURES / protocol / "metrics.json").read_bytes())
    else:
        from google.protobuf import json_format
        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
            ExportMetricsServiceRequest,
        )

        data = (CAPTURES / protocol / "metrics.pb").read_bytes()
        doc = json_format.MessageToDict(ExportMetricsServiceRequest.FromString(data))
    return sum(
        float(point["asDouble"])
        for rm in doc["resourceMetrics"]
        for sm in rm["scopeMetrics"]
        for metric in sm["metrics"]
        if metric["name"] == "claude_code.active_time.total"
        for point in metric["sum"]["dataPoints"]
    )


def trace_of(protocol: str) -> str:
    """The capture's one trace id, in hex, read from its bytes."""
    if protocol == "http-json":
        doc = orjson.loads((CAPTURES / protocol / "traces.json").read_bytes())
        return str(doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"])
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest.FromString((CAPTURES / protocol / "traces.pb").read_bytes())
    return request.resource_spans[0].scope_spans[0].spans[0].trace_id.hex()


async def send(running: RunningCollector, protocol: str, key: str, signal: str = "logs") -> None:
    receiver = running.service.receivers[ComponentID("otlp")]
    if protocol == "grpc":
        body = (CAPTURES / "grpc" / f"{signal}.pb").read_bytes()
        async with grpc.aio.insecure_channel(receiver.grpc_address) as channel:  # type: ignore[attr-defined]
            export = channel.unary_unary(SERVICES[signal])
            await export(body, metadata=(("authorization", f"Bearer {key}"),))
        return
    name, media = (
        (f"{signal}.json", "application/json")
        if protocol == "http-json"
        else (f"{signal}.pb", "application/x-protobuf")
    )
    async with httpx.AsyncClient() as client:
        resp = await client.post(
            f"http://{receiver.address}/v1/{signal}",  # type: ignore[attr-defined]
            content=(CAPTURES / protocol / name).read_bytes(),
            headers={"Content-Type": media, "Authorization": f"Bearer {key}"},
        )
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("protocol", ["grpc", "http-protobuf", "http-json"])
async def test_a_real_claude_code_export_is_folded_into_its_session(
    start_collector: StartCollector,
    keys_file: Path,
    org_key: str,
    store_endpoint: dict[str, Any],
    protocol: str,
) -> None:
    raw = storage_config(keys_file, store_endpoint)
    raw["receivers"]["otlp"]["protocols"] = {"grpc": {"endpoint": "127.0.0.1:0"}}
    running = await start_collector(raw)
    for _ in range(2):  # a client's retry of the same export counts once
        await send(running, protocol, org_key)
    exporter = running.service.exporters[ComponentID("clickhouse")]
    store = exporter.store  # type: ignore[attr-defined]
    session = session_of(protocol)
    rows: list[dict[str, Any]] = []
    for _ in range(200):  # the batch processor hands them on within its timeout
        rows = await store.call(
            store.query,
            "SELECT tenant, client, client_version, prompts, api_requests, tool_calls, "
            "tool_failures, input_tokens, output_tokens, cache_read_tokens, "
            "cache_creation_tokens, cost_usd, models, title FROM sessions "
            "WHERE session_id = {s:String}",
            {"s": session},
        )
        if rows and rows[0]["api_requests"] == 2 and rows[0]["tool_calls"] == 1:
            break
        await asyncio.sleep(0.05)
    (row,) = rows
    assert {k: v for k, v in row.items() if k != "cost_usd"} == {
        "tenant": "acme",
        "client": "Claude Code",
        "client_version": "2.1.197",
        "prompts": 1,
        "api_requests": 2,
        "tool_calls": 1,
        "tool_failures": 0,
        "input_tokens": 2400,
        "output_tokens": 84,
        "cache_read_tokens": 1800,
        "cache_creation_tokens": 600,
        "models": ["claude-opus-4-8"],
        "title": "write hello.txt with two lines",
    }
    assert float(row["cost_usd"]) == 0.01875
    (stored,) = await store.call(
        store.query,
        "SELECT count() AS n FROM otel_logs FINAL WHERE SessionId = {s:String}",
        {"s": session},
    )
    assert stored["n"] == 6


@pytest.mark.parametrize("protocol", ["grpc", "http-protobuf", "http-json"])
async def test_a_real_claude_code_exports_metrics_and_traces_reach_its_session(
    start_collector: StartCollector,
    keys_file: Path,
    org_key: str,
    store_endpoint: dict[str, Any],
    protocol: str,
) -> None:
    """Logs, metrics and traces of one run, each sent twice: the session API shows the
    lines the CLI wrote, its active time and its one trace, exactly once each."""
    raw = storage_config(keys_file, store_endpoint, all_signals=True)
    raw["receivers"]["otlp"]["protocols"] = {"grpc": {"endpoint": "127.0.0.1:0"}}
    running = await start_collector(raw)
    for _ in range(2):
        for signal in ("logs", "metrics", "traces"):
            await send(running, protocol, org_key, signal)
    reader = await running.key(roles=("sessions_read",))
    ext = running.service.extensions[ComponentID("sessions_api")]
    url = f"http://{ext.address}/api/v1/sessions/{session_of(protocol)}"  # type: ignore[attr-defined]
    session: dict[str, Any] = {}
    async with httpx.AsyncClient() as client:
        for _ in range(200):  # the batch processor hands them on within its timeout
            resp = await client.get(url, headers={"Authorization": f"Bearer {reader}"})
            if resp.status_code == 200:
                session = resp.json()
                if session.get("lines_added") and session.get("traces"):
                    break
            await asyncio.sleep(0.05)
    figures = ("lines_added", "lines_removed", "commits", "pull_requests", "active_time_s")
    assert {k: session[k] for k in figures} == {
        "lines_added": 3, "lines_removed": 0, "commits": 0, "pull_requests": 0,
        "active_time_s": round(active_time(protocol), 3),
    }  # fmt: skip
    assert session["active_time_s"] > 0
    (trace,) = session["traces"]
    assert (trace["spans"], trace["root_name"]) == (6, "claude_code.interaction")
    assert trace["trace_id"] == trace_of(protocol)
