"""``batch`` processor: group commit per tenant, keeping acknowledgement end to end.

Records are grouped into larger downstream batches the way a database groups commits:
what arrives while a send is in flight gathers and goes together once that send finishes.
A lone client is never held, and under load batches grow by themselves, to what arrives
during one send. Unlike the OpenTelemetry Collector's batch processor, records are never
held back for ``timeout`` in the hope that more come: ``timeout`` only bounds how long
records wait behind a send that is slow to finish.

Each tenant is handled on its own: tenants never share a downstream batch, and one tenant's
sends never hold another tenant's records. A tenant's arriving records gather in arrival
order, and everything gathered for it is sent as soon as one of these holds:

- none of the tenant's sends is in flight: a ``consume`` call that arrives then is sent at
  once;
- one of the tenant's sends finishes, accepted or failed: what gathered during it goes;
- the gathered records number ``send_batch_size`` or more, even while a send is in flight;
- the first gathered record has waited ``timeout`` (the longest any record waits before it
  is sent), even while a send is in flight;
- the processor shuts down: ``shutdown`` sends everything gathered at once and returns once
  every send has settled; ``consume`` is refused with a retryable error from then on.

What is sent goes, in arrival order, as one downstream batch, or, when
``send_batch_max_size`` is set and it holds more records than that, cut into pieces of at
most ``send_batch_max_size`` records that are sent concurrently. So one tenant may have
several sends in flight (pieces, and sends started by ``send_batch_size`` or ``timeout``),
and they may finish in any order; the callers waiting on them bound how many there are.

``consume`` returns only once every downstream batch holding one of its records has been
accepted, and raises the downstream error if any of them failed (after all of them have
settled). Nothing answers early. A failed batch fails exactly the callers with records in
it; what gathered behind it still goes. When the downstream refuses some records for good
and says which (a ``PartialRejection`` carrying them), each caller hears only of its own:
the others succeed. A caller that is cancelled only stops waiting: its
records were accepted and still go downstream. A send cancelled from outside (the event
loop closing) fails its callers with a retryable error and starts no send; what gathered
behind it goes when its ``timeout`` passes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from typing import Any, ClassVar

import structlog
from pydantic import Field, model_validator

from collector.component import (
    ALL_SIGNALS,
    ComponentConfig,
    ComponentID,
    Consumer,
    Factory,
    Host,
    Kind,
)
from collector.confmap.units import Duration
from collector.consumererror import PartialRejection, RetryableError
from collector.pdata.signals import Batch
from collector.telemetry import metrics

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
    "groups records into batches per tenant: what arrives during a send goes with the next",
    ALL_SIGNALS,
)


def _worse(current: BaseException | None, new: BaseException) -> BaseException:
    """The error a caller gets when several batches holding its records failed: a retryable
    one over a refusal (the client sends it all again), refusals of records added up."""
    if current is None:
        return new
    if isinstance(current, PartialRejection) and isinstance(new, PartialRejection):
        return PartialRejection(
            current.rejected + new.rejected, current.message, component=current.component,
            records=[*(current.records or ()), *(new.records or ())],
        )  # fmt: skip
    if isinstance(new, RetryableError) and not isinstance(current, RetryableError):
        return new
    return current


class _Ack:
    """One ``consume`` call waiting for its records: settled when none remain unsettled."""

    __slots__ = ("error", "future", "remaining")

    def __init__(self, future: asyncio.Future[None], remaining: int) -> None:
        self.future = future
        self.remaining = remaining
        self.error: BaseException | None = None

    def settle(self, count: int, error: BaseException | None) -> None:
        if error is not None:
            self.error = _worse(self.error, error)
        self.remaining -= count
        if self.remaining == 0 and not self.future.done():  # done: the caller was cancelled
            if self.error is None:
                self.future.set_result(None)
            else:
                self.future.set_exception(self.error)


class _Segment:
    """The records of one ``consume`` call not yet cut into a downstream batch."""

    __slots__ = ("ack", "offset", "records")

    def __init__(self, ack: _Ack, records: list[Any]) -> None:
        self.ack = ack
        self.records = records  # the caller's list: read, never changed
        self.offset = 0


class _Tenant:
    """One tenant's sends in flight and the records gathered behind them."""

    __slots__ = ("count", "in_flight", "make", "name", "segments", "timer")

    def __init__(self, name: str, make: Callable[[str, list[Any]], Batch]) -> None:
        self.name = name
        #: the batch type of the pipeline's signal (log records, data points or spans)
        self.make = make
        self.segments: deque[_Segment] = deque()
        self.count = 0  # records gathered, not yet sent
        self.in_flight = 0  # downstream sends started and not yet finished
        self.timer: asyncio.TimerHandle | None = None  # armed while records gather


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
        #: tenants with a send in flight or records gathered; the others are forgotten
        self._tenants: dict[str, _Tenant] = {}
        self._sending: set[asyncio.Task[None]] = set()
        self._closed = False

    async def start(self, host: Host) -> None:
        pass

    async def consume(self, batch: Batch) -> None:
        if self._closed:
            raise RetryableError("the batch processor is shut down", component=str(self.id))
        if not batch.records:
            return
        loop = asyncio.get_running_loop()
        ack = _Ack(loop.create_future(), len(batch.records))
        tenant = self._tenants.get(batch.tenant)
        if tenant is None:
            tenant = self._tenants[batch.tenant] = _Tenant(batch.tenant, type(batch))
        tenant.segments.append(_Segment(ack, batch.records))
        tenant.count += len(batch.records)
        if tenant.in_flight == 0 or tenant.count >= self.config.send_batch_size:
            self._send_gathered(tenant)
        elif tenant.timer is None:
            tenant.timer = loop.call_later(
                self.config.timeout.total_seconds(), self._send_gathered, tenant
            )
        await ack.future

    async def shutdown(self) -> None:
        """Sends every gathered record and waits for all downstream sends to settle."""
        self._closed = True
        for tenant in list(self._tenants.values()):
            self._send_gathered(tenant)
        while self._sending:
            await asyncio.wait(list(self._sending))

    def _send_gathered(self, tenant: _Tenant) -> None:
        """Sends everything gathered for ``tenant``, in pieces of at most
        ``send_batch_max_size``; also what the timer calls once ``timeout`` has passed."""
        if tenant.timer is not None:
            tenant.timer.cancel()
            tenant.timer = None
        while tenant.count:
            self._cut(tenant)

    def _cut(self, tenant: _Tenant) -> None:
        """Takes the oldest gathered records (at most ``send_batch_max_size``) and sends them."""
        size = tenant.count
        if self.config.send_batch_max_size:
            size = min(size, self.config.send_batch_max_size)
        records: list[Any] = []
        parts: list[tuple[_Ack, int]] = []
        while len(records) < size:
            segment = tenant.segments[0]
            take = min(size - len(records), len(segment.records) - segment.offset)
            if segment.offset == 0 and take == len(segment.records):
                records.extend(segment.records)
            else:
                records.extend(segment.records[segment.offset : segment.offset + take])
            parts.append((segment.ack, take))
            segment.offset += take
            if segment.offset == len(segment.records):
                tenant.segments.popleft()
        tenant.count -= size
        tenant.in_flight += 1
        task = asyncio.get_running_loop().create_task(
            self._send(tenant, tenant.make(tenant.name, records), parts)
        )
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    def _finished(self, tenant: _Tenant, *, cancelled: bool = False) -> None:
        """One of ``tenant``'s sends is over: what gathered behind it goes now (unless the
        send was cancelled: then the timer sends it), and an idle tenant is forgotten."""
        tenant.in_flight -= 1
        if tenant.count and not cancelled:
            self._send_gathered(tenant)
        elif tenant.count == 0 and tenant.in_flight == 0:
            del self._tenants[tenant.name]

    async def _send(self, tenant: _Tenant, batch: Batch, parts: list[tuple[_Ack, int]]) -> None:
        error: BaseException | None = None
        try:
            await self.next_consumer.consume(batch)
        except asyncio.CancelledError:
            self._finished(tenant, cancelled=True)
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
        self._finished(tenant)
        if error is not None and all(ack.future.done() for ack, _ in parts):
            log.warning(
                "batch send failed and no caller is waiting for it",
                component=str(self.id),
                tenant=batch.tenant,
                log_records=len(batch),
                error=str(error),
            )
        if isinstance(error, PartialRejection) and error.records is not None:
            self._settle_partial(batch, parts, error)
            return
        for ack, count in parts:
            ack.settle(count, error)

    def _settle_partial(
        self, batch: Batch, parts: list[tuple[_Ack, int]], error: PartialRejection
    ) -> None:
        """Each caller hears of its own refused records only; the others' calls succeed."""
        assert error.records is not None
        refused = {id(r) for r in error.records}
        offset = 0
        for ack, count in parts:
            mine = [r for r in batch.records[offset : offset + count] if id(r) in refused]
            offset += count
            if not mine:
                ack.settle(count, None)
                continue
            ack.settle(
                count,
                PartialRejection(len(mine), error.message, component=error.component,
                                 records=mine),
            )  # fmt: skip
