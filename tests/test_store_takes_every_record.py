"""The store takes every record: values a column cannot hold, records ClickHouse refuses,
and records without the sender's numbering, fed through every stage they can reach (the
built-in default config over HTTP, edge -> Kafka -> storage, the exporter's disk queue),
against real chDB, a real Kafka broker and a real HTTP client."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

from collector.auth import keystore
from collector.cli import load_config
from collector.cli.components import builtin_registry
from collector.component import ComponentID
from collector.consumererror import PartialRejection
from collector.exporterhelper.disk_queue import DiskQueue
from collector.pdata import otlp_json, otlp_proto
from collector.pdata.records import LogBatch
from collector.service import Service
from collector.sessions.clickhouse import Store, queries
from collector.telemetry import metrics
from exporters.clickhouse import ClickHouseExporter, ClickHouseExporterConfig
from tests.conftest import StartCollector
from tests.conftest import storage_config as storage_config_direct
from tests.exporters.test_clickhouse import NoHost
from tests.test_kafka_pipeline import edge_config, storage_config

SESSION = "1ddae8b2-80dd-4b49-a5a9-be58ef748593"
API_REQUEST = 2  # index of the sample's first api_request record
JSON = {"Content-Type": "application/json"}

Record = dict[str, Any]


def set_attr(record: Record, key: str, value: dict[str, Any] | None) -> None:
    attrs = [a for a in record["attributes"] if a["key"] != key]
    if value is not None:
        attrs.append({"key": key, "value": value})
    record["attributes"] = attrs


def attr(record: Record, key: str) -> Any:
    for a in record["attributes"]:
        if a["key"] == key:
            return next(iter(a["value"].values()))
    return None


def cost_1e300(r: Record) -> None:
    set_attr(r, "cost_usd", {"doubleValue": 1e300})
    set_attr(r, "cost_usd_micros", None)  # so the micros come from cost_usd


def tokens_2_64(r: Record) -> None:
    set_attr(r, "input_tokens", {"stringValue": "18446744073709551616"})


def micros_2_63(r: Record) -> None:
    set_attr(r, "cost_usd_micros", {"stringValue": str(2**63)})


def time_2_63(r: Record) -> None:
    r["timeUnixNano"] = str(2**63)


def event_year_1(r: Record) -> None:
    set_attr(r, "event.timestamp", {"stringValue": "0001-01-01T00:00:00Z"})


def event_year_9999(r: Record) -> None:
    set_attr(r, "event.timestamp", {"stringValue": "9999-12-31T23:59:59Z"})


#: a value the issue's attacker sent, and what the bad record's row holds then:
#: (change to the record, column, value stored, attribute kept as sent or None)
CASES: dict[str, tuple[Callable[[Record], None], str, Any, tuple[str, str] | None]] = {
    "cost_usd 1e300": (cost_1e300, "CostMicros", 0, ("cost_usd", "1e300")),
    "input_tokens 2^64": (
        tokens_2_64, "InputTokens", 0, ("input_tokens", "18446744073709551616")
    ),
    "cost_usd_micros 2^63": (micros_2_63, "CostMicros", 0, ("cost_usd_micros", str(2**63))),
    # the record's time falls back to its observed time
    "timeUnixNano 2^63": (time_2_63, "toUnixTimestamp64Nano(Timestamp)", 1795723698714000000,
                          None),
    # event.timestamp falls back to the record's time
    "event.timestamp 0001": (event_year_1, "toUnixTimestamp64Nano(EventTime)",
                             1795723698714000000, ("event.timestamp", "0001-01-01T00:00:00Z")),
    "event.timestamp 9999": (event_year_9999, "toUnixTimestamp64Nano(EventTime)",
                             1795723698714000000, ("event.timestamp", "9999-12-31T23:59:59Z")),
}  # fmt: skip


def export(sample_json: bytes, session: str, change: Callable[[Record], None] | None) -> bytes:
    """The sample under ``session``, its first api_request changed by ``change``."""
    doc = orjson.loads(sample_json)
    records = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
    for r in records:
        set_attr(r, "session.id", {"stringValue": session})
    if change is not None:
        change(records[API_REQUEST])
    return orjson.dumps(doc)


def exact(session: dict[str, Any]) -> None:
    """The sample's figures."""
    assert (session["prompts"], session["api_requests"], session["tool_calls"]) == (1, 2, 1)
    assert (session["input_tokens"], session["output_tokens"]) == (2400, 84)
    assert session["cost_usd"] == 0.01875
    assert session["title"] == "list the files here"


