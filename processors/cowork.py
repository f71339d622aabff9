"""``cowork`` processor: recognises Claude Code and Cowork events and counts them by event
name and client, counts the sessions seen, and counts records without ``session.id``
(``records_without_session``).

Records pass through unchanged: unknown events untouched, records without ``session.id``
too. Their session and prompt fields (:mod:`collector.sessions.events`) are derived from the
record when first read (``event_of``), where they are stored, so that they come
from the record as it is there, after redaction, and cost nothing on an edge collector
that forwards records to Kafka. Reading one event name and one ``session.id`` per record is
all this processor does.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, ClassVar

import structlog

from collector.component import ComponentConfig, ComponentID, Consumer, Factory, Host, Kind
from collector.pdata.records import LogBatch
from collector.sessions.events import CLIENT_LABELS, client_of, event_name, session_id
from collector.telemetry import metrics

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


_KNOWN_EVENTS = frozenset({
    "user_prompt", "assistant_response", "tool_decision", "tool_result", "api_request",
    "api_error", "api_refusal", "api_retries_exhausted", "auth", "permission_mode_changed",
    "mcp_server_connection", "internal_error", "plugin_installed", "plugin_loaded",
    "skill_activated", "at_mention", "hook_registered", "hook_execution_start",
    "hook_execution_complete", "compaction", "subagent_completed",
})  # fmt: skip
_KNOWN_CLIENTS = frozenset(CLIENT_LABELS.values())
#: how many session ids the processor remembers to count sessions seen
SESSION_MEMORY = 100_000
#: how many event names ``events`` counts by name before it counts the rest as "other"
EVENT_MEMORY = 1_000
OTHER = "other"


class Cowork:
    mutates_data: ClassVar[bool] = False

    def __init__(
        self, component_id: ComponentID, config: CoworkConfig, next_consumer: Consumer
    ) -> None:
        self.id = component_id
        self.next_consumer = next_consumer
        self.records_without_session = 0
        #: records by event name, for tests and debugging (bounded: see EVENT_MEMORY)
        self.events: dict[str, int] = {}
        self._counters: dict[tuple[str, str], Any] = {}  # label children, looked up once
        self._recent: OrderedDict[tuple[str, str], None] = OrderedDict()
        name = str(component_id)
        self._by_event = metrics.records_by_event
        self._sessions_seen = metrics.sessions_seen.labels(name)
        self._without_session = metrics.records_without_session.labels(name)

    async def start(self, host: Host) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def consume(self, batch: LogBatch) -> None:
        counts: dict[tuple[str, str], int] = {}
        sessions: dict[str, None] = {}  # a batch holds a few sessions: each is seen once below
        clients: dict[int, str] = {}  # by resource: records share a few resources
        for record in batch.records:
            resource = record.resource
            label = clients.get(id(resource))
            if label is None:
                label = clients[id(resource)] = client_of(resource)
            key = (event_name(record), label)
            counts[key] = counts.get(key, 0) + 1
            sessions[session_id(record)] = None
        missing = 0
        if "" in sessions:
            missing = sum(1 for record in batch.records if not session_id(record))
            del sessions[""]
        recent = self._recent
        new_sessions = 0
        for sid in sessions:
            session = (batch.tenant, sid)
            if session in recent:
                recent.move_to_end(session)
            else:
                recent[session] = None
                new_sessions += 1
                if len(recent) > SESSION_MEMORY:
                    recent.popitem(last=False)
        name = str(self.id)
        events = self.events
        for (event, client), count in counts.items():
            if event in events or len(events) < EVENT_MEMORY:
                events[event] = events.get(event, 0) + count
            else:  # names come from the payload: a sender must not grow this without end
                events[OTHER] = events.get(OTHER, 0) + count
            counter = self._counters.get((event, client))
            if counter is None:
                counter = self._by_event.labels(
                    name,
                    event if event in _KNOWN_EVENTS else OTHER,
                    client if client in _KNOWN_CLIENTS else OTHER,
                )
                if len(self._counters) < EVENT_MEMORY:
                    self._counters[(event, client)] = counter
            counter.inc(count)
        if new_sessions:
            self._sessions_seen.inc(new_sessions)
        if missing:
            self.records_without_session += missing
            self._without_session.inc(missing)
            log.debug("records without session.id", component=name, count=missing)
        await self.next_consumer.consume(batch)
