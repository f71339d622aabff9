"""One nesting limit for both encodings, enforced at the receiver and below what every later
stage decodes: a record nested to the limit goes through the edge, Kafka and storage into
ClickHouse, and through the exporter's disk queue; one level more is a 400 in either
encoding. Real HTTP, a real broker, real chDB."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from collector.component import ComponentID
from collector.pdata import otlp_json, otlp_proto
from collector.pdata.records import LogBatch
from exporters.clickhouse import ClickHouseExporter, ClickHouseExporterConfig
from tests.conftest import StartCollector
from tests.exporters.test_clickhouse import NoHost
from tests.test_hostile_input import nested_json, nested_proto
from tests.test_kafka_pipeline import edge_config, storage_config

LIMITS = {"array": 48, "kvlist": 32}


def bodies(kind: str, levels: int) -> dict[str, tuple[str, bytes]]:
    return {
        "json": ("application/json", nested_json(levels, kind)),
        "protobuf": ("application/x-protobuf", nested_proto(levels, kind)),
    }


async def post(client: httpx.AsyncClient, url: str, key: str, media: str, body: bytes) -> int:
    headers = {"Content-Type": media, "Authorization": f"Bearer {key}"}
    return (await client.post(url + "/v1/logs", content=body, headers=headers)).status_code


@pytest.mark.parametrize("kind", sorted(LIMITS))
async def test_a_record_at_the_nesting_limit_reaches_clickhouse_through_kafka_and_one_more_is_400(
    start_collector: StartCollector,
    keys_file: Path,
    org_key: str,
    kafka_bootstrap: str,
    topic: str,
    store_endpoint: dict[str, Any],
    client: httpx.AsyncClient,
    kind: str,
) -> None:
    """Edge -> Kafka -> storage: bodies nested to the limit, sent as JSON and as protobuf,
    are stored (nothing dead-lettered); one level deeper is refused at the edge with 400."""
    edge = await start_collector(edge_config(keys_file, [kafka_bootstrap], topic, None))
    storage = await start_collector(storage_config([kafka_bootstrap], topic, store_endpoint))
    for media, body in bodies(kind, LIMITS[kind]).values():
        assert await post(client, edge.url, org_key, media, body) == 200
    for media, body in bodies(kind, LIMITS[kind] + 1).values():
        assert await post(client, edge.url, org_key, media, body) == 400
    exporter = storage.service.exporters[ComponentID("clickhouse")]
    assert isinstance(exporter, ClickHouseExporter)
    store = exporter.store
    assert store is not None
    deadline = time.monotonic() + 60
    while True:
        rows = await store.call(store.query, "SELECT count() AS n FROM otel_logs FINAL")
        if rows[0]["n"] == 1 or time.monotonic() > deadline:  # the two are the same record
            break
        await asyncio.sleep(0.2)
    assert rows[0]["n"] == 1
    receiver = storage.service.receivers[ComponentID("kafka")]
    assert receiver.dead_lettered == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", sorted(LIMITS))
async def test_a_record_at_the_nesting_limit_goes_through_the_disk_queue(
    store_endpoint: dict[str, Any], tmp_path: Path, kind: str
) -> None:
    """Queued (encoded to protobuf, kept on disk, decoded) and stored: the limit holds in
    the exporter's disk queue too."""
    config = ClickHouseExporterConfig.model_validate(
        {**store_endpoint,
         "sending_queue": {"storage": str(tmp_path / "q"), "write_ahead": True}}
    )  # fmt: skip
    exporter = ClickHouseExporter(ComponentID("clickhouse"), config)

    await exporter.start(NoHost())
    try:
        (record,) = otlp_json.decode_request(nested_json(LIMITS[kind], kind))
        await exporter.consume(LogBatch("acme", [record]))
        for _ in range(600):  # up to 30 s for the drainer
            if not exporter.sender.queued_batches:
                break
            await asyncio.sleep(0.05)
        assert exporter.sender.queued_batches == 0
        store = exporter.store
        assert store is not None
        rows = await store.call(store.query, "SELECT Body FROM otel_logs")
        assert len(rows) == 1
        queue = exporter.sender.queue
        assert queue is not None and queue.dead_letters() == []
        # what was stored is the record (rendered: JSON two levels deep, then base64)
        assert rows[0]["Body"].startswith("[" if kind == "array" else "{")
    finally:
        await exporter.shutdown()


def test_the_limit_is_the_same_for_attributes_in_both_encodings() -> None:
    """An attribute value one message deeper than a body allows fails in both encodings
    alike: JSON refuses it, and its protobuf form does not parse."""
    value = {"stringValue": "x"}
    for _ in range(LIMITS["kvlist"]):
        value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    doc = {"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"attributes": [{"key": "a", "value": value}]}]}]}]}  # fmt: skip
    with pytest.raises(Exception, match="nested deeper than protobuf allows"):
        otlp_json.decode_request(orjson.dumps(doc))
    shallower = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["attributes"][0]
    shallower["value"] = shallower["value"]["kvlistValue"]["values"][0]["value"]
    (record,) = otlp_json.decode_request(orjson.dumps(doc))
    again = otlp_proto.decode_request(otlp_proto.encode_request(LogBatch("t", [record])))
    assert again[0].attributes == record.attributes
