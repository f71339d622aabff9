"""Delivery through QueuedSender: direct, through the disk queue while the downstream is
away, and refusals when neither is possible."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import pytest

from collector.component import ComponentID
from collector.consumererror import RetryableError
from collector.exporterhelper import QueuedSender, QueueSettings, RetrySettings
from collector.pdata.records import LogBatch, LogRecord

FAST = RetrySettings(
    initial_interval=timedelta(milliseconds=20),
    max_interval=timedelta(milliseconds=50),
    max_elapsed_time=timedelta(milliseconds=200),
)


class Downstream:
    """A downstream that can be switched off, recording what it received."""

    def __init__(self) -> None:
        self.up = True
        self.received: list[tuple[str, list[object]]] = []
        self.calls = 0

    async def send(self, batch: LogBatch) -> None:
        self.calls += 1
        if not self.up:
            raise RetryableError("down")
        self.received.append((batch.tenant, [r.attributes["n"] for r in batch.records]))


def batch(n: int, tenant: str = "acme") -> LogBatch:
    return LogBatch(tenant, [LogRecord(attributes={"n": n})])


def sender(down: Downstream, storage: Path | None, size: int = 100) -> QueuedSender:
    queue = QueueSettings(storage=str(storage) if storage else None, queue_size=size)
    return QueuedSender(ComponentID("kafka"), down.send, FAST, queue)


async def eventually(check: object, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_a_healthy_downstream_gets_batches_directly(tmp_path: Path) -> None:
    """No queueing while the downstream accepts."""
    down = Downstream()
    s = sender(down, tmp_path)
    await s.start()
    await s.export(batch(1))
    assert down.received == [("acme", [1])]
    assert s.queued_batches == 0
    await s.shutdown()


async def test_while_down_batches_are_queued_then_delivered_in_order(tmp_path: Path) -> None:
    """Every batch is acknowledged while the downstream is away, and arrives in order,
    with its tenant, once it is back."""
    down = Downstream()
    s = sender(down, tmp_path)
    await s.start()
    down.up = False
    for n in range(5):
        await s.export(batch(n, tenant=f"t{n % 2}"))
    assert s.queued_batches == 5
    down.up = True
    await eventually(lambda: s.queued_batches == 0)
    await s.export(batch(5))
    assert down.received == [("t0", [0]), ("t1", [1]), ("t0", [2]), ("t1", [3]), ("t0", [4]),
                             ("acme", [5])]  # fmt: skip
    await s.shutdown()


async def test_the_queue_survives_a_restart(tmp_path: Path) -> None:
    """Batches queued before a shutdown are delivered after the next start."""
    down = Downstream()
    down.up = False
    first = sender(down, tmp_path)
    await first.start()
    await first.export(batch(1))
    await first.export(batch(2))
    await first.shutdown()

    down.up = True
    second = sender(down, tmp_path)
    await second.start()
    await eventually(lambda: second.queued_batches == 0)
    assert down.received == [("acme", [1]), ("acme", [2])]
    await second.shutdown()


async def test_a_full_queue_is_refused_at_once(tmp_path: Path) -> None:
    """Past queue_size the sender raises a retryable error without waiting."""
    down = Downstream()
    down.up = False
    s = sender(down, tmp_path, size=2)
    await s.start()
    await s.export(batch(1))
    await s.export(batch(2))
    started = time.monotonic()
    with pytest.raises(RetryableError, match="queue"):
        await s.export(batch(3))
    assert time.monotonic() - started < 1.0
    await s.shutdown()


async def test_without_storage_a_known_down_downstream_fails_at_once() -> None:
    """After retries run out once, the next batches are refused without a new attempt."""
    down = Downstream()
    down.up = False
    s = sender(down, None)
    await s.start()
    with pytest.raises(RetryableError):
        await s.export(batch(1))
    calls = down.calls
    with pytest.raises(RetryableError) as info:
        await s.export(batch(2))
    assert down.calls == calls  # refused without touching the downstream
    assert info.value.retry_after >= 1.0
    await s.shutdown()


async def test_without_storage_a_brief_failure_is_retried_within_the_request() -> None:
    """A downstream that comes back within max_elapsed_time gets the batch."""
    down = Downstream()
    down.up = False
    s = sender(down, None)
    await s.start()

    async def recover() -> None:
        await asyncio.sleep(0.05)
        down.up = True

    task = asyncio.create_task(recover())
    await s.export(batch(7))
    await task
    assert down.received == [("acme", [7])]
    await s.shutdown()


async def test_a_drainer_that_fails_is_restarted_and_counted_and_delivers(tmp_path: Path) -> None:
    """A fault in the downstream while draining (not an error of a known kind) restarts the
    drainer after a backoff; it is counted, and the queued batches are still delivered in
    order."""
    from collector.telemetry import metrics

    down = Downstream()
    broken = {"times": 2}

    async def send(b: LogBatch) -> None:
        if not down.up:
            raise RetryableError("down")
        if broken["times"]:
            broken["times"] -= 1
            raise RuntimeError("a fault of the downstream code")
        await down.send(b)

    s = QueuedSender(ComponentID("kafka", "drainer"), send, FAST,
                     QueueSettings(storage=str(tmp_path), queue_size=10))  # fmt: skip
    failures = metrics.exporter_drain_failures.labels("kafka/drainer")
    before = failures._value.get()
    await s.start()
    try:
        down.up = False
        await s.export(batch(1))
        await s.export(batch(2))
        assert s.queued_batches == 2
        down.up = True
        await eventually(lambda: s.queued_batches == 0)
        assert [n for _, ns in down.received for n in ns] == [1, 2]
        assert failures._value.get() == before + 2
    finally:
        await s.shutdown()


async def test_a_queued_batch_refused_for_good_moves_to_the_dead_letter_table(
    tmp_path: Path,
) -> None:
    """A permanent refusal of a queued batch keeps it in the dead-letter table and the
    batches behind it are delivered."""
    from collector.consumererror import PermanentError
    from collector.exporterhelper.disk_queue import DiskQueue

    down = Downstream()

    async def send(b: LogBatch) -> None:
        if not down.up:
            raise RetryableError("down")
        if b.records[0].attributes["n"] == 1:
            raise PermanentError("refused for good")
        await down.send(b)

    s = QueuedSender(ComponentID("kafka"), send, FAST,
                     QueueSettings(storage=str(tmp_path), queue_size=10))  # fmt: skip
    await s.start()
    try:
        down.up = False
        for n in (1, 2):
            await s.export(batch(n))
        down.up = True
        await eventually(lambda: s.queued_batches == 0)
        assert down.received == [("acme", [2])]
    finally:
        await s.shutdown()
    queue = DiskQueue(next(tmp_path.glob("*.sqlite")), 10)
    try:
        ((tenant, records, _, error),) = queue.dead_letters()
    finally:
        queue.close()
    assert (tenant, records) == ("acme", 1)
    assert "refused for good" in error


async def test_write_ahead_acknowledges_once_queued_and_drains_many_batches_per_send(
    tmp_path: Path,
) -> None:
    """With write_ahead, export returns once the batch is on disk, even though the
    downstream is slow, and the drainer hands it queued batches together, in order."""
    from collector.exporterhelper.disk_queue import QueuedBatch

    release = asyncio.Event()
    sent: list[list[int]] = []

    async def send(b: LogBatch) -> None:
        raise AssertionError("write-ahead batches go through send_encoded")

    async def send_encoded(items: list[QueuedBatch]) -> None:
        await release.wait()
        sent.append([item.records for item in items])

    queue = QueueSettings(storage=str(tmp_path), queue_size=100, write_ahead=True)
    s = QueuedSender(ComponentID("clickhouse", "wal"), send, FAST, queue,
                     send_encoded=send_encoded)  # fmt: skip
    from collector.telemetry import metrics

    failures = metrics.exporter_drain_failures.labels("clickhouse/wal")
    await s.start()
    try:
        first = LogBatch("acme", [LogRecord(attributes={"n": 1})])
        await asyncio.wait_for(s.export(first), 5)  # not held by the downstream
        await eventually(lambda: s.queued_batches == 1)
        for n in range(2, 5):
            await asyncio.wait_for(s.export(batch(n)), 5)
        assert s.queued_batches == 4
        release.set()
        await eventually(lambda: s.queued_batches == 0)
        assert sum(len(call) for call in sent) == 4
        assert len(sent) < 4  # some were sent together
        assert failures._value.get() == 0
    finally:
        await s.shutdown()


def test_write_ahead_without_storage_is_a_config_error() -> None:
    """write_ahead needs the folder of the queue's files."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="write_ahead needs storage"):
        QueueSettings(write_ahead=True)


