"""The batch processor groups commits per tenant: what arrives while a send is in flight goes
together once it finishes, nothing is held when nothing is in flight, and each caller is
acknowledged only once the downstream accepted every batch holding its records."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

import pytest
from pydantic import ValidationError

from collector.component import ComponentID
from collector.consumererror import RetryableError
from collector.pdata.records import LogBatch, LogRecord
from processors.batch import FACTORY, BatchConfig, BatchProcessor

LONG = "60s"  # a timeout that never fires within a test
WAIT = 5.0  # the bound on every "eventually"


class Downstream:
    """The consumer after the batch processor, driven by the test: it keeps every batch it
    is handed, holds each one until the test releases it while ``hold`` is set, and refuses
    the batches the test chose."""

    mutates_data: ClassVar[bool] = False

    def __init__(self) -> None:
        self.received: list[LogBatch] = []  # every batch handed over, in order
        self.accepted: list[LogBatch] = []
        self.hold = False
        self.refuse: dict[int, Exception] = {}  # index in ``received`` -> the error raised
        self.refuse_every = False
        self._gates: list[asyncio.Event] = []

    async def consume(self, batch: LogBatch) -> None:
        index = len(self.received)
        self.received.append(batch)
        gate = asyncio.Event()
        self._gates.append(gate)
        if self.hold:
            await gate.wait()
        if index in self.refuse:
            raise self.refuse[index]
        if self.refuse_every:
            raise RetryableError("downstream unavailable", component="downstream")
        self.accepted.append(batch)

    def release(self, *indexes: int) -> None:
        for index in indexes:
            self._gates[index].set()

    def release_all(self) -> None:
        self.hold = False
        for gate in self._gates:
            gate.set()

    def sent(self) -> list[list[object]]:
        """The bodies of every batch handed over, batch by batch."""
        return [bodies(b) for b in self.received]


Build = Callable[..., tuple[BatchProcessor, Downstream]]


@pytest.fixture
async def build() -> AsyncIterator[Build]:
    """Build batch processors over test-driven downstreams; all are shut down afterwards."""
    built: list[tuple[BatchProcessor, Downstream]] = []

    def make(**config: Any) -> tuple[BatchProcessor, Downstream]:
        downstream = Downstream()
        processor = FACTORY.create(ComponentID("batch"), BatchConfig(**config), downstream)
        assert isinstance(processor, BatchProcessor)
        built.append((processor, downstream))
        return processor, downstream

    yield make
    for processor, downstream in built:
        downstream.release_all()
        async with asyncio.timeout(WAIT):
            await processor.shutdown()


def records(n: int, tag: str = "r") -> list[LogRecord]:
    return [LogRecord(body=f"{tag}{i}") for i in range(n)]


def bodies(batch: LogBatch) -> list[object]:
    return [r.body for r in batch.records]


def consume(
    processor: BatchProcessor, n: int, tag: str, tenant: str = "acme"
) -> asyncio.Task[None]:
    """A caller sending ``n`` records tagged ``tag``, running as a task."""
    return asyncio.create_task(processor.consume(LogBatch(tenant, records(n, tag))))


async def eventually(condition: Callable[[], object]) -> None:
    """Waits until ``condition()`` holds, failing the test after ``WAIT`` seconds."""
    for _ in range(int(WAIT / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not met in time")


async def run_pending() -> None:
    """Lets every task that can run do so, without letting time pass for timers."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_lone_caller_is_answered_without_waiting_for_the_timeout(build: Build) -> None:
    """With nothing in flight, records go downstream at once, however long ``timeout`` is."""
    processor, downstream = build(timeout=LONG)
    await asyncio.wait_for(processor.consume(LogBatch("acme", records(3))), WAIT)
    assert downstream.sent() == [["r0", "r1", "r2"]]


async def test_a_lone_client_s_requests_one_after_another_each_go_at_once(build: Build) -> None:
    """A client that waits for each answer before sending again is never held."""
    processor, downstream = build(timeout=LONG)
    for tag in "abc":
        await asyncio.wait_for(processor.consume(LogBatch("acme", records(2, tag))), WAIT)
    assert downstream.sent() == [["a0", "a1"], ["b0", "b1"], ["c0", "c1"]]


