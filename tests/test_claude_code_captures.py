"""Real exports of the Claude Code CLI (``tests/data/claude-code-2.1.197-write``), one per
OTLP protocol, sent as the CLI sent them through the same protocol to a storage collector
(real HTTP or gRPC on loopback, real chDB): each is accepted and folded into its session with
exact figures, and sending it again changes nothing."""

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
EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


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


async def send(running: RunningCollector, protocol: str, key: str) -> None:
    receiver = running.service.receivers[ComponentID("otlp")]
    if protocol == "grpc":
        body = (CAPTURES / "grpc" / "logs.pb").read_bytes()
        async with grpc.aio.insecure_channel(receiver.grpc_address) as channel:  # type: ignore[attr-defined]
            export = channel.unary_unary(EXPORT)
            await export(body, metadata=(("authorization", f"Bearer {key}"),))
        return
    name, media = (
        ("logs.json", "application/json")
        if protocol == "http-json"
        else ("logs.pb", "application/x-protobuf")
    )
    async with httpx.AsyncClient() as client:
        resp = await client.post(
            f"http://{receiver.address}/v1/logs",  # type: ignore[attr-defined]
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
