"""The clickhouse exporter and the store's figures, against real ClickHouse (embedded chDB,
or the server named by CLICKHOUSE_URL)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from collector.component import ComponentID
from collector.consumererror import RetryableError
from collector.pdata import otlp_json
from collector.pdata.records import LogBatch
from collector.sessions.clickhouse import ClickHouseSettings, Store, queries
from collector.sessions.clickhouse.schema import LATEST, current_version, migrate
from exporters.clickhouse import ClickHouseExporter, ClickHouseExporterConfig
from tests.conftest import StartCollector, storage_config
from tests.exporters.conftest import NoHost

SESSION = "1ddae8b2-80dd-4b49-a5a9-be58ef748593"
JSON = {"Content-Type": "application/json"}


async def sessions_of(exp: ClickHouseExporter, tenant: str | None) -> list[dict[str, Any]]:
    store = exp.store
    assert store is not None
    return await store.call(queries.list_sessions, store, tenant)


def expected_sample_session(session: dict[str, Any]) -> None:
    assert session["session_id"] == SESSION
    assert session["prompts"] == 1
    assert session["api_requests"] == 2
    assert session["tool_calls"] == 1
    assert session["tool_failures"] == 0
    assert session["input_tokens"] == 2400
    assert session["output_tokens"] == 84
    assert session["cache_read_tokens"] == 1800
    assert session["cache_creation_tokens"] == 600
    assert session["cost_usd"] == 0.01875
    assert session["models"] == ["claude-opus-4-8"]
    assert session["client"] == "Claude Code"
    assert session["client_version"] == "2.1.197"
    assert session["title"] == "list the files here"


async def test_sample_sent_twice_through_the_daemon_is_one_exact_session(
    start_collector: StartCollector,
    keys_file: Path,
    org_key: str,
    store_endpoint: dict[str, Any],
    client: httpx.AsyncClient,
    sample_json: bytes,
) -> None:
    """A retried export (same records twice) counts once in every figure."""
    running = await start_collector(storage_config(keys_file, store_endpoint))
    headers = {**JSON, "Authorization": f"Bearer {org_key}"}
    for _ in range(2):
        resp = await client.post(running.url + "/v1/logs", content=sample_json, headers=headers)
        assert resp.status_code == 200
    exporter = running.service.exporters[ComponentID("clickhouse")]
    (session,) = await sessions_of(exporter, "acme")
    expected_sample_session(session)
    store = exporter.store
    (prompt,) = await store.call(queries.list_prompts, store, "acme", SESSION)
    assert prompt["text"] == "list the files here"
    assert prompt["response"] == "Done. The directory listing is above."
    assert (prompt["tool_calls"], prompt["api_requests"], prompt["input_tokens"]) == (1, 2, 2400)
    assert prompt["duration_ms"] == 162
    assert prompt["cost_usd"] == 0.01875


async def test_records_regrouped_into_other_batches_still_count_once(
    exporter: ClickHouseExporter, sample_json: bytes
) -> None:
    """The same records in different batches (as the batch processor may regroup them on
    a replay) change no figure."""
    records = otlp_json.decode_request(sample_json)
    await exporter.consume(LogBatch("acme", records))
    again = otlp_json.decode_request(sample_json)
    await exporter.consume(LogBatch("acme", again[:2]))
    await exporter.consume(LogBatch("acme", again[2:5]))
    await exporter.consume(LogBatch("acme", again[4:]))
    (session,) = await sessions_of(exporter, "acme")
    expected_sample_session(session)


async def test_tenants_never_see_each_others_sessions(
    exporter: ClickHouseExporter, sample_json: bytes
) -> None:
    """The same session id under two orgs is two sessions, each visible to its org only."""
    await exporter.consume(LogBatch("acme", otlp_json.decode_request(sample_json)))
    doc = orjson.loads(sample_json)
    for kv in doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["attributes"]:
        if kv["key"] == "prompt":
            kv["value"]["stringValue"] = "globex secret plans"
    await exporter.consume(LogBatch("globex", otlp_json.decode_request(orjson.dumps(doc))))
    (acme,) = await sessions_of(exporter, "acme")
    (globex,) = await sessions_of(exporter, "globex")
    assert (acme["tenant"], acme["title"]) == ("acme", "list the files here")
    assert (globex["tenant"], globex["title"]) == ("globex", "globex secret plans")
    assert await sessions_of(exporter, "initech") == []
    store = exporter.store
    assert await store.call(queries.get_session, store, "initech", SESSION) is None
    assert await store.call(queries.list_prompts, store, "initech", SESSION) == []
    assert len(await sessions_of(exporter, None)) == 2


async def test_otel_logs_has_the_opentelemetry_exporter_columns(
    exporter: ClickHouseExporter,
) -> None:
    """Grafana's ClickHouse data source finds the columns and types it expects."""
    store = exporter.store
    rows = await store.call(
        store.query,
        "SELECT name, type FROM system.columns WHERE table = 'otel_logs' AND database = "
        "currentDatabase()",
    )
    columns = {r["name"]: r["type"] for r in rows}
    assert columns["Timestamp"] == "DateTime64(9)"
    assert columns["TimestampTime"] == "DateTime"
    assert columns["SeverityText"] == "LowCardinality(String)"
    assert columns["SeverityNumber"] == "UInt8"
    assert columns["ServiceName"] == "LowCardinality(String)"
    assert columns["Body"] == "String"
    assert columns["LogAttributes"] == "Map(LowCardinality(String), String)"
    assert columns["ResourceAttributes"] == "Map(LowCardinality(String), String)"
    for ours in ("SessionId", "PromptId", "EventName", "Client", "Tenant"):
        assert ours in columns


