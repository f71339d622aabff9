"""What every exporter that talks to a remote system shares, named as in the OpenTelemetry
Collector's exporterhelper: ``retry_on_failure`` and ``sending_queue``.

:class:`QueuedSender` delivers a batch so that ``export`` returns only once it is durable:

- Downstream healthy: send now. Success returns.
- Downstream failing, with ``sending_queue.storage``: the batch is written to the disk queue
  and fsynced, and that is the acknowledgement. A drainer sends queued batches in order,
  retrying with backoff for as long as it takes (queued batches are never dropped), and
  while anything is queued new batches queue behind it so their order holds.
- With ``sending_queue.write_ahead``, every batch is written to the disk queue and that is
  the acknowledgement, healthy downstream or not; the drainer sends queued batches on, many
  at a time when the exporter can send them as stored (``send_encoded``): the clients never
  wait for the destination, and its sends grow with the load.
- Downstream failing, no storage: retries with backoff within ``max_elapsed_time``. Once
  the downstream is known to be down, further batches fail at once with a retryable error
  (the receiver answers 503 with ``Retry-After``) until a retry is due.
- Queue full: a retryable error at once.
- A queued batch the destination refuses for good (a :class:`PermanentError`, or the records
  a :class:`PartialRejection` names) moves to the queue's dead-letter table and the queue
  goes on; it never stalls the queue.
- The drainer is supervised: if it fails it is logged, counted
  (``session_collector_exporter_queue_drain_failures``) and restarted after a backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TypeVar

import structlog
from pydantic import Field, model_validator

from collector.component import ComponentConfig, ComponentID
from collector.component.process import worker_index
from collector.confmap.units import Duration
from collector.consumererror import PartialRejection, PermanentError, RetryableError
from collector.exporterhelper.disk_queue import DiskQueue, QueuedBatch, QueueFull
from collector.pdata.signals import (
    Batch,
    Signal,
    batch_of,
    decode_batch,
    encode_batch,
    signal_of,
)
from collector.telemetry import metrics

log = structlog.get_logger(__name__)
T = TypeVar("T")


class RetrySettings(ComponentConfig):
    """``retry_on_failure``: exponential backoff with jitter."""

    enabled: bool = True
    initial_interval: Duration = timedelta(seconds=1)
    max_interval: Duration = timedelta(seconds=5)
    #: how long one batch may be retried before its sender gets the error; 0 = forever
    max_elapsed_time: Duration = timedelta(seconds=15)


class QueueSettings(ComponentConfig):
    """``sending_queue``: a durable queue on disk for while the downstream is away."""

    enabled: bool = True
    #: the most batches the queue holds
    queue_size: int = Field(1000, gt=0)
    #: folder of the queue's files; without it there is no queue
    storage: str | None = None
    #: every batch goes through the queue: acknowledged once fsynced there, sent on by the
    #: queue's drainer, many queued batches at a time (needs ``storage``)
    write_ahead: bool = False

    @model_validator(mode="after")
    def _write_ahead_needs_storage(self) -> QueueSettings:
        if self.write_ahead and not self.storage:
            raise ValueError("write_ahead needs storage: the folder of the queue's files")
        return self


Send = Callable[[Batch], Awaitable[None]]
#: sends queued log batches as they are stored (tenant, encoded request), many at once, with
#: no decoding; a :class:`PermanentError` makes the drainer send them one by one instead.
#: Queued metrics and traces always go one by one through ``send``.
SendEncoded = Callable[[list[QueuedBatch]], Awaitable[None]]
#: seconds a write-ahead queue may take at shutdown to store what it holds
SHUTDOWN_DRAIN = 5.0
#: the most records the drainer hands to ``send_encoded`` at once
DRAIN_RECORDS = 50_000
#: the most payload bytes it hands to ``send_encoded`` at once (one request may be larger)
DRAIN_BYTES = 64 * 1024 * 1024


class QueuedSender:
    def __init__(
        self,
        component: ComponentID,
        send: Send,
        retry: RetrySettings,
        queue: QueueSettings,
        send_encoded: SendEncoded | None = None,
    ) -> None:
        self.component = str(component)
        self._send = send
        self._send_encoded = send_encoded
        self.retry = retry
        self.queue_settings = queue
        self.queue: DiskQueue | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sending-queue")
        self._down_until = 0.0
        self._failing_since: float | None = None
        self._backoff = retry.initial_interval.total_seconds()
        self._wake = asyncio.Event()
        self._empty = asyncio.Event()  # set when the drainer leaves the queue empty
        self._drainer: asyncio.Task[None] | None = None
        self._stopping = False
        worker = worker_index()
        suffix = f".w{worker}" if worker is not None else ""
        file_name = f"{component.type}_{component.name or 'default'}{suffix}.sqlite"
        self._path = Path(queue.storage) / file_name if queue.storage else None
        self._sent_by = {
            s: metrics.of_signal(metrics.exporter_sent, s).labels(self.component) for s in Signal
        }
        self._sent = self._sent_by[Signal.LOGS]
        self._send_failed_by = {
            s: metrics.of_signal(metrics.exporter_send_failed, s).labels(self.component)
            for s in Signal
        }
        self._enqueue_failed_by = {
            s: metrics.of_signal(metrics.exporter_enqueue_failed, s).labels(self.component)
            for s in Signal
        }
        self._queue_size = metrics.exporter_queue_size.labels(self.component)
        self._drain_failures = metrics.exporter_drain_failures.labels(self.component)
        self._dead_lettered = metrics.exporter_dead_lettered.labels(self.component)
        metrics.exporter_queue_capacity.labels(self.component).set(
            queue.queue_size if self._path is not None and queue.enabled else 0
        )

    @property
    def failing_since(self) -> float | None:
        """When delivery started failing (monotonic clock), or ``None`` while it works."""
        return self._failing_since

    @property
    def queued_batches(self) -> int:
        return len(self.queue) if self.queue is not None else 0

    async def start(self) -> None:
        if self._path is not None and self.queue_settings.enabled:
            self.queue = await self._run(DiskQueue, self._path, self.queue_settings.queue_size)
            self._queue_size.set(len(self.queue))
            if len(self.queue):
                log.info(
                    "sending queue holds batches from before",
                    component=self.component,
                    batches=len(self.queue),
                    records=self.queue.records,
                )
            self._drainer = asyncio.create_task(self._drain(), name=f"{self.component}-drain")

    async def shutdown(self) -> None:
        """Stop draining; whatever is still queued stays on disk for the next start. A
        write-ahead queue whose downstream works first gets up to ``SHUTDOWN_DRAIN`` seconds
        to store what it holds, so that what was answered is readable after a stop."""
        queue = self.queue
        if (
            queue is not None
            and self.queue_settings.write_ahead
            and self._drainer is not None
            and not self._is_down()
        ):
            self._empty.clear()
            if len(queue):
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(SHUTDOWN_DRAIN):
                        await self._empty.wait()
        self._stopping = True
        self._wake.set()
        if self._drainer is not None:
            self._drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drainer
            self._drainer = None
        if self.queue is not None:
            await self._run(self.queue.close)
            self.queue = None
        self._executor.shutdown(wait=False)

    async def export(self, batch: Batch) -> None:
        try:
            await self._export(batch)
        except RetryableError:
            self._send_failed_by[signal_of(batch)].inc(len(batch.records))
            raise

    async def _export(self, batch: Batch) -> None:
        if self._stopping:
            raise RetryableError("exporter is shutting down", component=self.component)
        queue = self.queue
        if queue is not None and (self.queue_settings.write_ahead or len(queue) or self._is_down()):
            await self._enqueue(batch)
            return
        if queue is None and self._is_down():
            raise RetryableError(
                "downstream unavailable", component=self.component,
                retry_after=max(1.0, self._down_until - time.monotonic()),
            )  # fmt: skip
        try:
            await self._deliver(batch)
            return
        except RetryableError as exc:
            self._failed(exc)
            if queue is not None:
                await self._enqueue(batch)
                return
            await self._retry(batch, exc)

    async def _deliver(self, batch: Batch) -> None:
        """Send once; count what the destination accepted."""
        try:
            await self._send(batch)
        except PartialRejection as exc:
            self._sent_by[signal_of(batch)].inc(len(batch.records) - exc.rejected)
            self._healthy()
            raise
        self._sent_by[signal_of(batch)].inc(len(batch.records))
        self._healthy()

    async def _retry(self, batch: Batch, first: RetryableError) -> None:
        if not self.retry.enabled:
            raise first
        limit = self.retry.max_elapsed_time.total_seconds()
        deadline = time.monotonic() + limit if limit else float("inf")
        delay = self.retry.initial_interval.total_seconds()
        error = first
        while time.monotonic() + delay <= deadline and not self._stopping:
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            try:
                await self._deliver(batch)
                return
            except RetryableError as exc:
                error = exc
                self._failed(exc)
                delay = min(delay * 2, self.retry.max_interval.total_seconds())
        raise RetryableError(error.message, component=self.component, retry_after=max(1.0, delay))

    async def _enqueue(self, batch: Batch) -> None:
        assert self.queue is not None
        payload = encode_batch(batch)
        try:
            await self._run(
                self.queue.put, batch.tenant, payload, len(batch.records), signal_of(batch)
            )
            self._queue_size.set(len(self.queue))
        except QueueFull as exc:
            self._enqueue_failed_by[signal_of(batch)].inc(len(batch.records))
            raise RetryableError(str(exc), component=self.component, retry_after=5.0) from None
        self._wake.set()

    async def _drain(self) -> None:
        """Run the drainer, restarting it (after a backoff) whenever it fails."""
        delay = self.retry.initial_interval.total_seconds()
        while not self._stopping:
            try:
                await self._drain_queue()
            except asyncio.CancelledError:
                raise
            except Exception:
                self._drain_failures.inc()
                log.exception(
                    "sending queue drainer failed; restarting it",
                    component=self.component,
                    retry_in=round(delay, 2),
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry.max_interval.total_seconds())

    async def _drain_queue(self) -> None:
        queue = self.queue
        assert queue is not None
        while not self._stopping:
            if not len(queue):
                self._wake.clear()
                await self._wake.wait()
                continue
            wait = self._down_until - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)  # the downstream failed: retry when backoff ends
            if self._send_encoded is None:
                items = await self._run(queue.peek, 1)
            else:
                items = await self._run(
                    partial(queue.peek, 1000, max_records=DRAIN_RECORDS, max_bytes=DRAIN_BYTES)
                )
                logs = 0
                while logs < len(items) and items[logs].signal == Signal.LOGS:
                    logs += 1
                if logs < len(items):  # metrics or traces go one by one, in their turn
                    items = items[: logs or 1]
            if self._send_encoded is not None and items[0].signal == Signal.LOGS:
                try:
                    await self._send_encoded(items)
                except RetryableError as exc:
                    self._failed(exc)
                    continue
                except PermanentError:
                    pass  # some batch holds refused records: one by one finds them
                else:
                    self._sent.inc(sum(item.records for item in items))
                    self._healthy()
                    await self._run(queue.delete_many, items)
                    self._drained(queue)
                    continue
            for item in items:
                try:
                    batch = decode_batch(item.signal, item.tenant, item.payload)
                    await self._deliver(batch)
                except RetryableError as exc:
                    self._failed(exc)
                    break
                except PermanentError as exc:
                    await self._dead_letter(queue, item, exc)
                else:
                    await self._run(queue.delete, item)
                self._drained(queue)

    def _drained(self, queue: DiskQueue) -> None:
        self._queue_size.set(len(queue))
        if not len(queue):
            self._empty.set()
        if not len(queue) and not self.queue_settings.write_ahead:
            log.info("sending queue drained", component=self.component)

    async def _dead_letter(self, queue: DiskQueue, item: QueuedBatch, exc: PermanentError) -> None:
        """Keep what the destination refused for good in the dead-letter table."""
        payload: bytes | None = None
        records = item.records
        if isinstance(exc, PartialRejection):
            records = exc.rejected
            if exc.records is not None:
                payload = encode_batch(batch_of(item.signal, item.tenant, exc.records))
        await self._run(queue.dead_letter, item, payload, records, str(exc)[:4096])
        self._dead_lettered.inc(records)
        log.error(
            "queued records refused for good, kept in the dead-letter table",
            component=self.component,
            tenant=item.tenant,
            records=records,
            of=item.records,
            error=str(exc)[:300],
        )

    def _is_down(self) -> bool:
        return time.monotonic() < self._down_until

    def _healthy(self) -> None:
        self._failing_since = None
        self._down_until = 0.0
        self._backoff = self.retry.initial_interval.total_seconds()

    def _failed(self, exc: RetryableError) -> None:
        if self._failing_since is None:
            self._failing_since = time.monotonic()
        if not self._is_down():
            log.warning(
                "downstream failing",
                component=self.component,
                error=str(exc)[:300],
                queue=self._path is not None,
                retry_in=round(self._backoff, 2),
            )
        self._down_until = time.monotonic() + self._backoff * random.uniform(0.8, 1.2)
        self._backoff = min(self._backoff * 2, self.retry.max_interval.total_seconds())

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)
