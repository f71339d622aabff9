"""The kafka exporter against a real broker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from collector.component import ComponentID
from collector.consumererror import PartialRejection
from collector.pdata import otlp_json
from collector.pdata.records import LogBatch, LogRecord
from exporters.kafka import KafkaExporter, KafkaExporterConfig
from tests.conftest import StartCollector, base_config, create_topic, read_topic

SESSION = "1ddae8b2-80dd-4b49-a5a9-be58ef748593"


class NoHost:
    def get_extension(self, component_id: ComponentID) -> object | None:
        return None

    def component_config(self, kind: object, component_id: ComponentID) -> object | None:
        return None


@pytest.fixture
async def make_exporter(kafka_bootstrap: str) -> AsyncIterator[Any]:
    started: list[KafkaExporter] = []

    async def make(**config: Any) -> KafkaExporter:
        cfg = KafkaExporterConfig.model_validate({"brokers": [kafka_bootstrap], **config})
        exp = KafkaExporter(ComponentID("kafka"), cfg)
        await exp.start(NoHost())
        started.append(exp)
        return exp

    yield make
    for exp in started:
        await exp.shutdown()


def n_of(record: Any) -> int:
    return next(kv.value.int_value for kv in record.attributes if kv.key == "n")


def records_of(message: Any) -> list[Any]:
    request = ExportLogsServiceRequest.FromString(message.value)
    return [lr for rl in request.resource_logs for sl in rl.scope_logs for lr in sl.log_records]


async def test_messages_decode_into_exactly_the_records_sent(
    make_exporter: Any, kafka_bootstrap: str, topic: str, sample_json: bytes
) -> None:
    """One otlp_proto message keyed by session.id, with the tenant header, holds the six
    records as opentelemetry-proto reads them."""
    exp = await make_exporter(topic=topic)
    await exp.consume(LogBatch("acme", otlp_json.decode_request(sample_json)))
    (message,) = await read_topic(kafka_bootstrap, topic, 1)
    assert message.key == SESSION.encode()
    assert dict(message.headers)["tenant"] == b"acme"
    request = ExportLogsServiceRequest.FromString(message.value)
    assert request.resource_logs[0].resource.attributes[3].value.string_value == "claude-code"
    records = records_of(message)
    assert [r.body.string_value for r in records] == [
        "claude_code.user_prompt", "claude_code.tool_decision", "claude_code.api_request",
        "claude_code.tool_result", "claude_code.api_request", "claude_code.assistant_response",
    ]  # fmt: skip
    api = {kv.key: kv.value for kv in records[2].attributes}
    assert api["input_tokens"].int_value == 1200
    assert api["cost_usd"].double_value == 0.009374999999999998


async def test_records_of_different_sessions_go_to_messages_keyed_by_their_session(
    make_exporter: Any, kafka_bootstrap: str, topic: str
) -> None:
    """A batch mixing sessions becomes one message per session; sessionless records get
    no key."""
    exp = await make_exporter(topic=topic)
    records = [LogRecord(attributes={"session.id": s, "n": i})
               for i, s in enumerate(["a", "b", "a", "c"])]  # fmt: skip
    records.append(LogRecord(attributes={"n": 9}))
    await exp.consume(LogBatch("acme", records))
    messages = await read_topic(kafka_bootstrap, topic, 4)
    by_key = {m.key: [n_of(r) for r in records_of(m)] for m in messages}
    assert by_key == {b"a": [0, 2], b"b": [1], b"c": [3], None: [9]}


async def test_one_session_stays_in_one_partition(
    make_exporter: Any, kafka_bootstrap: str, topic: str
) -> None:
    """With several partitions, every message of a session lands in the same one."""
    await create_topic(kafka_bootstrap, topic, 4)
    exp = await make_exporter(topic=topic)
    for i in range(8):
        await exp.consume(LogBatch("acme", [
            LogRecord(attributes={"session.id": f"s{i % 3}", "n": i})]))  # fmt: skip
    messages = await read_topic(kafka_bootstrap, topic, 8)
    partitions: dict[bytes, set[int]] = {}
    for m in messages:
        partitions.setdefault(m.key, set()).add(m.partition)
    assert all(len(p) == 1 for p in partitions.values())


async def test_json_encoding_writes_otlp_json(
    make_exporter: Any, kafka_bootstrap: str, topic: str, sample_json: bytes
) -> None:
    """``encoding: otlp_json`` messages are OTLP/JSON export requests."""
    exp = await make_exporter(topic=topic, encoding="otlp_json", compression="zstd")
    await exp.consume(LogBatch("acme", otlp_json.decode_request(sample_json)))
    (message,) = await read_topic(kafka_bootstrap, topic, 1)
    assert len(otlp_json.decode_request(message.value)) == 6
    assert "resourceLogs" in orjson.loads(message.value)


async def test_an_oversized_batch_is_split_and_fully_delivered(
    make_exporter: Any, kafka_bootstrap: str, topic: str
) -> None:
    """A batch larger than max_message_bytes becomes several messages holding every record,
    in order."""
    exp = await make_exporter(topic=topic, max_message_bytes=8192, compression="gzip")
    records = [LogRecord(attributes={"session.id": "s", "n": i, "pad": "x" * 500})
               for i in range(100)]  # fmt: skip
    await exp.consume(LogBatch("acme", records))
    assert exp.sent_messages > 5
    messages = await read_topic(kafka_bootstrap, topic, exp.sent_messages)
    assert all(len(m.value) <= 8192 for m in messages)
    got = [n_of(r) for m in sorted(messages, key=lambda m: m.offset) for r in records_of(m)]
    assert got == list(range(100))


async def test_a_record_larger_than_a_message_is_rejected_and_the_rest_delivered(
    make_exporter: Any, kafka_bootstrap: str, topic: str
) -> None:
    """A single record over max_message_bytes is refused; the others are sent."""
    exp = await make_exporter(topic=topic, max_message_bytes=8192)
    records = [
        LogRecord(attributes={"session.id": "s", "n": 1}),
        LogRecord(attributes={"session.id": "s", "n": 2, "huge": "x" * 20000}),
        LogRecord(attributes={"session.id": "t", "n": 3}),
    ]
    with pytest.raises(PartialRejection) as info:
        await exp.consume(LogBatch("acme", records))
    assert info.value.rejected == 1
    assert "max_message_bytes" in str(info.value)
    messages = await read_topic(kafka_bootstrap, topic, 2)
    sent = sorted(n_of(r) for m in messages for r in records_of(m))
    assert sent == [1, 3]


async def test_oversized_records_come_back_to_the_client_as_partial_success(
    start_collector: StartCollector,
    keys_file: Path,
    org_key: str,
    kafka_bootstrap: str,
    topic: str,
    client: httpx.AsyncClient,
) -> None:
    """Through the OTLP receiver, the rejection is a 200 with partial_success."""
    cfg = base_config(keys_file)
    cfg["exporters"] = {"kafka": {"brokers": [kafka_bootstrap], "topic": topic,
                                  "max_message_bytes": 8192}}  # fmt: skip
    cfg["service"]["pipelines"]["logs"]["exporters"] = ["kafka"]
    running = await start_collector(cfg)
    big = {"key": "huge", "value": {"stringValue": "x" * 20000}}
    small = {"key": "session.id", "value": {"stringValue": "s"}}
    body = {"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"attributes": [small]}, {"attributes": [small, big]}]}]}]}  # fmt: skip
    resp = await client.post(
        running.url + "/v1/logs", content=orjson.dumps(body),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {org_key}"},
    )  # fmt: skip
    assert resp.status_code == 200
    assert resp.json()["partialSuccess"]["rejectedLogRecords"] == "1"
