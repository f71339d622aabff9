"""``batch`` processor: groups records into larger batches by size and time, per tenant, as
the OpenTelemetry Collector's batch processor does, while keeping acknowledgement end to end.

Each tenant has its own pending batch; tenants are never merged. Records are cut from the
pending batch and sent downstream when it holds ``send_batch_size`` records, or when
``timeout`` has passed since its first record arrived, or on shutdown. A cut takes every
pending record, in pieces of at most ``send_batch_max_size`` when that is set (a remainder
smaller than ``send_batch_size`` stays pending, with the timer restarted for it).

``consume`` returns only once every downstream batch holding one of its records has been
accepted, and raises the downstream error if any of them failed (after all of them have
settled). Nothing answers early. Every cut is sent at once in its own task, so several
downstream sends, even for one tenant, may run concurrently and finish in any order; the
callers waiting on them bound how many there are. A caller that is cancelled only stops
waiting: its records were accepted and still go downstream.
"""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import timedelta
from typing import ClassVar

import structlog
from pydantic import Field, model_validator

from collector import metrics
from collector.component import ComponentConfig, ComponentID, Consumer, Factory, Host, Kind
from collector.errors import RetryableError
from collector.records import LogBatch, LogRecord
from collector.units import Duration

TYPE = "batch"
log = structlog.get_logger(__name__)


class BatchConfig(ComponentConfig):
    send_batch_size: int = Field(8192, gt=0)
    timeout: Duration = Field(timedelta(milliseconds=200), gt=timedelta(0))
    send_batch_max_size: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _max_not_below_size(self) -> BatchConfig:
        if self.send_batch_max_size and self.send_batch_max_size < self.send_batch_size:
            raise ValueError("send_batch_max_size must be greater or equal to send_batch_size")
        return self


def create(
    component_id: ComponentID, config: BatchConfig, next_consumer: Consumer
) -> BatchProcessor:
    return BatchProcessor(component_id, config, next_consumer)


FACTORY = Factory(
    Kind.PROCESSOR,
    TYPE,
    BatchConfig,
    create,
    "groups records into batches by size and time, per tenant",
)


class _Ack:
    """One ``consume`` call waiting for its records: settled when none remain unsettled."""

    __slots__ = ("error", "future", "remaining")

    def __init__(self, future: asyncio.Future[None], remaining: int) -> None:
        self.future = future
        self.remaining = remaining
        self.error: BaseException | None = None

    def settle(self, count: int, error: BaseException | None) -> None:
        if error is not None and self.error is None:
            self.error = error
        self.remaining -= count
        if self.remaining == 0 and not self.future.done():  # done: the caller was cancelled
            if self.error is None:
                self.future.set_result(None)
            else:
                self.future.set_exception(self.error)


class _Segment:
    """The records of one ``consume`` call not yet cut into a downstream batch."""

    __slots__ = ("ack", "offset", "records")

    def __init__(self, ack: _Ack, records: list[LogRecord]) -> None:
        self.ack = ack
        self.records = records  # the caller's list: read, never changed
        self.offset = 0


class _Pending:
    """One tenant's pending batch."""

    __slots__ = ("count", "segments", "timer")

    def __init__(self) -> None:
        self.segments: deque[_Segment] = deque()
        self.count = 0
        self.timer: asyncio.TimerHandle | None = None


class BatchProcessor:
    mutates_data: ClassVar[bool] = False

    def __init__(
        self, component_id: ComponentID, config: BatchConfig, next_consumer: Consumer
    ) -> None:
        self.id = component_id
        self.config = config
        self.next_consumer = next_consumer
        #: downstream batches accepted, and the records in them
        self.sent_batches = 0
        self.sent_records = 0
        self._send_size = metrics.batch_send_size.labels(str(component_id))
        self._pending: dict[str, _Pending] = {}
        self._sending: set[asyncio.Task[None]] = set()
        self._closed = False

    async def start(self, host: Host) -> None:
        pass

    async def consume(self, batch: LogBatch) -> None:
        if self._closed:
            raise RetryableError("the batch processor is shut down", component=str(self.id))
        if not batch.records:
            return
        loop = asyncio.get_running_loop()
        ack = _Ack(loop.create_future(), len(batch.records))
        pending = self._pending.get(batch.tenant)
        if pending is None:
            pending = self._pending[batch.tenant] = _Pending()
        pending.segments.append(_Segment(ack, batch.records))
        pending.count += len(batch.records)
        if pending.count >= self.config.send_batch_size:
            while pending.count >= self.config.send_batch_size:
                self._cut(batch.tenant, pending)
            self._restart_timer(batch.tenant, pending)
        elif pending.timer is None:
            self._restart_timer(batch.tenant, pending)
        await ack.future

    async def shutdown(self) -> None:
        """Sends every pending record and waits for all downstream sends to settle."""
        self._closed = True
        for tenant in list(self._pending):
            self._flush(tenant)
        while self._sending:
            await asyncio.wait(list(self._sending))

    def _restart_timer(self, tenant: str, pending: _Pending) -> None:
        """Times the flush of what is pending now; forgets the tenant if nothing is."""
        if pending.timer is not None:
            pending.timer.cancel()
            pending.timer = None
        if pending.count == 0:
            del self._pending[tenant]
            return
        pending.timer = asyncio.get_running_loop().call_later(
            self.config.timeout.total_seconds(), self._flush, tenant
        )

    def _flush(self, tenant: str) -> None:
        """Cuts and sends everything pending for ``tenant`` (timer expiry or shutdown)."""
        pending = self._pending.pop(tenant, None)
        if pending is None:
            return
        if pending.timer is not None:
            pending.timer.cancel()
            pending.timer = None
        while pending.count:
            self._cut(tenant, pending)

    def _cut(self, tenant: str, pending: _Pending) -> None:
        """Takes the oldest pending records (at most ``send_batch_max_size``) and sends them."""
        size = pending.count
        if self.config.send_batch_max_size:
            size = min(size, self.config.send_batch_max_size)
        records: list[LogRecord] = []
        parts: list[tuple[_Ack, int]] = []
        while len(records) < size:
            segment = pending.segments[0]
            take = min(size - len(records), len(segment.records) - segment.offset)
            if segment.offset == 0 and take == len(segment.records):
                records.extend(segment.records)
            else:
                records.extend(segment.records[segment.offset : segment.offset + take])
            parts.append((segment.ack, take))
            segment.offset += take
            if segment.offset == len(segment.records):
                pending.segments.popleft()
        pending.count -= size
        task = asyncio.get_running_loop().create_task(self._send(LogBatch(tenant, records), parts))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: LogBatch, parts: list[tuple[_Ack, int]]) -> None:
        error: BaseException | None = None
        try:
            await self.next_consumer.consume(batch)
        except asyncio.CancelledError:
            cancelled = RetryableError("batch send was cancelled", component=str(self.id))
            for ack, count in parts:
                ack.settle(count, cancelled)
            raise
        except Exception as exc:
            error = exc
        else:
            self.sent_batches += 1
            self.sent_records += len(batch)
            self._send_size.observe(len(batch))
        if error is not None and all(ack.future.done() for ack, _ in parts):
            log.warning(
                "batch send failed and no caller is waiting for it",
                component=str(self.id),
                tenant=batch.tenant,
                log_records=len(batch),
                error=str(error),
            )
        for ack, count in parts:
            ack.settle(count, error)
