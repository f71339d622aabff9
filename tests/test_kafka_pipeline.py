"""Edge collectors (otlp -> kafka) and storage collectors (kafka -> clickhouse) together,
against the real broker and real ClickHouse."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from collector.component import ComponentID
from collector.sessions.clickhouse import queries
from tests.conftest import StartCollector

SESSION = "1ddae8b2-80dd-4b49-a5a9-be58ef748593"


def edge_config(
    keys_file: Path, brokers: list[str], topic: str, queue: Path | None
) -> dict[str, Any]:
    kafka: dict[str, Any] = {"brokers": brokers, "topic": topic, "timeout": "2s",
                             "retry_on_failure": {"initial_interval": "100ms",
                                                  "max_interval": "500ms",
                                                  "max_elapsed_time": "1s"}}  # fmt: skip
    if queue is not None:
        kafka["sending_queue"] = {"storage": str(queue), "queue_size": 1000}
    return {
        "extensions": {"apikeys": {"keys_file": str(keys_file), "reload_interval": "50ms"}},
        "receivers": {"otlp": {"endpoint": "127.0.0.1:0", "auth": "apikeys"}},
        "processors": {"cowork": {}, "redaction": {}},
        "exporters": {"kafka": kafka},
        "service": {"extensions": ["apikeys"], "pipelines": {"logs": {
            "receivers": ["otlp"], "processors": ["cowork", "redaction"],
            "exporters": ["kafka"]}}},
    }  # fmt: skip


def storage_config(brokers: list[str], topic: str, store: dict[str, Any]) -> dict[str, Any]:
    return {
        "receivers": {"kafka": {"brokers": brokers, "topics": [topic], "group_id": f"g_{topic}",
                                "initial_offset": "earliest"}},
        "processors": {"batch": {"timeout": "50ms"}},
        "exporters": {"clickhouse": store},
        "service": {"pipelines": {"logs": {"receivers": ["kafka"], "processors": ["batch"],
                                           "exporters": ["clickhouse"]}}},
    }  # fmt: skip


async def post(client: httpx.AsyncClient, url: str, key: str, body: bytes) -> int:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    return (await client.post(url + "/v1/logs", content=body, headers=headers)).status_code


async def session_when_complete(running: Any, tenant: str, within: float = 60) -> dict[str, Any]:
    exporter = running.service.exporters[ComponentID("clickhouse")]
    deadline = time.monotonic() + within
    while True:
        store = exporter.store
        rows = await store.call(queries.list_sessions, store, tenant)
        if rows and rows[0]["api_requests"] == 2 and rows[0]["prompts"] == 1:
            return rows[0]
        assert time.monotonic() < deadline, f"session incomplete: {rows}"
        await asyncio.sleep(0.1)


def exact(session: dict[str, Any]) -> None:
    assert session["session_id"] == SESSION
    assert (session["prompts"], session["api_requests"], session["tool_calls"]) == (1, 2, 1)
    assert (session["input_tokens"], session["cost_usd"]) == (2400, 0.01875)
    assert session["title"] == "list the files here"


async def test_edge_to_kafka_to_storage_gives_exact_session_figures(
    start_collector: StartCollector,
    keys_file: Path,
    org_key: str,
    kafka_bootstrap: str,
    topic: str,
    store_endpoint: dict[str, Any],
    client: httpx.AsyncClient,
    sample_json: bytes,
) -> None:
    """The sample, sent twice to the edge, becomes one exact session in ClickHouse."""
    edge = await start_collector(edge_config(keys_file, [kafka_bootstrap], topic, None))
    storage = await start_collector(storage_config([kafka_bootstrap], topic, store_endpoint))
    assert await post(client, edge.url, org_key, sample_json) == 200
    assert await post(client, edge.url, org_key, sample_json) == 200
    session = await session_when_complete(storage, "acme")
    exact(session)
    assert session["tenant"] == "acme"


async def test_edge_restarted_while_its_queue_holds_records_loses_nothing(
    start_collector: StartCollector,
    keys_file: Path,
    org_key: str,
    kafka_bootstrap: str,
    topic: str,
    store_endpoint: dict[str, Any],
    client: httpx.AsyncClient,
    tmp_path: Path,
    sample_json: bytes,
) -> None:
    """With Kafka unreachable, the edge acknowledges from its disk queue; stopped and
    started again with Kafka reachable, it delivers every queued record."""
    queue = tmp_path / "queue"
    unreachable = "127.0.0.1:9"  # nothing listens there
    first = await start_collector(edge_config(keys_file, [unreachable], topic, queue))
    for _ in range(3):
        assert await post(client, first.url, org_key, sample_json) == 200
    exporter = first.service.exporters[ComponentID("kafka")]
    assert exporter.sender.queued_batches == 3
    await first.service.shutdown()

    await start_collector(edge_config(keys_file, [kafka_bootstrap], topic, queue))
    storage = await start_collector(storage_config([kafka_bootstrap], topic, store_endpoint))
    exact(await session_when_complete(storage, "acme"))


async def test_an_edge_without_storage_answers_503_at_once_while_kafka_is_away(
    start_collector: StartCollector,
    keys_file: Path,
    org_key: str,
    topic: str,
    client: httpx.AsyncClient,
    sample_json: bytes,
) -> None:
    """No queue and no Kafka: 503 with Retry-After, quickly, and again without waiting."""
    edge = await start_collector(edge_config(keys_file, ["127.0.0.1:9"], topic, None))
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {org_key}"}
    resp = await client.post(edge.url + "/v1/logs", content=sample_json, headers=headers)
    assert resp.status_code == 503
    assert int(resp.headers["retry-after"]) >= 1
    started = time.monotonic()
    resp = await client.post(edge.url + "/v1/logs", content=sample_json, headers=headers)
    assert resp.status_code == 503
    assert time.monotonic() - started < 0.5


async def test_secrets_masked_at_the_edge_never_reach_kafka_from_a_protobuf_export(
    start_collector: StartCollector,
    keys_file: Path,
    org_key: str,
    kafka_bootstrap: str,
    topic: str,
    client: httpx.AsyncClient,
    sample_json: bytes,
) -> None:
    """A record the redaction processor changed is re-encoded from its masked values, not
    copied from the protobuf it arrived as; unchanged records keep their bytes."""
    from google.protobuf import json_format
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
        ExportLogsServiceRequest,
    )

    from tests.conftest import read_topic

    secret = "sk-ant-api03-" + "Q" * 40
    request = json_format.Parse(sample_json, ExportLogsServiceRequest())
    prompt_record = request.resource_logs[0].scope_logs[0].log_records[0]
    for kv in prompt_record.attributes:
        if kv.key == "prompt":
            kv.value.string_value = f"use {secret} please"
    edge = await start_collector(edge_config(keys_file, [kafka_bootstrap], topic, None))
    headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {org_key}"}
    resp = await client.post(edge.url + "/v1/logs", content=request.SerializeToString(),
                             headers=headers)  # fmt: skip
    assert resp.status_code == 200
    (message,) = await read_topic(kafka_bootstrap, topic, 1)
    assert secret.encode() not in message.value
    sent = ExportLogsServiceRequest.FromString(message.value)
    records = sent.resource_logs[0].scope_logs[0].log_records
    prompt = {kv.key: kv.value.string_value for kv in records[0].attributes}["prompt"]
    assert prompt == "use [REDACTED:anthropic_api_key] please"
    original = request.resource_logs[0].scope_logs[0].log_records
    assert records[1].SerializeToString() == original[1].SerializeToString()
    assert len(records) == 6