def test_the_drainer_reads_from_disk_no_more_than_its_record_and_byte_bounds(
    tmp_path: Path,
) -> None:
    """peek hands the oldest items, stopping before the one that would pass max_records or
    max_bytes, but always at least one (a single large request still drains)."""
    from collector.exporterhelper.disk_queue import DiskQueue

    queue = DiskQueue(tmp_path / "q.db", capacity=100)
    for n, size in enumerate([10, 10, 10, 50, 10]):
        queue.put("acme", bytes([n]) * size, records=n + 1)
    ids = lambda items: [item.payload[0] for item in items]  # noqa: E731
    assert ids(queue.peek(10)) == [0, 1, 2, 3, 4]
    assert ids(queue.peek(10, max_bytes=30)) == [0, 1, 2]
    assert ids(queue.peek(10, max_records=6)) == [0, 1, 2]
    assert ids(queue.peek(10, max_records=5)) == [0, 1]
    assert ids(queue.peek(10, max_bytes=1)) == [0]
    assert ids(queue.peek(2)) == [0, 1]
    assert [len(item.payload) for item in queue.peek(10)] == [10, 10, 10, 50, 10]


# -- metrics and traces in the queue ----------------------------------------------------------

CAPTURE = Path(__file__).parents[2] / "data" / "claude-code-2.1.197-write" / "grpc"


