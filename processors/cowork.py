"""``cowork`` processor: derives the session and prompt fields of Claude Code and Cowork
events (see :mod:`collector.agent_events`) and attaches them to each record.

Attributes are kept exactly as they came; unknown events pass through untouched; records
without ``session.id`` pass through and are counted (``records_without_session``).
"""

from __future__ import annotations

from typing import ClassVar

import structlog

from collector.agent_events import derive
from collector.component import ComponentConfig, ComponentID, Consumer, Factory, Host, Kind
from collector.records import LogBatch

TYPE = "cowork"
log = structlog.get_logger(__name__)


class CoworkConfig(ComponentConfig):
    pass


def create(component_id: ComponentID, config: CoworkConfig, next_consumer: Consumer) -> Cowork:
    return Cowork(component_id, config, next_consumer)


FACTORY = Factory(
    Kind.PROCESSOR,
    TYPE,
    CoworkConfig,
    create,
    "derives sessions, prompts, tools, tokens and cost from Claude Code and Cowork events",
)


class Cowork:
    mutates_data: ClassVar[bool] = True

    def __init__(
        self, component_id: ComponentID, config: CoworkConfig, next_consumer: Consumer
    ) -> None:
        self.id = component_id
        self.next_consumer = next_consumer
        self.records_without_session = 0
        self.events: dict[str, int] = {}

    async def start(self, host: Host) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def consume(self, batch: LogBatch) -> None:
        missing = 0
        events = self.events
        for record in batch.records:
            derived = derive(record)
            record.derived = derived
            if not derived.session_id:
                missing += 1
            events[derived.event_name] = events.get(derived.event_name, 0) + 1
        if missing:
            self.records_without_session += missing
            log.debug("records without session.id", component=str(self.id), count=missing)
        await self.next_consumer.consume(batch)
