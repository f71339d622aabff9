"""``clickhouse`` exporter: stores logs, and through them sessions and prompts, and metrics
and traces, in ClickHouse: embedded chDB (``chdb://PATH``) or a server
(``http(s)://host:port``).

Metrics and traces batches go to the OpenTelemetry Collector's tables (``otel_metrics_*`` by
kind, ``otel_traces``), their columns built in Python on the store's thread
(:mod:`collector.sessions.clickhouse.otel_signals`), one insert per table; their rows are
idempotent on an identity ClickHouse computes, so a redelivery stores nothing twice. The rest
of this describes logs; errors are handled alike for all three.

At start the schema is created or migrated (``create_schema``); a server that is down at
start is connected to, and its schema created, in the background. Inserts run off the event
loop, one at a time (:class:`~collector.sessions.clickhouse.writer.Writer`: batches arriving while
one runs go together in the next). Where the store has the fast path
(:mod:`collector.sessions.clickhouse.ingest`), an insert is the records' OTLP protobuf bytes and
ClickHouse derives every column; otherwise the columns are built in Python
(:mod:`collector.sessions.clickhouse.rows`). ClickHouse fills ``session_events`` through a
materialized view. With ``sending_queue.write_ahead`` every batch is acknowledged once in
the disk queue, whose drainer stores many queued batches per insert (``_send_encoded``).

Errors have a kind (:mod:`collector.sessions.clickhouse.errors`, by type and server code):

- **The data's fault.** Row building already stores every value a column cannot hold as
  empty (:mod:`collector.sessions.clickhouse.rows`), so this is rare. Should an insert still fail
  because of what it holds, the batch is split in halves until the records that fail alone
  are found; every other record is stored, and the ones at fault are handed back as a
  :class:`~collector.consumererror.PartialRejection` that names them and carries them: the OTLP
  receiver answers ``partial_success``, the Kafka receiver writes them to its dead-letter
  topic, the disk queue to its dead-letter table. Nothing is retried, nothing is marked
  down, no other tenant notices.
- **Transport and server conditions** are retried with exponential backoff
  (``retry_on_failure``) or, with ``sending_queue.storage``, kept in the disk queue until the
  server is back. When neither works the error is retryable: the OTLP receiver answers 503,
  the Kafka receiver retries without committing, and a redelivery is harmless because every
  figure is idempotent on the record identity.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, ClassVar

import structlog
from pydantic import Field

from collector.component import ALL_SIGNALS, ComponentID, Factory, Host, Kind
from collector.confmap.units import Duration
from collector.consumererror import PartialRejection, PermanentError, RetryableError
from collector.exporterhelper import QueuedSender, QueueSettings, RetrySettings
from collector.exporterhelper.disk_queue import QueuedBatch
from collector.pdata import otlp_proto
from collector.pdata.records import LogBatch, LogRecord
from collector.pdata.signals import Batch, DataPoint, MetricsBatch, Span
from collector.sessions.clickhouse import (
    ClickHouseSettings,
    Store,
    StoreLocked,
    ingest,
    otel_signals,
)
from collector.sessions.clickhouse import rows as row_columns
from collector.sessions.clickhouse.client import schema_file
from collector.sessions.clickhouse.errors import DataRefused, code_of, is_data_error
from collector.sessions.clickhouse.schema import has_ingest_view, migrate
from collector.sessions.clickhouse.writer import RefusedTogether, Writer
from collector.sessions.events import event_of
from collector.telemetry import metrics

TYPE = "clickhouse"
#: ReplacingMergeTree does not collapse a batch's copies at insert (merges and FINAL do):
#: that work costs more than the rest of an insert
INSERT_SETTINGS = {"optimize_on_insert": 0}
#: the most records one insert of the fast path holds when it gathers batches
MAX_INSERT_RECORDS = 50_000
#: seconds between two reads of the store's count of values stored empty
OUT_OF_RANGE_POLL = 10.0
log = structlog.get_logger(__name__)
#: stores (store, tenant, records): raises DataRefused when the data is at fault
Insert = Callable[[Any, str, list[Any]], Awaitable[None]]


class ClickHouseExporterConfig(ClickHouseSettings):
    create_schema: bool = True
    ttl: Duration = timedelta(0)
    async_insert: bool = False
    timeout: Duration = Field(timedelta(seconds=30), gt=timedelta(0))
    sending_queue: QueueSettings = Field(default_factory=QueueSettings)
    retry_on_failure: RetrySettings = Field(default_factory=RetrySettings)


def create(component_id: ComponentID, config: ClickHouseExporterConfig) -> ClickHouseExporter:
    return ClickHouseExporter(component_id, config)


FACTORY = Factory(
    Kind.EXPORTER,
    TYPE,
    ClickHouseExporterConfig,
    create,
    "stores logs, sessions and prompts, metrics and traces in ClickHouse (embedded chDB or a "
    "server)",
    ALL_SIGNALS,
)


class ClickHouseExporter:
    mutates_data: ClassVar[bool] = False

    def __init__(self, component_id: ComponentID, config: ClickHouseExporterConfig) -> None:
        self.id = component_id
        self.config = config
        self.store: Store | None = None
        self.sender = QueuedSender(
            component_id, self._send, config.retry_on_failure, config.sending_queue,
            send_encoded=self._send_encoded,
        )  # fmt: skip
        self._connector: asyncio.Task[None] | None = None
        #: the fast insert path (ClickHouse parses the records' protobuf), when the store has it
        self._ingest = False
        self._ingest_settings: dict[str, object] = {}
        self._writer = Writer(self._insert_batches, MAX_INSERT_RECORDS)
        self.inserted_records = 0
        self.last_insert_seconds = 0.0
        self._insert_seconds = metrics.clickhouse_insert_seconds.labels(str(component_id))
        self._rejected = metrics.clickhouse_rejected.labels(str(component_id))
        #: values stored empty, per column, as the store counted them when last read
        self._out_of_range: dict[str, int] | None = None
        self._poller: asyncio.Task[None] | None = None

    async def start(self, host: Host) -> None:
        await self.sender.start()
        try:
            await self._connect()
        except StoreLocked:
            await self.sender.shutdown()
            raise
        except Exception as exc:
            if self.config.embedded:
                await self.sender.shutdown()
                raise
            log.warning(
                "ClickHouse unreachable at start; connecting in the background",
                component=str(self.id),
                store=self.config.describe(),
                error=str(exc)[:300],
            )
            self._connector = asyncio.create_task(self._connect_loop())

    async def _connect(self) -> None:
        store = Store(self.config)
        try:
            await store.call(store.open)
            if self.config.create_schema:
                ttl = self.config.ttl if self.config.ttl.total_seconds() > 0 else None
                await store.call(migrate, store, ttl)
        except BaseException:
            await store.call(store.close)
            raise
        self._ingest = await store.call(has_ingest_view, store)
        self._ingest_settings = ingest.insert_settings(
            schema_file(self.config.chdb_path) if self.config.embedded else None
        )
        try:
            self._out_of_range = await store.call(_out_of_range_counts, store)
        except Exception as exc:  # a store whose schema this exporter does not manage
            log.warning("values_out_of_range unreadable; not counted", error=str(exc)[:200])
        self.store = store
        self._poller = asyncio.create_task(self._poll(), name=f"{self.id}-out-of-range")
        log.info(
            "storing",
            component=str(self.id),
            store=self.config.describe(),
            insert_path="protobuf" if self._ingest else "columns",
        )

    async def _connect_loop(self) -> None:
        retry = self.config.retry_on_failure
        delay = retry.initial_interval.total_seconds()
        while True:
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            try:
                await self._connect()
                return
            except Exception as exc:
                log.debug("ClickHouse still unreachable", component=str(self.id), error=str(exc))
                delay = min(delay * 2, retry.max_interval.total_seconds())

    async def poll_values_out_of_range(self) -> None:
        """Count, in ``session_collector_clickhouse_values_out_of_range``, the values the
        store emptied since it was last read (its ``values_out_of_range`` table)."""
        store = self.store
        if store is None or self._out_of_range is None:
            return
        counts = await store.call(_out_of_range_counts, store)
        for column, total in counts.items():
            seen = self._out_of_range.get(column, 0)
            if total > seen:
                metrics.clickhouse_values_emptied.labels(str(self.id), column).inc(total - seen)
        self._out_of_range = counts

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(OUT_OF_RANGE_POLL)
            try:
                await self.poll_values_out_of_range()
            except Exception as exc:  # the store is away: the insert path reports that
                log.debug("could not read values_out_of_range", error=str(exc)[:200])

    async def shutdown(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
            self._connector = None
        await self.sender.shutdown()
        store, self.store = self.store, None
        if store is not None:
            await store.call(store.close)

    async def consume(self, batch: Batch) -> None:
        if len(batch):
            await self.sender.export(batch)

    async def _send(self, batch: Batch) -> None:
        """Store the batch; records (data points, spans) ClickHouse refuses are isolated and
        handed back, all the others stored."""
        store = self.store
        if store is None:
            raise RetryableError("not connected to ClickHouse", component=str(self.id))
        insert: Insert
        name: Callable[[Any], str]
        if isinstance(batch, LogBatch):
            insert, what, name = self._insert, "log records", describe
        else:
            build: otel_signals.Build = (
                otel_signals.metric_inserts
                if isinstance(batch, MetricsBatch)
                else otel_signals.span_inserts
            )
            insert = functools.partial(self._insert_signal, build=build)
            what = "data points" if isinstance(batch, MetricsBatch) else "spans"
            name = describe_item
        records: list[Any] = batch.records
        try:
            await insert(store, batch.tenant, records)
        except DataRefused as first:
            refused = await self._isolate(insert, store, batch.tenant, records, first)
            self._rejected.inc(len(refused))
            record, error = refused[0]
            message = (
                f"{len(refused)} of {len(batch)} {what} refused by ClickHouse; the first: "
                f"{name(record)}: {error.reason}"
            )
            log.error(
                f"{what} refused by ClickHouse; the others of the batch are stored",
                component=str(self.id),
                tenant=batch.tenant,
                refused=len(refused),
                records=len(batch),
                code=error.code,
                first=name(record),
                error=error.reason,
            )
            raise PartialRejection(
                len(refused), message, component=str(self.id), records=[r for r, _ in refused]
            ) from None

    async def _insert_signal(
        self, store: Store, tenant: str, items: list[Any], *, build: otel_signals.Build
    ) -> None:
        """Store data points or spans: one INSERT per table, built and run on the store's
        thread; :class:`DataRefused` when the data is at fault."""
        await self._classified(
            store.call(_insert_tables, store, build, tenant, items, self._settings()), len(items)
        )

    async def _send_encoded(self, items: list[QueuedBatch]) -> None:
        """Store queued batches as the disk queue keeps them, in one insert, decoding nothing
        (the drainer of a write-ahead queue); :class:`PermanentError` if any record is
        refused, so that the drainer sends them one by one and finds it."""
        store = self.store
        if store is None:
            raise RetryableError("not connected to ClickHouse", component=str(self.id))
        if not self._ingest:
            for item in items:
                await self._send(LogBatch(item.tenant, otlp_proto.decode_request(item.payload)))
            return
        data = b"".join(ingest.frame(item.tenant, item.payload) for item in items)
        try:
            await self._insert_data(store, data, sum(item.records for item in items))
        except DataRefused as exc:
            raise PermanentError(exc.reason, component=str(self.id)) from None

    async def _isolate(
        self, insert: Insert, store: Store, tenant: str, records: list[Any], failed: DataRefused
    ) -> list[tuple[Any, DataRefused]]:
        """Split ``records`` (whose ``insert`` failed with ``failed``) until the records that
        fail alone are found; store all the others. Retryable errors propagate."""
        if len(records) == 1:
            return [(records[0], failed)]
        refused: list[tuple[Any, DataRefused]] = []
        middle = len(records) // 2
        for half in (records[:middle], records[middle:]):
            try:
                await insert(store, tenant, half)
            except DataRefused as exc:
                refused.extend(await self._isolate(insert, store, tenant, half, exc))
        return refused

    async def _insert(self, store: Store, tenant: str, records: list[LogRecord]) -> None:
        """Store ``records``: :class:`DataRefused` when the data is at fault,
        :class:`RetryableError` otherwise. On the fast path the insert may hold other
        batches that arrived meanwhile (:class:`~collector.sessions.clickhouse.writer.Writer`)."""
        batch = LogBatch(tenant, records)
        if not self._ingest:
            await self._timed(store, [batch])
            return
        try:
            await self._writer.write(batch)
        except RefusedTogether:
            await self._timed(store, [batch])

    async def _insert_batches(self, batches: list[LogBatch]) -> None:
        store = self.store
        if store is None:
            raise RetryableError("not connected to ClickHouse", component=str(self.id))
        await self._timed(store, batches)

    async def _timed(self, store: Store, batches: list[LogBatch]) -> None:
        """One INSERT of ``batches``, within ``timeout``, its errors classified."""
        records = sum(len(b) for b in batches)
        settings = self._settings()
        if self._ingest:  # the request bytes are put together on the store's thread too
            settings.update(self._ingest_settings)
            work = store.call(_insert_payload, store, batches, settings)
        else:
            (batch,) = batches
            work = store.call(_insert_columns, store, batch, settings)
        await self._classified(work, records)

    async def _insert_data(self, store: Store, data: bytes, records: int) -> None:
        """One INSERT of :mod:`~collector.sessions.clickhouse.ingest` data."""
        settings = {**self._ingest_settings, **self._settings()}
        await self._classified(
            store.call(store.insert_raw, ingest.TABLE, data, ingest.FORMAT, settings), records
        )

    def _settings(self) -> dict[str, object]:
        settings: dict[str, object] = dict(INSERT_SETTINGS)
        if self.config.async_insert:
            settings.update(async_insert=1, wait_for_async_insert=1)
        return settings

    async def _classified(self, insert: Awaitable[None], records: int) -> None:
        """Run ``insert`` within ``timeout``: :class:`DataRefused` when the data is at fault,
        :class:`RetryableError` otherwise."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.config.timeout.total_seconds()):
                await insert
        except Exception as exc:
            if is_data_error(exc):
                raise DataRefused(reason(exc), code_of(exc)) from exc
            raise RetryableError(
                f"ClickHouse insert failed: {str(exc)[:200]}", component=str(self.id)
            ) from exc
        self.inserted_records += records
        self.last_insert_seconds = time.monotonic() - started
        self._insert_seconds.observe(self.last_insert_seconds)


