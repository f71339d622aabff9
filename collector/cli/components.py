"""The components that ship with session-collector: the one place that imports them."""

from __future__ import annotations

from collector.component import Factory
from collector.component.registry import Registry
from exporters import clickhouse, debug, file, kafka
from extensions import apikeys, health_check, sessions_api
from processors import batch, cowork, memory_limiter, redaction
from receivers import kafka as kafka_receiver
from receivers import otlp

BUILTIN_FACTORIES: tuple[Factory, ...] = (
    otlp.FACTORY,
    kafka_receiver.FACTORY,
    batch.FACTORY,
    cowork.FACTORY,
    memory_limiter.FACTORY,
    redaction.FACTORY,
    clickhouse.FACTORY,
    debug.FACTORY,
    file.FACTORY,
    kafka.FACTORY,
    apikeys.FACTORY,
    health_check.FACTORY,
    sessions_api.FACTORY,
)


def builtin_registry() -> Registry:
    """Every component that ships with session-collector."""
    return Registry(BUILTIN_FACTORIES)
