"""``clickhouse`` exporter: stores logs, and through them sessions and prompts, in
ClickHouse: embedded chDB (``chdb://PATH``) or a server (``http(s)://host:port``).

At start the schema is created or migrated (``create_schema``). Each batch is one INSERT
into ``otel_logs``, run off the event loop; ClickHouse fills ``session_events`` through a
materialized view. A failed INSERT is retried with exponential backoff
(``retry_on_failure``); when retries run out the error is retryable, so the OTLP receiver
answers 503 and the client sends again, which the store's record identity makes harmless.
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import timedelta
from typing import ClassVar

import structlog
from pydantic import Field

from collector.clickhouse import ClickHouseSettings, Store
from collector.clickhouse import rows as row_columns
from collector.clickhouse.schema import migrate
from collector.component import ComponentConfig, ComponentID, Factory, Host, Kind
from collector.errors import RetryableError
from collector.records import LogBatch
from collector.units import Duration

TYPE = "clickhouse"
log = structlog.get_logger(__name__)


class RetrySettings(ComponentConfig):
    """The OpenTelemetry Collector's ``retry_on_failure`` block."""

    enabled: bool = True
    initial_interval: Duration = timedelta(seconds=1)
    max_interval: Duration = timedelta(seconds=5)
    #: 0 retries forever
    max_elapsed_time: Duration = timedelta(seconds=15)


class ClickHouseExporterConfig(ClickHouseSettings):
    create_schema: bool = True
    ttl: Duration = timedelta(0)
    async_insert: bool = False
    retry_on_failure: RetrySettings = Field(default_factory=RetrySettings)


def create(component_id: ComponentID, config: ClickHouseExporterConfig) -> ClickHouseExporter:
    return ClickHouseExporter(component_id, config)


FACTORY = Factory(
    Kind.EXPORTER,
    TYPE,
    ClickHouseExporterConfig,
    create,
    "stores logs, sessions and prompts in ClickHouse (embedded chDB or a server)",
)


class ClickHouseExporter:
    mutates_data: ClassVar[bool] = False

    def __init__(self, component_id: ComponentID, config: ClickHouseExporterConfig) -> None:
        self.id = component_id
        self.config = config
        self.store: Store | None = None
        self.inserted_records = 0

    async def start(self, host: Host) -> None:
        store = Store(self.config)
        await store.call(store.open)
        if self.config.create_schema:
            ttl = self.config.ttl if self.config.ttl.total_seconds() > 0 else None
            await store.call(migrate, store, ttl)
        self.store = store
        log.info("storing", component=str(self.id), store=self.config.describe())

    async def shutdown(self) -> None:
        store, self.store = self.store, None
        if store is not None:
            await store.call(store.close)

    async def consume(self, batch: LogBatch) -> None:
        store = self.store
        if store is None:
            raise RetryableError("exporter is not running", component=str(self.id))
        if not batch.records:
            return
        cols = row_columns.columns(batch.tenant, batch.records)
        settings = (
            {"async_insert": 1, "wait_for_async_insert": 1} if self.config.async_insert else None
        )
        retry = self.config.retry_on_failure
        delay = retry.initial_interval.total_seconds()
        deadline = time.monotonic() + retry.max_elapsed_time.total_seconds()
        while True:
            try:
                await store.call(store.insert, "otel_logs", cols, row_columns.COLUMNS, settings)
                self.inserted_records += len(batch.records)
                return
            except Exception as exc:
                forever = retry.max_elapsed_time.total_seconds() == 0
                if not retry.enabled or (not forever and time.monotonic() + delay > deadline):
                    log.error(
                        "insert failed",
                        component=str(self.id),
                        error=str(exc)[:500],
                        records=len(batch.records),
                    )
                    raise RetryableError(
                        f"ClickHouse insert failed: {str(exc)[:200]}",
                        component=str(self.id),
                        retry_after=max(1.0, delay),
                    ) from exc
                log.warning(
                    "insert failed, retrying",
                    component=str(self.id),
                    error=str(exc)[:200],
                    retry_in=round(delay, 2),
                )
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, retry.max_interval.total_seconds())