def _insert_payload(store: Store, batches: list[LogBatch], settings: dict[str, object]) -> None:
    """The fast path's insert, run on the store's thread: the batches' bytes, then the insert."""
    store.insert_raw(ingest.TABLE, ingest.payload(batches), ingest.FORMAT, settings)


def _insert_columns(store: Store, batch: LogBatch, settings: dict[str, object]) -> None:
    """The Python path's insert, run on the store's thread: row building is per-record work
    that must not hold the event loop."""
    store.insert("otel_logs", row_columns.columns(batch.tenant, batch.records),
                 row_columns.COLUMNS, settings)  # fmt: skip


def _insert_tables(
    store: Store,
    build: otel_signals.Build,
    tenant: str,
    items: list[Any],
    settings: dict[str, object],
) -> None:
    """The metrics' and traces' insert, run on the store's thread: rows, then one INSERT per
    table (a retry after a failure between two tables stores nothing twice: the rows are
    idempotent on their identity)."""
    for table, columns in build(tenant, items):
        store.insert(table, columns, otel_signals.COLUMNS[table], settings)


def _out_of_range_counts(store: Store) -> dict[str, int]:
    rows = store.query("SELECT Column, sum(Count) AS n FROM values_out_of_range GROUP BY Column")
    return {row["Column"]: int(row["n"]) for row in rows}


def reason(exc: BaseException) -> str:
    """The error, short, without the column values ClickHouse quotes from the data."""
    text = str(exc).partition(" Column values:")[0]
    return text[:300]


def describe_item(item: DataPoint | Span) -> str:
    """A data point or span named for a reader."""
    if isinstance(item, DataPoint):
        name = item.metric.name or "(unnamed metric)"
        return f"data point of {name} at time {item.pb.time_unix_nano}"
    return f"span {item.pb.name or '(unnamed)'} {item.pb.span_id.hex() or '(no id)'}"


def describe(record: LogRecord) -> str:
    """A record named for a reader: event, session and sequence or time."""
    d = event_of(record)
    where = f"sequence {d.sequence}" if d.sequence >= 0 else f"time {record.time_unix_nano}"
    return f"{d.event_name or 'log record'} of session {d.session_id or '(none)'} at {where}"
