"""The batch processor groups records per tenant by size and time, and acknowledges each
caller only once the downstream accepted every batch holding its records."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pydantic import ValidationError

from collector.component import ComponentID
from collector.errors import RetryableError
from collector.records import LogBatch, LogRecord
from collector.testing import RecordingExporter, RecordingExporterConfig
from processors.batch import FACTORY, BatchConfig, BatchProcessor

LONG = "1h"  # a timeout that never fires within a test
WAIT = 5.0  # the bound on every "eventually"

Build = Callable[..., tuple[BatchProcessor, RecordingExporter]]


@pytest.fixture
async def build() -> AsyncIterator[Build]:
    """Build batch processors over recording exporters; all are shut down afterwards."""
    built: list[tuple[BatchProcessor, RecordingExporter]] = []

    def make(**config: Any) -> tuple[BatchProcessor, RecordingExporter]:
        sink = RecordingExporter(ComponentID("recording", "batch"), RecordingExporterConfig())
        processor = FACTORY.create(ComponentID("batch"), BatchConfig(**config), sink)
        assert isinstance(processor, BatchProcessor)
        built.append((processor, sink))
        return processor, sink

    yield make
    for processor, sink in built:
        if sink.gate is not None:
            sink.gate.set()
        async with asyncio.timeout(WAIT):
            await processor.shutdown()


def records(n: int, tag: str = "r") -> list[LogRecord]:
    return [LogRecord(body=f"{tag}{i}") for i in range(n)]


def bodies(batch: LogBatch) -> list[object]:
    return [r.body for r in batch.records]


async def eventually(condition: Callable[[], object]) -> None:
    """Waits until ``condition()`` holds, failing the test after ``WAIT`` seconds."""
    for _ in range(int(WAIT / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not met in time")


async def test_reaching_send_batch_size_merges_several_callers_into_one_batch(
    build: Build,
) -> None:
    """Callers whose records together reach ``send_batch_size`` share one downstream batch."""
    processor, sink = build(send_batch_size=6, timeout=LONG)
    async with asyncio.timeout(WAIT):
        await asyncio.gather(
            *(processor.consume(LogBatch("acme", records(2, tag))) for tag in "abc")
        )
    assert [bodies(b) for b in sink.batches] == [["a0", "a1", "b0", "b1", "c0", "c1"]]


async def test_timeout_sends_a_batch_smaller_than_send_batch_size(build: Build) -> None:
    """Records that never reach ``send_batch_size`` go downstream once ``timeout`` passes."""
    processor, sink = build(send_batch_size=100, timeout="50ms")
    async with asyncio.timeout(WAIT):
        await processor.consume(LogBatch("acme", records(3)))
    assert [bodies(b) for b in sink.batches] == [["r0", "r1", "r2"]]


async def test_tenants_are_batched_separately(build: Build) -> None:
    """Records of different tenants never share a downstream batch."""
    processor, sink = build(send_batch_size=3, timeout="50ms")
    async with asyncio.timeout(WAIT):
        await asyncio.gather(
            processor.consume(LogBatch("acme", records(2, "a"))),
            processor.consume(LogBatch("globex", records(2, "g"))),
            processor.consume(LogBatch("acme", records(1, "x"))),
        )
    assert sorted((b.tenant, bodies(b)) for b in sink.batches) == [
        ("acme", ["a0", "a1", "x0"]),
        ("globex", ["g0", "g1"]),
    ]


async def test_send_batch_max_size_splits_a_large_input_and_its_caller_waits_for_all_parts(
    build: Build,
) -> None:
    """A batch above ``send_batch_max_size`` is split, and its caller returns after the last."""
    processor, sink = build(send_batch_size=3, send_batch_max_size=3, timeout=LONG)
    caller = asyncio.create_task(processor.consume(LogBatch("acme", records(7))))
    await eventually(lambda: len(sink.batches) == 2)
    assert not caller.done()  # one record is still pending
    await processor.shutdown()
    async with asyncio.timeout(WAIT):
        await caller
    assert sorted(len(b) for b in sink.batches) == [1, 3, 3]
    assert max(len(b) for b in sink.batches) <= 3
    assert sorted(str(r) for b in sink.batches for r in bodies(b)) == [f"r{i}" for i in range(7)]


async def test_a_caller_split_across_two_batches_waits_for_both(build: Build) -> None:
    """A caller whose records straddle a cut returns only after its second batch is sent."""
    processor, sink = build(send_batch_size=4, send_batch_max_size=4, timeout=LONG)
    first = asyncio.create_task(processor.consume(LogBatch("acme", records(3, "a"))))
    second = asyncio.create_task(processor.consume(LogBatch("acme", records(3, "b"))))
    await eventually(first.done)
    assert [bodies(b) for b in sink.batches] == [["a0", "a1", "a2", "b0"]]
    assert not second.done()
    await processor.shutdown()
    async with asyncio.timeout(WAIT):
        await second
    assert [bodies(b) for b in sink.batches][1] == ["b1", "b2"]


async def test_a_downstream_error_is_raised_to_every_caller_of_the_merged_batch(
    build: Build,
) -> None:
    """When the downstream refuses a merged batch, each caller in it gets that error."""
    processor, sink = build(send_batch_size=4, timeout=LONG)
    sink.fail_with = "retryable"
    async with asyncio.timeout(WAIT):
        results = await asyncio.gather(
            processor.consume(LogBatch("acme", records(2, "a"))),
            processor.consume(LogBatch("acme", records(2, "b"))),
            return_exceptions=True,
        )
    assert all(isinstance(r, RetryableError) for r in results)
    assert results[0] is results[1]


async def test_a_failed_part_of_a_split_input_fails_its_caller(build: Build) -> None:
    """A caller whose input was split raises when a downstream part was refused."""
    processor, sink = build(send_batch_size=2, send_batch_max_size=2, timeout="50ms")
    sink.fail_with = "retryable"
    with pytest.raises(RetryableError):
        async with asyncio.timeout(WAIT):
            await processor.consume(LogBatch("acme", records(5)))


async def test_consume_does_not_return_before_the_downstream_accepted(build: Build) -> None:
    """While the downstream holds the merged batch, the caller keeps waiting."""
    processor, sink = build(send_batch_size=2, timeout=LONG)
    sink.gate = asyncio.Event()
    caller = asyncio.create_task(processor.consume(LogBatch("acme", records(2))))
    await asyncio.sleep(0.05)
    assert not caller.done()
    sink.gate.set()
    async with asyncio.timeout(WAIT):
        await caller
    assert len(sink.batches) == 1


async def test_shutdown_flushes_pending_records(build: Build) -> None:
    """Shutdown sends what is pending and returns after the downstream took it."""
    processor, sink = build(send_batch_size=100, timeout=LONG)
    caller = asyncio.create_task(processor.consume(LogBatch("acme", records(3))))
    await asyncio.sleep(0)
    await processor.shutdown()
    assert [bodies(b) for b in sink.batches] == [["r0", "r1", "r2"]]
    async with asyncio.timeout(WAIT):
        await caller


async def test_consume_after_shutdown_is_refused_as_retryable(build: Build) -> None:
    """A stopped batch processor refuses new records with a retryable error."""
    processor, _ = build()
    await processor.shutdown()
    await processor.shutdown()
    with pytest.raises(RetryableError):
        await processor.consume(LogBatch("acme", records(1)))


async def test_a_cancelled_caller_s_records_still_go_downstream(build: Build) -> None:
    """Records accepted into a batch are sent even if their caller stops waiting."""
    processor, sink = build(send_batch_size=2, timeout=LONG)
    sink.gate = asyncio.Event()
    caller = asyncio.create_task(processor.consume(LogBatch("acme", records(2))))
    await asyncio.sleep(0.01)
    caller.cancel()
    sink.gate.set()
    await processor.shutdown()
    assert caller.cancelled()
    assert [bodies(b) for b in sink.batches] == [["r0", "r1"]]


async def test_a_cancelled_caller_leaves_no_unretrieved_error(build: Build) -> None:
    """A failure for a caller that stopped waiting is not reported as never retrieved."""
    problems: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, ctx: problems.append(ctx))
    processor, sink = build(send_batch_size=2, timeout=LONG)
    sink.gate, sink.fail_with = asyncio.Event(), "retryable"
    caller = asyncio.create_task(processor.consume(LogBatch("acme", records(2))))
    await asyncio.sleep(0.01)
    caller.cancel()
    sink.gate.set()
    await processor.shutdown()
    del caller
    gc.collect()
    assert problems == []


async def test_the_caller_s_batch_is_not_changed(build: Build) -> None:
    """Downstream batches are new objects; the caller's batch and list stay as they were."""
    processor, sink = build(send_batch_size=2, send_batch_max_size=2, timeout="50ms")
    original = records(5)
    batch = LogBatch("acme", original)
    snapshot = list(original)
    async with asyncio.timeout(WAIT):
        await processor.consume(batch)
    assert batch.records is original and original == snapshot
    assert all(b is not batch and b.records is not original for b in sink.batches)


async def test_counters_count_accepted_batches_and_records(build: Build) -> None:
    """``sent_batches`` and ``sent_records`` count what the downstream accepted."""
    processor, _ = build(send_batch_size=2, send_batch_max_size=2, timeout="50ms")
    async with asyncio.timeout(WAIT):
        await processor.consume(LogBatch("acme", records(5)))
    assert (processor.sent_batches, processor.sent_records) == (3, 5)


def test_send_batch_max_size_below_send_batch_size_is_rejected() -> None:
    """A maximum below the trigger size is a config error, worded as in OpenTelemetry."""
    with pytest.raises(ValidationError, match="send_batch_max_size must be greater or equal"):
        BatchConfig(send_batch_size=10, send_batch_max_size=5)


@pytest.mark.parametrize(
    "config", [{"send_batch_size": 0}, {"timeout": "0s"}, {"send_batch_max_size": -1}]
)
def test_non_positive_sizes_and_timeout_are_rejected(config: dict[str, Any]) -> None:
    """Sizes and the timeout must be positive (a zero maximum means no limit)."""
    with pytest.raises(ValidationError):
        BatchConfig(**config)