async def bad_row_holds(store: Store, tenant: str, session: str, case: str) -> None:
    """The session's six records are stored, the bad one as the issue defines."""
    _, column, value, kept = CASES[case]
    rows = await store.call(
        store.query,
        f"SELECT EventName, Sequence, {column} AS v, LogAttributes AS a FROM otel_logs FINAL "
        "WHERE Tenant = {t:String} AND SessionId = {s:String} ORDER BY Sequence",
        {"t": tenant, "s": session},
    )
    assert len(rows) == 6
    bad = rows[API_REQUEST]
    assert bad["EventName"] == "api_request"
    assert bad["v"] == value
    if kept is not None:
        assert bad["a"][kept[0]] == kept[1]


def emptied(column: str) -> float:
    total = 0.0
    for metric in metrics.REGISTRY.collect():
        for sample in metric.samples:
            if (
                sample.name == "session_collector_clickhouse_values_out_of_range_total"
                and sample.labels.get("column") == column
            ):
                total += sample.value
    return total


# -- the built-in default config, in this process ------------------------------------------


class Default:
    def __init__(self, service: Service, key: str, other_key: str) -> None:
        self.service = service
        self.key = key
        self.other_key = other_key
        self.url = f"http://{service.receivers[ComponentID('otlp')].address}"  # type: ignore[attr-defined]
        health = service.extensions[ComponentID("health_check")]
        self.health_url = f"http://{health.address}"  # type: ignore[attr-defined]
        exporter = service.exporters[ComponentID("clickhouse")]
        assert isinstance(exporter, ClickHouseExporter)
        self.exporter = exporter

    @property
    def store(self) -> Store:
        assert self.exporter.store is not None
        return self.exporter.store

    async def drained(self, within: float = 60) -> None:
        """Wait until the write-ahead queue has handed everything answered to ClickHouse."""
        deadline = time.monotonic() + within
        while self.exporter.sender.queued_batches:
            assert time.monotonic() < deadline, "the write-ahead queue did not drain"
            await asyncio.sleep(0.05)


@pytest.fixture
async def default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Default]:
    """``session-collector run`` with no --config: otlp -> cowork -> redaction -> batch ->
    clickhouse (chDB, behind its write-ahead disk queue) and the health check, in a fresh
    data folder, on loopback ports."""
    data = tmp_path / "data"
    monkeypatch.setenv("SESSION_COLLECTOR_DATA_DIR", str(data))
    _, key = keystore.create(data / "keys.json", org="acme", name="t", roles=["mcp_watch_scan"])
    _, other = keystore.create(data / "keys.json", org="globex", name="t",
                               roles=["mcp_watch_scan"])  # fmt: skip
    config = load_config(
        [],
        [
            "receivers.otlp.endpoint=127.0.0.1:0",
            "receivers.otlp.protocols.grpc.endpoint=127.0.0.1:0",
            "extensions.sessions_api.endpoint=127.0.0.1:0",
            "extensions.health_check.endpoint=127.0.0.1:0",
            "service.telemetry.metrics.address=127.0.0.1:0",
        ],
    )
    service = Service(config, builtin_registry())
    await service.start()
    try:
        yield Default(service, key, other)
    finally:
        await service.shutdown()


