"""The kafka receiver against a real broker: ordering, commits, retries, dead letters."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from collector.pdata import otlp_proto
from collector.pdata.records import LogBatch, LogRecord
from tests.conftest import RunningCollector, StartCollector, read_topic


def storage(kafka_bootstrap: str, topic: str, **receiver: Any) -> dict[str, Any]:
    """kafka receiver -> recording exporter."""
    return {
        "receivers": {"kafka": {"brokers": [kafka_bootstrap], "topics": [topic],
                                "group_id": f"g_{topic}", "initial_offset": "earliest",
                                "dead_letter_topic": f"{topic}_dlq",
                                "retry_on_failure": {"initial_interval": "50ms",
                                                     "max_interval": "200ms"},
                                **receiver}},
        "exporters": {"recording": {}},
        "service": {"pipelines": {"logs": {"receivers": ["kafka"],
                                           "exporters": ["recording"]}}},
    }  # fmt: skip


def message(n: int, session: str = "s") -> bytes:
    record = LogRecord(attributes={"session.id": session, "n": n})
    return otlp_proto.encode_request(LogBatch("x", [record]))


async def produce(bootstrap: str, topic: str, values: list[bytes], tenant: str = "acme") -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=b"s",
                                         headers=[("tenant", tenant.encode())])  # fmt: skip
    finally:
        await producer.stop()


async def committed(bootstrap: str, topic: str) -> int | None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=f"g_{topic}",
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        return await consumer.committed(TopicPartition(topic, 0))
    finally:
        await consumer.stop()


async def until(check: Callable[[], bool], within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def numbers(running: RunningCollector) -> list[int]:
    return [r.attributes["n"] for r in running.exporter().records]  # type: ignore[attr-defined]


async def test_messages_reach_the_pipeline_in_order_with_their_tenant(
    start_collector: StartCollector, kafka_bootstrap: str, topic: str
) -> None:
    """Records arrive in partition order, as batches of the header's tenant, and the
    offset is committed after them."""
    await produce(kafka_bootstrap, topic, [message(n) for n in range(5)], tenant="globex")
    running = await start_collector(storage(kafka_bootstrap, topic))
    await until(lambda: len(numbers(running)) == 5)
    assert numbers(running) == [0, 1, 2, 3, 4]
    assert {b.tenant for b in running.exporter().batches} == {"globex"}
    receiver = next(iter(running.service.receivers.values()))
    await until(lambda: receiver.committed.get(TopicPartition(topic, 0)) == 5)


async def test_a_poison_message_goes_to_the_dead_letter_topic_and_the_partition_moves_on(
    start_collector: StartCollector, kafka_bootstrap: str, topic: str
) -> None:
    """An undecodable message is dead-lettered with the error in a header; the messages
    around it are delivered and committed."""
    await produce(kafka_bootstrap, topic, [message(1), b"\xff\x00garbage", message(2)])
    running = await start_collector(storage(kafka_bootstrap, topic))
    await until(lambda: len(numbers(running)) == 2)
    assert numbers(running) == [1, 2]
    (dead,) = await read_topic(kafka_bootstrap, f"{topic}_dlq", 1)
    assert dead.value == b"\xff\x00garbage"
    headers = dict(dead.headers)
    assert headers["error"].startswith(b"undecodable")
    assert headers["source"] == f"{topic}:0:1".encode()
    receiver = next(iter(running.service.receivers.values()))
    await until(lambda: receiver.committed.get(TopicPartition(topic, 0)) == 3)


async def test_a_failing_pipeline_is_retried_and_nothing_is_committed_meanwhile(
    start_collector: StartCollector, kafka_bootstrap: str, topic: str
) -> None:
    """While the exporter fails, the receiver retries the same messages and commits
    nothing; when it recovers they are delivered once more and committed."""
    await produce(kafka_bootstrap, topic, [message(n) for n in range(3)])
    running = await start_collector(storage(kafka_bootstrap, topic))
    exporter = running.exporter()
    exporter.fail_with = "retryable"
    await asyncio.sleep(1.0)
    assert exporter.batches == []
    assert await committed(kafka_bootstrap, topic) is None
    exporter.fail_with = None
    await until(lambda: numbers(running) == [0, 1, 2])
    await until(
        lambda: (
            running.service.receivers
            and next(iter(running.service.receivers.values())).committed.get(
                TopicPartition(topic, 0)
            )
            == 3
        )
    )
    assert await committed(kafka_bootstrap, topic) == 3


async def test_messages_without_a_tenant_header_get_the_default_tenant(
    start_collector: StartCollector, kafka_bootstrap: str, topic: str
) -> None:
    """Messages from other producers (no tenant header) take default_tenant."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    await producer.send_and_wait(topic, message(1))
    await producer.stop()
    running = await start_collector(storage(kafka_bootstrap, topic, default_tenant="shared"))
    await until(lambda: len(numbers(running)) == 1)
    assert running.exporter().batches[0].tenant == "shared"


async def test_shutdown_is_bounded_when_the_pipeline_never_recovers(
    start_collector: StartCollector, kafka_bootstrap: str, topic: str
) -> None:
    """With an exporter failing forever, shutdown ends within shutdown_timeout and
    commits nothing."""
    await produce(kafka_bootstrap, topic, [message(1)])
    running = await start_collector(storage(kafka_bootstrap, topic, shutdown_timeout="500ms"))
    exporter = running.exporter()
    exporter.gate = asyncio.Event()  # the pipeline never answers
    await until(lambda: next(iter(running.service.receivers.values()))._task is not None)
    await asyncio.sleep(1.0)
    started = time.monotonic()
    await running.service.shutdown()
    assert time.monotonic() - started < 5
    assert await committed(kafka_bootstrap, topic) is None


async def test_a_rebalance_loses_nothing(
    start_collector: StartCollector, kafka_bootstrap: str, topic: str
) -> None:
    """A second consumer joining the group mid-stream takes over partitions; every message
    reaches one of the two pipelines (duplicates allowed, losses not)."""
    from tests.conftest import create_topic

    await create_topic(kafka_bootstrap, topic, 2)

    def member(name: str) -> dict[str, Any]:
        cfg = storage(kafka_bootstrap, topic)
        cfg["exporters"] = {f"recording/{name}": {}}
        cfg["service"]["pipelines"]["logs"]["exporters"] = [f"recording/{name}"]
        return cfg

    async def produce_keyed(numbers: range) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for n in numbers:
                await producer.send_and_wait(topic, message(n), key=f"k{n}".encode(),
                                             headers=[("tenant", b"acme")])  # fmt: skip
        finally:
            await producer.stop()

    first = await start_collector(member("a"))
    await produce_keyed(range(0, 100))
    second = await start_collector(member("b"))

    def assigned(running: RunningCollector) -> bool:
        consumer = next(iter(running.service.receivers.values()))._consumer
        return consumer is not None and bool(consumer.assignment())

    await until(lambda: assigned(second), within=60)
    await produce_keyed(range(100, 200))

    def seen() -> set[int]:
        return {r.attributes["n"] for running, name in ((first, "a"), (second, "b"))  # type: ignore[attr-defined]
                for r in running.exporter(f"recording/{name}").records}  # fmt: skip

    await until(lambda: seen() == set(range(200)), within=60)
    assert second.exporter("recording/b").records, "the second member never got a partition"
