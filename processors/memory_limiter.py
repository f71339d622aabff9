"""``memory_limiter`` processor: refuses data while the process uses too much memory, as
the OpenTelemetry Collector's does. Put it first in a pipeline.

Every ``check_interval`` it reads the process's resident memory. Above the soft limit
(``limit_mib - spike_limit_mib``) every batch is refused with a retryable overload error:
the OTLP receiver answers 429 with ``Retry-After``, the Kafka receiver waits and retries,
and nothing is dropped silently (refusals are counted in
``otelcol_processor_refused_log_records``, ``_metric_points`` or ``_spans``). Above
``limit_mib`` it also forces a garbage collection. An embedded chDB store lives in the same
process and counts toward its memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from datetime import timedelta
from typing import ClassVar

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
from collector.consumererror import OverloadError
from collector.pdata.signals import Batch, Signal, signal_of
from collector.telemetry import metrics

TYPE = "memory_limiter"
log = structlog.get_logger(__name__)
_PAGE = os.sysconf("SC_PAGE_SIZE")


class MemoryLimiterConfig(ComponentConfig):
    check_interval: Duration = Field(timedelta(seconds=1), gt=timedelta(0))
    limit_mib: int = Field(gt=0)
    #: headroom for a spike between checks; default 20% of limit_mib
    spike_limit_mib: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _spike_below_limit(self) -> MemoryLimiterConfig:
        if self.spike_limit_mib is not None and self.spike_limit_mib >= self.limit_mib:
            raise ValueError("spike_limit_mib must be smaller than limit_mib")
        return self

    @property
    def soft_limit_bytes(self) -> int:
        spike = self.spike_limit_mib if self.spike_limit_mib is not None else self.limit_mib // 5
        return (self.limit_mib - spike) * 1024 * 1024

    @property
    def hard_limit_bytes(self) -> int:
        return self.limit_mib * 1024 * 1024


def create(
    component_id: ComponentID, config: MemoryLimiterConfig, next_consumer: Consumer
) -> MemoryLimiter:
    return MemoryLimiter(component_id, config, next_consumer)


FACTORY = Factory(
    Kind.PROCESSOR, TYPE, MemoryLimiterConfig, create,
    "refuses data (429) while the process's memory is above its limit", ALL_SIGNALS,
)  # fmt: skip


def resident_bytes() -> int:
    """The process's resident memory, from /proc (no blocking I/O beyond procfs)."""
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * _PAGE


class MemoryLimiter:
    mutates_data: ClassVar[bool] = False

    def __init__(
        self, component_id: ComponentID, config: MemoryLimiterConfig, next_consumer: Consumer
    ) -> None:
        self.id = component_id
        self.config = config
        self.next_consumer = next_consumer
        self.refusing = False
        self._task: asyncio.Task[None] | None = None
        self._refused = {
            s: metrics.of_signal(metrics.processor_refused, s).labels(str(component_id))
            for s in Signal
        }
        #: how resident memory is read; a test may replace it
        self.measure = resident_bytes

    async def start(self, host: Host) -> None:
        self.check()
        self._task = asyncio.create_task(self._watch(), name=f"{self.id}-watch")

    async def shutdown(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def check(self) -> None:
        used = self.measure()
        if used > self.config.hard_limit_bytes:
            gc.collect()
            used = self.measure()
        refusing = used > self.config.soft_limit_bytes
        if refusing != self.refusing:
            log.warning("memory above the soft limit: refusing data" if refusing
                        else "memory back under the soft limit: accepting data",
                        component=str(self.id), used_mib=used // 1048576,
                        soft_limit_mib=self.config.soft_limit_bytes // 1048576)  # fmt: skip
        self.refusing = refusing

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.config.check_interval.total_seconds())
            self.check()

    async def consume(self, batch: Batch) -> None:
        if self.refusing:
            self._refused[signal_of(batch)].inc(len(batch.records))
            raise OverloadError(
                "memory limit reached; try again shortly", component=str(self.id),
                retry_after=max(1.0, self.config.check_interval.total_seconds()),
            )  # fmt: skip
        await self.next_consumer.consume(batch)