async def post(
    client: httpx.AsyncClient, url: str, key: str, body: bytes, protobuf: bool = False
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    if protobuf:
        body = otlp_proto.encode_request(LogBatch("x", otlp_json.decode_request(body)))
        headers["Content-Type"] = "application/x-protobuf"
    else:
        headers.update(JSON)
    # the default exporter retries a failing insert for up to 15 s before answering 503
    return await client.post(url + "/v1/logs", content=body, headers=headers, timeout=40)


@pytest.mark.parametrize("case", sorted(CASES))
async def test_default_config_stores_a_value_that_does_not_fit_and_serves_the_other_tenant(
    default: Default, client: httpx.AsyncClient, sample_json: bytes, case: str
) -> None:
    """A record with an out-of-range value is stored as defined and counted, sent beside
    another tenant's records: both are answered 200, the other tenant's session is exact,
    the health check stays 200, and later requests are still stored."""
    column = CASES[case][1].removeprefix("toUnixTimestamp64Nano(").removesuffix(")")
    before = emptied(column)
    bad, good = await asyncio.gather(
        post(client, default.url, default.key, export(sample_json, "poisoned", CASES[case][0])),
        post(client, default.url, default.other_key, export(sample_json, SESSION, None)),
    )
    assert (bad.status_code, good.status_code) == (200, 200)
    assert orjson.loads(bad.content) == {}  # no partial_success: nothing was refused
    await default.drained()
    await bad_row_holds(default.store, "acme", "poisoned", case)
    await default.exporter.poll_values_out_of_range()
    assert emptied(column) == before + 1
    (other,) = await default.store.call(queries.list_sessions, default.store, "globex")
    exact(other)
    assert (await client.get(default.health_url + "/")).status_code == 200
    later = await post(client, default.url, default.key, export(sample_json, "later", None))
    assert later.status_code == 200
    await default.drained()
    stored = await default.store.call(queries.get_session, default.store, "acme", "later")
    assert stored is not None
    exact(stored)


# -- records without the sender's numbering: identity by content ---------------------------


def unnumbered(sample_json: bytes, count: int) -> bytes:
    """``count`` distinct records of one service and one timestamp, without ``session.id``
    or ``event.sequence``: they differ only in one attribute."""
    doc = orjson.loads(sample_json)
    template = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    records = []
    for i in range(count):
        r = copy.deepcopy(template)
        set_attr(r, "session.id", None)
        set_attr(r, "event.sequence", None)
        set_attr(r, "prompt", {"stringValue": f"prompt number {i}"})
        records.append(r)
    doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"] = records
    return orjson.dumps(doc)


async def count_rows(store: Store, tenant: str) -> int:
    rows = await store.call(
        store.query, "SELECT count() AS n FROM otel_logs FINAL WHERE Tenant = {t:String}",
        {"t": tenant},
    )  # fmt: skip
    return int(rows[0]["n"])


@pytest.mark.parametrize("protobuf", [False, True], ids=["json", "protobuf"])
async def test_distinct_records_sharing_a_timestamp_without_session_are_all_stored_once(
    default: Default, client: httpx.AsyncClient, sample_json: bytes, protobuf: bool
) -> None:
    """Eight distinct records of one service and timestamp, no session identity: eight
    rows; the same export sent again: still eight."""
    body = unnumbered(sample_json, 8)
    for _ in range(2):
        assert (await post(client, default.url, default.key, body, protobuf)).status_code == 200
    await default.drained()
    assert await count_rows(default.store, "acme") == 8


async def test_two_same_millisecond_api_requests_without_sequence_both_count(
    default: Default, client: httpx.AsyncClient, sample_json: bytes
) -> None:
    """A session whose two api_request records share a time and have no event.sequence
    counts both requests, their tokens and cost; a retry of the export changes nothing."""
    doc = orjson.loads(sample_json)
    records = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
    for r in records:
        set_attr(r, "event.sequence", None)
        r["timeUnixNano"] = records[0]["timeUnixNano"]
        set_attr(r, "event.timestamp", {"stringValue": attr(records[0], "event.timestamp")})
    body = orjson.dumps(doc)
    for _ in range(2):
        assert (await post(client, default.url, default.key, body)).status_code == 200
    await default.drained()
    session = await default.store.call(queries.get_session, default.store, "acme", SESSION)
    assert session is not None
    exact(session)
    assert await count_rows(default.store, "acme") == 6


# -- records ClickHouse refuses: isolated, the rest stored ----------------------------------

POISON = "poison"  # a test-only CHECK constraint makes ClickHouse refuse these records


async def refuse_poison(store: Store) -> None:
    """A real refusal by ClickHouse (VIOLATED_CONSTRAINT) for records carrying ``poison``."""
    await store.call(
        store.command,
        f"ALTER TABLE otel_logs ADD CONSTRAINT no_poison CHECK NOT mapContains(LogAttributes, "
        f"'{POISON}')",
    )


def poisoned(sample_json: bytes, session: str) -> bytes:
    """The sample under ``session`` with its first api_request poisoned."""
    return _with(sample_json, session, API_REQUEST)


def _with(sample_json: bytes, session: str, index: int) -> bytes:
    doc = orjson.loads(export(sample_json, session, None))
    record = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][index]
    set_attr(record, POISON, {"stringValue": "yes"})
    return orjson.dumps(doc)