def test_a_queue_file_from_before_signals_opens_with_its_batches_as_logs(tmp_path: Path) -> None:
    """A queue written before the ``signal`` column existed gains it; its batches are logs."""
    import sqlite3

    from collector.exporterhelper.disk_queue import DiskQueue

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE queue (id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, "
               "records INTEGER NOT NULL, payload BLOB NOT NULL)")  # fmt: skip
    db.execute("CREATE TABLE dead_letter (id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT "
               "NOT NULL, records INTEGER NOT NULL, payload BLOB NOT NULL, error TEXT NOT NULL, "
               "at TEXT NOT NULL DEFAULT '')")  # fmt: skip
    db.execute("INSERT INTO queue (tenant, records, payload) VALUES ('acme', 3, x'0a00')")
    db.commit()
    db.close()
    queue = DiskQueue(path, 10)
    try:
        queue.put("acme", b"metrics", 10, "metrics")
        old, new = queue.peek(2)
        assert (old.tenant, old.records, old.signal) == ("acme", 3, "logs")
        assert (new.records, new.signal) == (10, "metrics")
    finally:
        queue.close()


async def test_write_ahead_queues_metrics_between_logs_and_sends_each_as_its_signal(
    tmp_path: Path,
) -> None:
    """Logs drain through send_encoded; a queued metrics batch comes back whole, through
    send, in its turn."""
    from collector.exporterhelper.disk_queue import QueuedBatch
    from collector.pdata.signals import MetricsBatch, decode_metrics

    order: list[str] = []

    async def send(b: object) -> None:
        assert isinstance(b, MetricsBatch)
        order.append(f"metrics:{len(b)}:{b.tenant}")

    async def send_encoded(items: list[QueuedBatch]) -> None:
        order.extend(f"{item.signal}:{item.records}" for item in items)

    queue = QueueSettings(storage=str(tmp_path), queue_size=100, write_ahead=True)
    s = QueuedSender(ComponentID("clickhouse", "mixed"), send, FAST, queue,
                     send_encoded=send_encoded)  # fmt: skip
    points = decode_metrics((CAPTURE / "metrics.pb").read_bytes())
    await s.start()
    try:
        await s.export(batch(1))
        await s.export(MetricsBatch("globex", points))
        await s.export(batch(2))
        await eventually(lambda: s.queued_batches == 0)
    finally:
        await s.shutdown()
    assert [e for e in order if e.startswith("metrics")] == ["metrics:10:globex"]
    assert order.index("metrics:10:globex") == 1  # in its turn, between the two logs
    assert order.count("logs:1") == 2


async def test_a_refused_data_point_is_dead_lettered_as_metrics(tmp_path: Path) -> None:
    """The refused points of a queued metrics batch are kept as an
    ``ExportMetricsServiceRequest`` with the signal ``metrics``; the others are delivered."""
    import sqlite3

    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )

    from collector.consumererror import PartialRejection
    from collector.pdata.signals import MetricsBatch, decode_metrics

    up = False

    async def send(b: object) -> None:
        assert isinstance(b, MetricsBatch)
        if not up:
            raise RetryableError("down")
        raise PartialRejection(1, "one point refused", records=[b.records[0]])

    s = QueuedSender(ComponentID("clickhouse", "dl"), send, FAST,
                     QueueSettings(storage=str(tmp_path), queue_size=10))  # fmt: skip
    points = decode_metrics((CAPTURE / "metrics.pb").read_bytes())
    await s.start()
    try:
        await s.export(MetricsBatch("acme", points))
        assert s.queued_batches == 1
        up = True
        await eventually(lambda: s.queued_batches == 0)
    finally:
        await s.shutdown()
    db = sqlite3.connect(next(tmp_path.glob("*.sqlite")))
    ((signal, records, payload),) = db.execute(
        "SELECT signal, records, payload FROM dead_letter"
    ).fetchall()
    db.close()
    assert (signal, records) == ("metrics", 1)
    kept = ExportMetricsServiceRequest.FromString(payload)
    metric = kept.resource_metrics[0].scope_metrics[0].metrics[0]
    assert metric.name == points[0].metric.name and len(metric.sum.data_points) == 1
