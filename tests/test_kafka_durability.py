"""Nothing acknowledged is lost or counted twice, whatever restarts and outages happen:
collectors and brokers as separate processes, killed and stopped for real."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from collector.pdata import otlp_json, otlp_proto
from collector.pdata.records import LogBatch
from collector.sessions.clickhouse import ClickHouseSettings, Store, queries
from tests.conftest import CLI, REPO, create_topic
from tests.test_daemon import create_key, free_port, spawn, wait_listening

SESSIONS = 400
#: the most sessions the mid-stream kill test produces (5 ms apart: over a minute of stream)
MAX_SESSIONS = 20_000


def sample_for(session: str, sample_json: bytes) -> list[Any]:
    records = otlp_json.decode_request(sample_json)
    for r in records:
        r.attributes["session.id"] = session
    return records


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def storage_yaml(tmp_path: Path, bootstrap: str, topic: str, api_port: int) -> Path:
    return write_config(
        tmp_path / "storage.yaml",
        f"""
extensions:
  sessions_api: {{endpoint: "127.0.0.1:{api_port}"}}
receivers:
  kafka:
    brokers: ["{bootstrap}"]
    topics: [{topic}]
    group_id: g_{topic}
    initial_offset: earliest
    max_batch_records: 60
    retry_on_failure: {{initial_interval: 100ms, max_interval: 1s}}
processors:
  batch: {{timeout: 20ms, send_batch_size: 60}}
exporters:
  clickhouse: {{endpoint: "chdb://{tmp_path}/store"}}
service:
  telemetry: {{metrics: {{address: "127.0.0.1:0"}}}}
  extensions: [sessions_api]
  pipelines:
    logs: {{receivers: [kafka], processors: [batch], exporters: [clickhouse]}}
""",
    )


def start(config: Path, port: int) -> subprocess.Popen[bytes]:
    proc = spawn([CLI, "run", "--config", str(config)], config.with_suffix(".log"))
    wait_listening(port, proc, timeout=90)
    return proc


async def lag(bootstrap: str, topic: str, partitions: int) -> int:
    """Messages of the topic's partitions not yet committed by the storage group."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=f"g_{topic}",
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        ends = await consumer.end_offsets(tps)
        total = 0
        for tp in tps:
            done = await consumer.committed(tp) or 0
            total += ends[tp] - done
        return total
    finally:
        await consumer.stop()