@pytest.fixture
async def direct(
    start_collector: StartCollector,
    keys_file: Path,
    make_key: Callable[..., str],
    store_endpoint: dict[str, Any],
) -> tuple[Any, str, str]:
    """otlp -> cowork -> batch -> clickhouse with no queue: a request is answered once its
    records are inserted, so what ClickHouse says reaches the client."""
    acme, globex = make_key("acme"), make_key("globex")  # before start: known at once
    config = storage_config_direct(keys_file, store_endpoint)
    config["extensions"]["health_check"] = {"endpoint": "127.0.0.1:0"}
    config["service"]["extensions"].append("health_check")
    return await start_collector(config), acme, globex


def health_url(running: Any) -> str:
    return f"http://{running.service.extensions[ComponentID('health_check')].address}/"


async def test_a_record_clickhouse_refuses_is_named_in_partial_success_and_the_rest_stored(
    direct: tuple[Any, str, str], client: httpx.AsyncClient, sample_json: bytes
) -> None:
    """ClickHouse refuses one record: the client gets 200 with partial_success naming it,
    the request's other five records and another tenant's request are stored, and the
    health check stays 200."""
    running, acme, globex = direct
    exporter = storage_exporter(running)
    assert exporter.store is not None
    await refuse_poison(exporter.store)
    bad, good = await asyncio.gather(
        post(client, running.url, acme, poisoned(sample_json, "poisoned"), True),
        post(client, running.url, globex, export(sample_json, SESSION, None)),
    )
    assert (bad.status_code, good.status_code) == (200, 200)
    answer = ExportLogsServiceResponse.FromString(bad.content)
    assert answer.partial_success.rejected_log_records == 1
    message = answer.partial_success.error_message
    assert "api_request of session poisoned at sequence 2" in message
    assert "VIOLATED_CONSTRAINT" in message or "no_poison" in message
    assert await count_rows(exporter.store, "acme") == 5
    (other,) = await exporter.store.call(queries.list_sessions, exporter.store, "globex")
    exact(other)
    assert (await client.get(health_url(running))).status_code == 200


async def test_a_server_condition_is_retryable_not_the_datas_fault(
    direct: tuple[Any, str, str], client: httpx.AsyncClient, sample_json: bytes
) -> None:
    """With otel_logs away (UNKNOWN_TABLE), the client is asked to retry (503), nothing is
    refused for good; once the table is back the same export is stored."""
    running, acme, _ = direct
    store = storage_exporter(running).store
    assert store is not None
    await store.call(store.command, "RENAME TABLE otel_logs TO otel_logs_away")
    body = export(sample_json, SESSION, None)
    resp = await post(client, running.url, acme, body)
    assert resp.status_code == 503
    assert "Retry-After" in resp.headers
    await store.call(store.command, "RENAME TABLE otel_logs_away TO otel_logs")
    deadline = time.monotonic() + 30
    while (resp := await post(client, running.url, acme, body)).status_code != 200:
        assert time.monotonic() < deadline, resp.text
        await asyncio.sleep(0.2)
    (session,) = await store.call(queries.list_sessions, store, "acme")
    exact(session)