async def test_records_arriving_during_a_send_go_together_as_soon_as_it_finishes(
    build: Build,
) -> None:
    """Three callers arriving while a send is in flight share the next batch, in order."""
    processor, downstream = build(timeout=LONG)
    downstream.hold = True
    first = consume(processor, 1, "x")
    await eventually(lambda: len(downstream.received) == 1)
    callers = [consume(processor, 2, tag) for tag in "abc"]
    await run_pending()
    assert downstream.sent() == [["x0"]]
    downstream.release(0)
    await eventually(lambda: len(downstream.received) == 2)
    assert downstream.sent()[1] == ["a0", "a1", "b0", "b1", "c0", "c1"]
    await asyncio.wait_for(first, WAIT)
    assert not any(caller.done() for caller in callers)
    downstream.release(1)
    await asyncio.wait_for(asyncio.gather(*callers), WAIT)
    assert len(downstream.received) == 2


async def test_records_gathered_behind_a_stuck_send_go_after_the_timeout(build: Build) -> None:
    """``timeout`` bounds how long records wait behind a send that does not finish."""
    processor, downstream = build(timeout="50ms")
    downstream.hold = True
    stuck = consume(processor, 1, "x")
    await eventually(lambda: len(downstream.received) == 1)
    gathered = consume(processor, 2, "a")
    await eventually(lambda: len(downstream.received) == 2)
    assert downstream.sent() == [["x0"], ["a0", "a1"]]
    downstream.release(1)
    await asyncio.wait_for(gathered, WAIT)
    assert not stuck.done()


async def test_gathered_records_reaching_send_batch_size_go_while_a_send_is_in_flight(
    build: Build,
) -> None:
    """Once ``send_batch_size`` records have gathered they go, without waiting for the send."""
    processor, downstream = build(send_batch_size=4, timeout=LONG)
    downstream.hold = True
    stuck = consume(processor, 1, "x")
    await eventually(lambda: len(downstream.received) == 1)
    first = consume(processor, 2, "a")
    await run_pending()
    assert downstream.sent() == [["x0"]]  # two gathered: below the size
    second = consume(processor, 2, "b")
    await eventually(lambda: len(downstream.received) == 2)
    assert downstream.sent() == [["x0"], ["a0", "a1", "b0", "b1"]]
    downstream.release(1)
    await asyncio.wait_for(asyncio.gather(first, second), WAIT)
    assert not stuck.done()


async def test_send_batch_max_size_splits_a_gathered_batch_into_concurrent_pieces(
    build: Build,
) -> None:
    """Gathered records above ``send_batch_max_size`` go at once as several batches, and a
    caller whose records are in several of them waits for all of them."""
    processor, downstream = build(send_batch_size=3, send_batch_max_size=3, timeout=LONG)
    downstream.hold = True
    consume(processor, 1, "x")
    await eventually(lambda: len(downstream.received) == 1)
    small = consume(processor, 2, "a")
    large = consume(processor, 5, "b")
    await eventually(lambda: len(downstream.received) == 4)
    assert downstream.sent() == [["x0"], ["a0", "a1", "b0"], ["b1", "b2", "b3"], ["b4"]]
    downstream.release(1, 2)
    await asyncio.wait_for(small, WAIT)
    await run_pending()
    assert not large.done()
    downstream.release(3)
    await asyncio.wait_for(large, WAIT)


async def test_an_input_above_send_batch_max_size_is_split_and_its_caller_waits_for_all(
    build: Build,
) -> None:
    """A large input to an idle tenant goes at once in pieces, remainder included."""
    processor, downstream = build(send_batch_size=3, send_batch_max_size=3, timeout=LONG)
    downstream.hold = True
    caller = consume(processor, 7, "r")
    await eventually(lambda: len(downstream.received) == 3)
    assert downstream.sent() == [["r0", "r1", "r2"], ["r3", "r4", "r5"], ["r6"]]
    downstream.release(0, 2)
    await run_pending()
    assert not caller.done()
    downstream.release(1)
    await asyncio.wait_for(caller, WAIT)