async def wait_for(check: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


def stored_sessions(store_path: Path) -> list[dict[str, Any]]:
    """Every session of tenant acme, a page of 1,000 (the most a listing gives) at a time."""
    store = Store(ClickHouseSettings(endpoint=f"chdb://{store_path}"))
    sessions: list[dict[str, Any]] = []
    try:
        while page := queries.list_sessions(store, "acme", limit=1000, offset=len(sessions)):
            sessions.extend(page)
        return sessions
    finally:
        store.close()


def assert_exact(sessions: list[dict[str, Any]], expected: set[str]) -> None:
    assert {s["session_id"] for s in sessions} == expected
    for s in sessions:
        assert (s["prompts"], s["api_requests"], s["tool_calls"]) == (1, 2, 1), s
        assert (s["input_tokens"], s["output_tokens"], s["cost_usd"]) == (2400, 84, 0.01875), s


async def test_storage_killed_mid_stream_and_restarted_keeps_every_figure_exact(
    kafka_bootstrap: str, topic: str, tmp_path: Path, sample_json: bytes
) -> None:
    """SIGKILL between inserts and commits replays some messages; no figure changes.

    The producer goes on until the kill and SESSIONS more (at most MAX_SESSIONS), however
    slowly the storage collector starts on a busy machine, so the kill is always mid-stream."""
    await create_topic(kafka_bootstrap, topic, 2)
    api_port = free_port()
    config = storage_yaml(tmp_path, kafka_bootstrap, topic, api_port)
    produced: list[str] = []
    killed_at: list[int] = []

    async def produce() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for i in range(MAX_SESSIONS):
                if killed_at and len(produced) >= killed_at[0] + SESSIONS:
                    break
                value = otlp_proto.encode_request(
                    LogBatch("acme", sample_for(f"s{i}", sample_json))
                )
                await producer.send_and_wait(topic, value, key=f"s{i}".encode(),
                                             headers=[("tenant", b"acme")])  # fmt: skip
                produced.append(f"s{i}")
                await asyncio.sleep(0.005)
        finally:
            await producer.stop()

    producing = asyncio.create_task(produce())
    first = await asyncio.to_thread(start, config, api_port)
    mid_stream = False
    try:

        async def progressed() -> bool:  # 20 messages or more stored and committed
            return len(produced) - await lag(kafka_bootstrap, topic, 2) >= 20

        await wait_for(progressed, 120, "the first storage collector to commit something")
        mid_stream = not producing.done()
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        killed_at.append(len(produced))
    assert mid_stream, "the producer had finished before the kill: raise MAX_SESSIONS"
    second = await asyncio.to_thread(start, config, api_port)
    try:
        await producing

        async def caught_up() -> bool:
            return await lag(kafka_bootstrap, topic, 2) == 0

        await wait_for(caught_up, 120, "the restarted storage collector to catch up")
    finally:
        second.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(second.wait, 60) == 0
    sessions = await asyncio.to_thread(stored_sessions, tmp_path / "store")
    assert len(sessions) == len(produced)
    assert_exact(sessions, set(produced))


@dataclass
class Broker:
    bootstrap: str
    env: dict[str, str]

    def run(self, command: str) -> str:
        out = subprocess.run([str(REPO / "scripts" / "dev-services"), command], env=self.env,
                             capture_output=True, text=True, timeout=300)  # fmt: skip
        assert out.returncode == 0, out.stderr
        return out.stdout


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker of this test's own (own port, own data), so it can be stopped."""
    port = free_port()
    env = {**os.environ, "DEV_SERVICES_HOME": str(tmp_path / "services"),
           "KAFKA_PORT": str(port), "KAFKA_CONTROLLER_PORT": str(free_port())}  # fmt: skip
    broker = Broker(f"127.0.0.1:{port}", env)
    assert f"KAFKA_BOOTSTRAP=127.0.0.1:{port}" in broker.run("start")
    try:
        yield broker
    finally:
        broker.run("stop")


async def test_kafka_outage_is_bridged_by_the_edge_disk_queue(
    private_broker: Broker, tmp_path: Path, sample_json: bytes
) -> None:
    """Kafka stopped while the edge keeps receiving: every request is still acknowledged,
    and every record is in ClickHouse after Kafka returns."""
    keys = tmp_path / "keys.json"
    key = create_key(keys)["key"]
    otlp_port, api_port = free_port(), free_port()
    topic = "otlp_logs"
    edge = write_config(
        tmp_path / "edge.yaml",
        f"""
extensions:
  apikeys: {{keys_file: {keys}, reload_interval: 50ms}}
receivers:
  otlp: {{endpoint: "127.0.0.1:{otlp_port}", auth: apikeys}}
processors:
  cowork: {{}}
exporters:
  kafka:
    brokers: ["{private_broker.bootstrap}"]
    topic: {topic}
    timeout: 2s
    sending_queue: {{storage: {tmp_path}/queue}}
    retry_on_failure: {{initial_interval: 200ms, max_interval: 1s}}
service:
  telemetry: {{metrics: {{address: "127.0.0.1:0"}}}}
  extensions: [apikeys]
  pipelines:
    logs: {{receivers: [otlp], processors: [cowork], exporters: [kafka]}}
""",
    )
    storage = storage_yaml(tmp_path, private_broker.bootstrap, topic, api_port)
    edge_proc = await asyncio.to_thread(start, edge, otlp_port)
    storage_proc = await asyncio.to_thread(start, storage, api_port)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    sent: set[str] = set()
    try:
        async with httpx.AsyncClient(timeout=30) as client:

            async def send(session: str) -> None:
                body = otlp_json.encode_request(LogBatch("acme", sample_for(session, sample_json)))
                resp = await client.post(f"http://127.0.0.1:{otlp_port}/v1/logs", content=body,
                                         headers=headers)  # fmt: skip
                assert resp.status_code == 200, resp.text
                sent.add(session)

            for i in range(5):
                await send(f"before-{i}")
            await asyncio.to_thread(private_broker.run, "stop")
            for i in range(10):
                await send(f"during-{i}")
            await asyncio.to_thread(private_broker.run, "start")
            for i in range(5):
                await send(f"after-{i}")

        async def all_stored() -> bool:
            out = await asyncio.to_thread(
                subprocess.run, [CLI, "sessions", "--config", str(storage), "--json",
                                 "--limit", "1000"], capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            rows = orjson.loads(out.stdout) if out.returncode == 0 else []
            complete = {r["session_id"] for r in rows if r["api_requests"] == 2}
            return complete >= sent

        await wait_for(all_stored, 180, "every acknowledged session to reach ClickHouse")
    finally:
        for proc in (edge_proc, storage_proc):
            proc.send_signal(signal.SIGTERM)
        codes = [await asyncio.to_thread(p.wait, 60) for p in (edge_proc, storage_proc)]
    assert codes == [0, 0]
    assert_exact(await asyncio.to_thread(stored_sessions, tmp_path / "store"), sent)