async def test_default_config_answers_while_clickhouse_is_away_and_stores_once_back(
    default: Default, client: httpx.AsyncClient, sample_json: bytes
) -> None:
    """Behind the write-ahead queue, requests are answered 200 while otel_logs is away
    (their records are on disk); once it is back they are stored, every figure exact."""
    store = default.store
    await store.call(store.command, "RENAME TABLE otel_logs TO otel_logs_away")
    for session in ("one", "two"):
        body = export(sample_json, session, None)
        assert (await post(client, default.url, default.key, body)).status_code == 200
    await asyncio.sleep(0.5)
    assert default.exporter.sender.queued_batches >= 1
    await store.call(store.command, "RENAME TABLE otel_logs_away TO otel_logs")
    await default.drained()
    for session in ("one", "two"):
        stored = await store.call(queries.get_session, store, "acme", session)
        assert stored is not None
        exact(stored)


async def test_default_config_keeps_a_record_clickhouse_refuses_in_the_dead_letter_table(
    default: Default, client: httpx.AsyncClient, sample_json: bytes
) -> None:
    """Behind the write-ahead queue the client already has its 200: a record ClickHouse
    refuses is kept, alone, in the queue's dead-letter table; the rest is stored, and
    another tenant's request too."""
    await refuse_poison(default.store)
    bad, good = await asyncio.gather(
        post(client, default.url, default.key, poisoned(sample_json, "poisoned"), True),
        post(client, default.url, default.other_key, export(sample_json, SESSION, None)),
    )
    assert (bad.status_code, good.status_code) == (200, 200)
    await default.drained()
    assert await count_rows(default.store, "acme") == 5
    (other,) = await default.store.call(queries.list_sessions, default.store, "globex")
    exact(other)
    queue = default.exporter.sender.queue
    assert queue is not None
    ((tenant, count, payload, error),) = queue.dead_letters()
    assert (tenant, count) == ("acme", 1)
    assert "api_request of session poisoned at sequence 2" in error
    (record,) = otlp_proto.decode_request(payload)
    assert record.attribute(POISON) == "yes"
    assert (await client.get(default.health_url + "/")).status_code == 200


# -- edge -> Kafka -> storage --------------------------------------------------------------