async def test_tenants_never_share_a_batch_nor_wait_for_each_other_s_sends(build: Build) -> None:
    """One tenant's send in flight holds neither another tenant's records nor its caller."""
    processor, downstream = build(timeout=LONG)
    downstream.hold = True
    stuck = consume(processor, 1, "x", tenant="acme")
    await eventually(lambda: len(downstream.received) == 1)
    gathered = consume(processor, 1, "a", tenant="acme")
    other = consume(processor, 2, "g", tenant="globex")
    await eventually(lambda: len(downstream.received) == 2)
    downstream.release(1)
    await asyncio.wait_for(other, WAIT)
    assert not stuck.done() and not gathered.done()
    downstream.release(0)
    await eventually(lambda: len(downstream.received) == 3)
    downstream.release(2)
    await asyncio.wait_for(asyncio.gather(stuck, gathered), WAIT)
    assert [(b.tenant, bodies(b)) for b in downstream.received] == [
        ("acme", ["x0"]),
        ("globex", ["g0", "g1"]),
        ("acme", ["a0"]),
    ]


async def test_a_failed_batch_fails_exactly_its_callers_and_the_next_gathered_batch_goes(
    build: Build,
) -> None:
    """The callers whose records were in a refused batch get its error, nobody else does,
    and what gathered behind the refused batch is still sent."""
    processor, downstream = build(timeout=LONG)
    refused = RetryableError("downstream unavailable", component="downstream")
    downstream.hold, downstream.refuse = True, {1: refused}
    before = consume(processor, 1, "x")
    await eventually(lambda: len(downstream.received) == 1)
    in_failed = [consume(processor, 1, tag) for tag in "ab"]
    await run_pending()
    downstream.release(0)
    await eventually(lambda: len(downstream.received) == 2)
    after = consume(processor, 1, "c")
    await run_pending()
    downstream.release(1)
    await eventually(lambda: len(downstream.received) == 3)
    downstream.release(2)
    async with asyncio.timeout(WAIT):
        results = await asyncio.gather(before, *in_failed, after, return_exceptions=True)
    assert results == [None, refused, refused, None]
    assert downstream.sent() == [["x0"], ["a0", "b0"], ["c0"]]
    assert [bodies(b) for b in downstream.accepted] == [["x0"], ["c0"]]


async def test_a_failed_part_of_a_split_input_fails_its_caller(build: Build) -> None:
    """A caller whose input was split raises when a downstream part was refused."""
    processor, downstream = build(send_batch_size=2, send_batch_max_size=2, timeout=LONG)
    downstream.hold, downstream.refuse = True, {1: RetryableError("refused")}
    caller = consume(processor, 5, "r")
    await eventually(lambda: len(downstream.received) == 3)
    downstream.release_all()
    with pytest.raises(RetryableError, match="refused"):
        await asyncio.wait_for(caller, WAIT)


async def test_consume_does_not_return_before_the_downstream_accepted(build: Build) -> None:
    """While the downstream holds the batch, the caller keeps waiting."""
    processor, downstream = build(timeout=LONG)
    downstream.hold = True
    caller = consume(processor, 2, "r")
    await eventually(lambda: len(downstream.received) == 1)
    await run_pending()
    assert not caller.done()
    downstream.release(0)
    await asyncio.wait_for(caller, WAIT)
    assert len(downstream.accepted) == 1


async def test_shutdown_sends_what_has_gathered_at_once_and_waits_for_every_send(
    build: Build,
) -> None:
    """Shutdown does not wait for the send in flight to send what gathered behind it, and
    returns only once every send has settled."""
    processor, downstream = build(timeout=LONG)
    downstream.hold = True
    stuck = consume(processor, 1, "x")
    await eventually(lambda: len(downstream.received) == 1)
    gathered = consume(processor, 2, "a")
    await run_pending()
    shutdown = asyncio.create_task(processor.shutdown())
    await eventually(lambda: len(downstream.received) == 2)
    assert downstream.sent() == [["x0"], ["a0", "a1"]]
    await run_pending()
    assert not shutdown.done()
    downstream.release_all()
    await asyncio.wait_for(shutdown, WAIT)
    assert stuck.done() and gathered.done()
    assert [bodies(b) for b in downstream.accepted] == [["x0"], ["a0", "a1"]]


