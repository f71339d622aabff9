"""Test doubles for pipelines, registered with :func:`testing_registry`.

- ``recording`` exporter: keeps every batch it took (``batches``), and can be told to fail
  the next batches with a given error kind (``fail_with``) or to hold them until released.
- ``tagging`` processor: sets an attribute on every record (it changes data, so fan-outs
  must copy for it).
"""

from __future__ import annotations

import asyncio
from typing import ClassVar, Literal

from collector.cli.components import builtin_registry
from collector.component import (
    ALL_SIGNALS,
    ComponentConfig,
    ComponentID,
    Consumer,
    Factory,
    Host,
    Kind,
)
from collector.component.registry import Registry
from collector.consumererror import (
    ConsumerError,
    OverloadError,
    PartialRejection,
    PermanentError,
    RetryableError,
)
from collector.pdata.records import LogBatch
from collector.pdata.signals import Batch

FailureKind = Literal["retryable", "overload", "permanent", "partial"]


class RecordingExporterConfig(ComponentConfig):
    pass


class RecordingExporter:
    mutates_data: ClassVar[bool] = False
    instances: ClassVar[dict[str, RecordingExporter]] = {}

    def __init__(self, component_id: ComponentID, config: RecordingExporterConfig) -> None:
        self.id = component_id
        self.batches: list[Batch] = []
        self.fail_with: FailureKind | None = None
        self.gate: asyncio.Event | None = None
        self.events: list[str] = []
        RecordingExporter.instances[str(component_id)] = self

    async def start(self, host: Host) -> None:
        self.events.append("start")

    async def shutdown(self) -> None:
        self.events.append("shutdown")

    async def consume(self, batch: Batch) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_with is not None:
            raise _failure(self.fail_with, str(self.id), len(batch))
        self.batches.append(batch)

    @property
    def records(self) -> list[object]:
        return [r for b in self.batches for r in b.records]


def _failure(kind: FailureKind, component: str, size: int) -> ConsumerError:
    if kind == "retryable":
        return RetryableError("downstream unavailable", component=component, retry_after=7)
    if kind == "overload":
        return OverloadError("queue full", component=component, retry_after=2)
    if kind == "partial":
        return PartialRejection(1, "one record too large", component=component)
    return PermanentError("bad data", component=component)


class TaggingProcessorConfig(ComponentConfig):
    key: str = "tagged"
    value: str = "yes"


class TaggingProcessor:
    mutates_data: ClassVar[bool] = True

    def __init__(
        self, component_id: ComponentID, config: TaggingProcessorConfig, next_consumer: Consumer
    ) -> None:
        self.id = component_id
        self.config = config
        self.next_consumer = next_consumer

    async def start(self, host: Host) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def consume(self, batch: LogBatch) -> None:
        for record in batch.records:
            record.attributes[self.config.key] = self.config.value
            record.source = None
        await self.next_consumer.consume(batch)


RECORDING_FACTORY = Factory(
    Kind.EXPORTER, "recording", RecordingExporterConfig, RecordingExporter, "test double",
    ALL_SIGNALS,
)  # fmt: skip
TAGGING_FACTORY = Factory(
    Kind.PROCESSOR, "tagging", TaggingProcessorConfig, TaggingProcessor, "test double"
)


def testing_registry() -> Registry:
    """The built-in components plus the test doubles above."""
    return builtin_registry().with_factories(RECORDING_FACTORY, TAGGING_FACTORY)