async def wait_until(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"not within {within}s: {what}"
        await asyncio.sleep(0.1)


def storage_exporter(running: Any) -> ClickHouseExporter:
    exporter = running.service.exporters[ComponentID("clickhouse")]
    assert isinstance(exporter, ClickHouseExporter)
    return exporter


async def session_of(exporter: ClickHouseExporter, tenant: str, sid: str) -> dict[str, Any]:
    store = exporter.store
    assert store is not None
    found: dict[str, Any] = {}

    async def complete() -> bool:
        row = await store.call(queries.get_session, store, tenant, sid)
        if row and row["api_requests"] == 2 and row["prompts"] == 1 and row["tool_calls"] == 1:
            found.update(row)
            return True
        return False

    await wait_until(complete, 60, f"session {sid} of {tenant} complete")
    return found


async def test_values_that_do_not_fit_pass_edge_kafka_and_storage(
    start_collector: StartCollector,
    keys_file: Path,
    make_key: Callable[..., str],
    kafka_bootstrap: str,
    topic: str,
    store_endpoint: dict[str, Any],
    client: httpx.AsyncClient,
    sample_json: bytes,
) -> None:
    """Every out-of-range value of the issue, each in its own session, sent to an edge beside
    another tenant's session: storage keeps all of them as defined, the other tenant's
    figures are exact, and a session sent afterwards is stored too (nothing stalls)."""
    acme, globex = make_key("acme"), make_key("globex")
    edge = await start_collector(edge_config(keys_file, [kafka_bootstrap], topic, None))
    storage = await start_collector(storage_config([kafka_bootstrap], topic, store_endpoint))
    for i, case in enumerate(sorted(CASES)):
        body = export(sample_json, f"poisoned-{i}", CASES[case][0])
        assert (await post(client, edge.url, acme, body)).status_code == 200
    assert (
        await post(client, edge.url, globex, export(sample_json, SESSION, None))
    ).status_code == 200
    assert (
        await post(client, edge.url, acme, export(sample_json, "after", None))
    ).status_code == 200
    exporter = storage_exporter(storage)
    exact(await session_of(exporter, "acme", "after"))
    exact(await session_of(exporter, "globex", SESSION))
    assert exporter.store is not None
    for i, case in enumerate(sorted(CASES)):
        await bad_row_holds(exporter.store, "acme", f"poisoned-{i}", case)


async def test_a_record_clickhouse_refuses_goes_alone_to_the_dead_letter_topic(
    start_collector: StartCollector,
    keys_file: Path,
    make_key: Callable[..., str],
    kafka_bootstrap: str,
    topic: str,
    store_endpoint: dict[str, Any],
    client: httpx.AsyncClient,
    sample_json: bytes,
) -> None:
    """Behind Kafka, a record ClickHouse refuses is written alone to the dead-letter topic
    with its tenant and the reason; the rest of its message and every later message of the
    partition are stored, another tenant's too."""
    acme, globex = make_key("acme"), make_key("globex")
    dlq = f"{topic}_dlq"
    storage_cfg = storage_config([kafka_bootstrap], topic, store_endpoint)
    storage_cfg["receivers"]["kafka"]["dead_letter_topic"] = dlq
    edge = await start_collector(edge_config(keys_file, [kafka_bootstrap], topic, None))
    storage = await start_collector(storage_cfg)
    exporter = storage_exporter(storage)
    assert exporter.store is not None
    await refuse_poison(exporter.store)
    assert (
        await post(client, edge.url, acme, poisoned(sample_json, "poisoned"))
    ).status_code == 200
    assert (
        await post(client, edge.url, globex, export(sample_json, SESSION, None))
    ).status_code == 200
    assert (
        await post(client, edge.url, acme, export(sample_json, "after", None))
    ).status_code == 200
    exact(await session_of(exporter, "acme", "after"))
    exact(await session_of(exporter, "globex", SESSION))

    consumer = AIOKafkaConsumer(dlq, bootstrap_servers=kafka_bootstrap,
                                auto_offset_reset="earliest")  # fmt: skip
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), 30)
    finally:
        await consumer.stop()
    headers = dict(message.headers)
    assert headers["tenant"] == b"acme"
    assert b"api_request of session poisoned at sequence 2" in headers["error"]
    (record,) = otlp_proto.decode_request(message.value or b"")
    assert record.attribute(POISON) == "yes"
    assert record.attribute("session.id") == "poisoned"
    rows = await exporter.store.call(
        exporter.store.query,
        "SELECT count() AS n FROM otel_logs FINAL WHERE SessionId = 'poisoned'",
    )
    assert rows[0]["n"] == 5


# -- the exporter's disk queue -------------------------------------------------------------