async def test_stored_log_row_keeps_attributes_as_strings(
    exporter: ClickHouseExporter, sample_json: bytes
) -> None:
    """LogAttributes hold every attribute as text, typed fields are filled."""
    await exporter.consume(LogBatch("acme", otlp_json.decode_request(sample_json)))
    store = exporter.store
    rows = await store.call(
        store.query,
        "SELECT LogAttributes, ServiceName, Body, EventName, Tenant, InputTokens "
        "FROM otel_logs FINAL WHERE EventName = 'api_request' ORDER BY Timestamp",
    )
    assert len(rows) == 2
    assert rows[0]["LogAttributes"]["input_tokens"] == "1200"
    assert rows[0]["LogAttributes"]["cost_usd"] == "0.009374999999999998"
    assert (rows[0]["ServiceName"], rows[0]["Body"]) == ("claude-code", "claude_code.api_request")
    assert (rows[0]["Tenant"], rows[0]["InputTokens"]) == ("acme", 1200)


async def old_store(store_endpoint: dict[str, Any], version: int, batches: list[LogBatch]) -> None:
    """A store made by schema ``version`` (before record identity by content), holding
    ``batches`` as that version's exporter stored them."""
    from collector.sessions.clickhouse import rows

    settings = ClickHouseSettings.model_validate(store_endpoint)
    old = Store(settings)
    try:
        await old.call(migrate, old, None, version)
        for batch in batches:
            cols = rows.columns(batch.tenant, batch.records)
            # ValuesOutOfRange is the last column, new in version 3
            assert rows.COLUMNS[-1] == "ValuesOutOfRange"
            await old.call(old.insert, "otel_logs", cols[:-1], rows.COLUMNS[:-1])
        assert await old.call(current_version, old) == version
    finally:
        await old.call(old.close)


