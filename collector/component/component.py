"""What every component is: an id, a kind, a lifecycle, and (for data paths) a consumer.

A component is built by a :class:`Factory` from its validated config model. Receivers and
processors are handed the next :class:`Consumer` when they are built; exporters are
consumers themselves. A component finds an extension by id through the :class:`Host`.
"""

from __future__ import annotations

import builtins
import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, PlainSerializer, PlainValidator

from collector.pdata.signals import Batch, Signal

_TYPE_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]*$")


class Kind(enum.StrEnum):
    """The four kinds of component, named as their sections in the config file."""

    RECEIVER = "receivers"
    PROCESSOR = "processors"
    EXPORTER = "exporters"
    EXTENSION = "extensions"

    @property
    def singular(self) -> str:
        return self.value[:-1]


@dataclass(frozen=True, slots=True, order=True)
class ComponentID:
    """A component's identity: ``type`` or ``type/name``, parsed and printed here only."""

    type: str
    name: str = ""

    @classmethod
    def parse(cls, text: str) -> ComponentID:
        if not isinstance(text, str):
            raise ValueError(f"component id must be a string, got {type(text).__name__}")
        type_, sep, name = text.strip().partition("/")
        if not _TYPE_RE.match(type_):
            raise ValueError(
                f"invalid component id {text!r}: the type must start with a letter and "
                "contain only letters, digits and underscores"
            )
        if sep and not name.strip():
            raise ValueError(f"invalid component id {text!r}: the name after '/' is empty")
        return cls(type_, name.strip())

    def __str__(self) -> str:
        return f"{self.type}/{self.name}" if self.name else self.type


def _parse_id(value: object) -> ComponentID:
    if isinstance(value, ComponentID):
        return value
    return ComponentID.parse(value)  # type: ignore[arg-type]


#: A config field holding a component id, written ``type`` or ``type/name`` in YAML.
ComponentIDField = Annotated[ComponentID, PlainValidator(_parse_id), PlainSerializer(str)]


class ComponentConfig(BaseModel):
    """Base of every component's config model: frozen, unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def extension_refs(self) -> dict[str, ComponentID]:
        """The extensions this config uses, by the key that names each (e.g. ``auth``)."""
        return {}

    def exporter_refs(self) -> dict[str, ComponentID]:
        """The exporters whose settings this config reads, by the key that names each."""
        return {}


@runtime_checkable
class Component(Protocol):
    """Started once, shut down once; ``shutdown`` is safe without ``start`` and safe twice."""

    async def start(self, host: Host) -> None: ...

    async def shutdown(self) -> None: ...


@runtime_checkable
class Consumer(Protocol):
    """Takes batches (of the signals its factory declares). ``consume`` returns once every
    downstream durably accepted the batch and raises a
    :class:`collector.consumererror.ConsumerError` otherwise."""

    mutates_data: ClassVar[bool]

    async def consume(self, batch: Batch) -> None: ...


def consumer_signals(consumer: object) -> frozenset[Signal]:
    """The signals a receiver's next consumer takes: those of the pipelines the receiver is
    in (the service hands it a router with ``signals``); a plain consumer takes logs."""
    signals = getattr(consumer, "signals", None)
    return signals if isinstance(signals, frozenset) else frozenset({Signal.LOGS})


class Host(Protocol):
    """What the service offers a running component."""

    def get_extension(self, component_id: ComponentID) -> object | None: ...

    def component_config(self, kind: Kind, component_id: ComponentID) -> object | None: ...

    def component_health(self) -> dict[str, float | None]:
        """Each running component (``"exporter kafka"``) and since when (monotonic clock)
        it has been failing to deliver, or ``None`` while it works."""
        ...


# Factory signatures per kind. ``next_consumer`` is absent for exporters and extensions.
ReceiverCreate = Callable[[ComponentID, Any, Consumer], Component]
ProcessorCreate = Callable[[ComponentID, Any, Consumer], "Processor"]
ExporterCreate = Callable[[ComponentID, Any], "Exporter"]
ExtensionCreate = Callable[[ComponentID, Any], Component]


class Processor(Component, Consumer, Protocol):
    """A component that takes batches and passes them on."""


class Exporter(Component, Consumer, Protocol):
    """A component that takes batches and delivers them out of the collector."""


@dataclass(frozen=True, slots=True)
class Factory:
    """How to build one component type: its kind, config model, and constructor."""

    kind: Kind
    type: str
    config_model: builtins.type[ComponentConfig]
    create: Callable[..., Any]
    description: str
    #: the signals (pipeline types) the component can be in; one instance serves them all
    signals: frozenset[Signal] = frozenset({Signal.LOGS})


#: every signal, for factories whose components handle any batch
ALL_SIGNALS = frozenset(Signal)