async def test_the_disk_queue_stores_values_that_do_not_fit_and_dead_letters_refused_records(
    store_endpoint: dict[str, Any], tmp_path: Path, sample_json: bytes
) -> None:
    """Batches queued while ClickHouse is away, holding every out-of-range value and one
    record ClickHouse refuses, drain once it is back: the values are stored as defined, the
    refused record alone is kept in the queue's dead-letter table, the queue empties, and
    another tenant's batch queued behind them is stored."""
    config = ClickHouseExporterConfig.model_validate(
        {**store_endpoint, "sending_queue": {"storage": str(tmp_path / "queue")},
         "retry_on_failure": {"initial_interval": "50ms", "max_interval": "200ms"}}
    )  # fmt: skip
    exporter = ClickHouseExporter(ComponentID("clickhouse"), config)

    await exporter.start(NoHost())
    try:
        store = exporter.store
        assert store is not None
        await refuse_poison(store)
        await store.call(store.command, "RENAME TABLE otel_logs TO otel_logs_away")
        for i, case in enumerate(sorted(CASES)):
            body = export(sample_json, f"poisoned-{i}", CASES[case][0])
            await exporter.consume(LogBatch("acme", otlp_json.decode_request(body)))
        refused = otlp_json.decode_request(poisoned(sample_json, "refused"))
        await exporter.consume(LogBatch("acme", refused))
        good = otlp_json.decode_request(export(sample_json, SESSION, None))
        await exporter.consume(LogBatch("globex", good))
        assert exporter.sender.queued_batches == len(CASES) + 2
        await store.call(store.command, "RENAME TABLE otel_logs_away TO otel_logs")

        async def drained() -> bool:
            return exporter.sender.queued_batches == 0

        await wait_until(drained, 60, "the queue drained")
        for i, case in enumerate(sorted(CASES)):
            await bad_row_holds(store, "acme", f"poisoned-{i}", case)
        (other,) = await store.call(queries.list_sessions, store, "globex")
        exact(other)
        rows = await store.call(
            store.query, "SELECT count() AS n FROM otel_logs FINAL WHERE SessionId = 'refused'"
        )
        assert rows[0]["n"] == 5
        queue_file = next((tmp_path / "queue").glob("*.sqlite"))
    finally:
        await exporter.shutdown()
    queue = DiskQueue(queue_file, 10)
    try:
        ((tenant, count, payload, error),) = queue.dead_letters()
    finally:
        queue.close()
    assert (tenant, count) == ("acme", 1)
    assert "api_request of session refused at sequence 2" in error
    (record,) = otlp_proto.decode_request(payload)
    assert record.attribute(POISON) == "yes"


async def test_the_exporter_names_and_carries_the_records_clickhouse_refuses(
    store_endpoint: dict[str, Any], sample_json: bytes
) -> None:
    """Two refused records among a batch of 600: the PartialRejection carries exactly those
    two record objects, and the 598 others are stored."""
    exporter = ClickHouseExporter(
        ComponentID("clickhouse"), ClickHouseExporterConfig.model_validate(store_endpoint)
    )

    await exporter.start(NoHost())
    try:
        assert exporter.store is not None
        await refuse_poison(exporter.store)
        records = []
        for i in range(100):
            body = _with(sample_json, f"s{i}", 1) if i in (17, 83) else export(
                sample_json, f"s{i}", None)  # fmt: skip
            records.extend(otlp_json.decode_request(body))
        with pytest.raises(PartialRejection) as caught:
            await exporter.consume(LogBatch("acme", records))
        assert caught.value.rejected == 2
        assert caught.value.records is not None
        assert [id(r) for r in caught.value.records] == [id(records[17 * 6 + 1]),
                                                          id(records[83 * 6 + 1])]  # fmt: skip
        assert await count_rows(exporter.store, "acme") == 598
    finally:
        await exporter.shutdown()


async def test_default_config_stores_a_session_sent_over_grpc(
    default: Default, sample_json: bytes
) -> None:
    """The built-in default serves OTLP/gRPC too (Claude Code's quick start sets
    OTEL_EXPORTER_OTLP_PROTOCOL=grpc): the sample sent with the org key through the
    receiver's gRPC endpoint is stored as its session, with its cost."""
    import grpc
    from google.protobuf import json_format
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
        ExportLogsServiceRequest,
    )
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2_grpc import LogsServiceStub

    receiver = default.service.receivers[ComponentID("otlp")]
    request = json_format.Parse(sample_json, ExportLogsServiceRequest())
    async with grpc.aio.insecure_channel(receiver.grpc_address) as channel:  # type: ignore[attr-defined]
        await LogsServiceStub(channel).Export(
            request, metadata=(("authorization", f"Bearer {default.key}"),)
        )
    await default.drained()
    store = default.store
    rows = await store.call(
        store.query, "SELECT session_id, tenant, cost_usd, api_requests FROM sessions"
    )
    found = [(r["session_id"], r["tenant"], float(r["cost_usd"]), r["api_requests"]) for r in rows]
    assert found == [("1ddae8b2-80dd-4b49-a5a9-be58ef748593", "acme", 0.01875, 2)]