async def test_consume_after_shutdown_is_refused_as_retryable(build: Build) -> None:
    """A stopped batch processor refuses new records with a retryable error."""
    processor, _ = build()
    await processor.shutdown()
    await processor.shutdown()
    with pytest.raises(RetryableError):
        await processor.consume(LogBatch("acme", records(1)))


async def test_a_cancelled_caller_s_gathered_records_still_go_downstream(build: Build) -> None:
    """Records accepted by the processor are sent even if their caller stops waiting."""
    processor, downstream = build(timeout=LONG)
    downstream.hold = True
    consume(processor, 1, "x")
    await eventually(lambda: len(downstream.received) == 1)
    caller = consume(processor, 2, "a")
    await run_pending()
    caller.cancel()
    downstream.release_all()
    await processor.shutdown()
    assert caller.cancelled()
    assert downstream.sent() == [["x0"], ["a0", "a1"]]


async def test_a_cancelled_caller_leaves_no_unretrieved_error(build: Build) -> None:
    """A failure for a caller that stopped waiting is not reported as never retrieved."""
    problems: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, ctx: problems.append(ctx))
    processor, downstream = build(timeout=LONG)
    downstream.hold, downstream.refuse_every = True, True
    caller = consume(processor, 2, "r")
    await eventually(lambda: len(downstream.received) == 1)
    caller.cancel()
    downstream.release_all()
    await processor.shutdown()
    del caller
    gc.collect()
    assert problems == []


async def test_the_caller_s_batch_is_not_changed(build: Build) -> None:
    """Downstream batches are new objects; the caller's batch and list stay as they were."""
    processor, downstream = build(send_batch_size=2, send_batch_max_size=2, timeout=LONG)
    original = records(5)
    batch = LogBatch("acme", original)
    snapshot = list(original)
    async with asyncio.timeout(WAIT):
        await processor.consume(batch)
    assert batch.records is original and original == snapshot
    assert all(b is not batch and b.records is not original for b in downstream.received)


async def test_counters_count_accepted_batches_and_records(build: Build) -> None:
    """``sent_batches`` and ``sent_records`` count what the downstream accepted, only."""
    processor, downstream = build(send_batch_size=2, send_batch_max_size=2, timeout=LONG)
    async with asyncio.timeout(WAIT):
        await processor.consume(LogBatch("acme", records(5)))
    downstream.refuse_every = True
    with pytest.raises(RetryableError):
        await asyncio.wait_for(processor.consume(LogBatch("acme", records(1))), WAIT)
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


def test_the_defaults_are_the_opentelemetry_collector_s() -> None:
    """``send_batch_size`` 8192, ``timeout`` 200 ms, no ``send_batch_max_size``."""
    config = BatchConfig()
    assert (config.send_batch_size, config.timeout.total_seconds()) == (8192, 0.2)
    assert config.send_batch_max_size == 0


async def test_records_refused_downstream_are_reported_to_their_own_caller_only(
    build: Build,
) -> None:
    """Two callers' records go down in one batch and the downstream refuses one record of
    the second caller: the first caller succeeds, the second hears of exactly that record."""
    from collector.consumererror import PartialRejection

    processor, downstream = build(timeout=LONG)
    downstream.hold = True
    first = consume(processor, 1, "x")  # goes at once and holds the line
    await eventually(lambda: len(downstream.received) == 1)
    a = asyncio.create_task(processor.consume(LogBatch("acme", records(3, "a"))))
    b_records = records(3, "b")
    b = asyncio.create_task(processor.consume(LogBatch("acme", b_records)))
    await asyncio.sleep(0.01)

    downstream.refuse[1] = PartialRejection(1, "b1 refused", records=[b_records[1]])
    downstream.release(0)
    await eventually(lambda: len(downstream.received) == 2)
    assert downstream.sent()[1] == ["a0", "a1", "a2", "b0", "b1", "b2"]
    downstream.release(1)
    await first
    await a
    with pytest.raises(PartialRejection) as caught:
        await b
    assert caught.value.rejected == 1
    assert caught.value.records == [b_records[1]]