@pytest.mark.parametrize("version", [1, 2])
async def test_a_store_of_an_earlier_schema_version_is_migrated_and_keeps_its_rows(
    store_endpoint: dict[str, Any], sample_json: bytes, version: int
) -> None:
    """A version-1 (logs only) or version-2 (sessions, identity without content) store is
    upgraded in place; its rows stay, get sessions, and every figure is exact."""
    await old_store(
        store_endpoint, version, [LogBatch("acme", otlp_json.decode_request(sample_json))]
    )
    exp = ClickHouseExporter(
        ComponentID("clickhouse"), ClickHouseExporterConfig.model_validate(store_endpoint)
    )
    await exp.start(NoHost())
    try:
        store = exp.store
        assert await store.call(current_version, store) == LATEST
        count = await store.call(store.query, "SELECT count() AS n FROM otel_logs FINAL")
        assert count[0]["n"] == 6
        (session,) = await sessions_of(exp, "acme")
        expected_sample_session(session)
        # the same records sent again after the migration still count once
        await exp.consume(LogBatch("acme", otlp_json.decode_request(sample_json)))
        (session,) = await sessions_of(exp, "acme")
        expected_sample_session(session)
        count = await store.call(store.query, "SELECT count() AS n FROM otel_logs FINAL")
        assert count[0]["n"] == 6
    finally:
        await exp.shutdown()


async def test_a_stop_and_restart_keeps_every_figure(
    store_endpoint: dict[str, Any], sample_json: bytes
) -> None:
    """Figures survive closing and reopening the store, and a replay after it counts once."""
    config = ClickHouseExporterConfig.model_validate(store_endpoint)
    first = ClickHouseExporter(ComponentID("clickhouse"), config)
    await first.start(NoHost())
    await first.consume(LogBatch("acme", otlp_json.decode_request(sample_json)))
    await first.shutdown()

    second = ClickHouseExporter(ComponentID("clickhouse"), config)
    await second.start(NoHost())
    try:
        (session,) = await sessions_of(second, "acme")
        expected_sample_session(session)
        await second.consume(LogBatch("acme", otlp_json.decode_request(sample_json)))
        (session,) = await sessions_of(second, "acme")
        expected_sample_session(session)
    finally:
        await second.shutdown()


async def test_migrating_twice_does_nothing(store_endpoint: dict[str, Any]) -> None:
    """A store at the latest version applies no migration."""
    store = Store(ClickHouseSettings.model_validate(store_endpoint))
    try:
        assert await store.call(migrate, store) == [1, 2, 3, 4]
        assert await store.call(migrate, store) == []
    finally:
        await store.call(store.close)


async def test_an_unreachable_server_does_not_stop_the_start_and_fails_batches_at_once(
    sample_json: bytes,
) -> None:
    """With the server down and no disk queue, the exporter starts, and a batch fails at
    once with a retryable error (the receiver's 503), not after a long wait."""
    config = ClickHouseExporterConfig.model_validate(
        {"endpoint": "http://127.0.0.1:1", "retry_on_failure": {"enabled": False}}
    )
    exp = ClickHouseExporter(ComponentID("clickhouse"), config)
    await exp.start(NoHost())
    try:
        batch = LogBatch("acme", otlp_json.decode_request(sample_json))
        for _ in range(2):
            with pytest.raises(RetryableError):
                await asyncio.wait_for(exp.consume(batch), timeout=5)
    finally:
        await exp.shutdown()


async def test_an_unreachable_server_with_a_disk_queue_acknowledges_by_queueing(
    tmp_path: Path, sample_json: bytes
) -> None:
    """With ``sending_queue.storage``, batches for a down server are kept on disk."""
    config = ClickHouseExporterConfig.model_validate(
        {"endpoint": "http://127.0.0.1:1", "sending_queue": {"storage": str(tmp_path / "q")}}
    )
    exp = ClickHouseExporter(ComponentID("clickhouse"), config)
    await exp.start(NoHost())
    try:
        await exp.consume(LogBatch("acme", otlp_json.decode_request(sample_json)))
        assert exp.sender.queued_batches == 1
    finally:
        await exp.shutdown()
