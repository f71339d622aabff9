"""The components that ship with session-collector: the one place that imports them."""

from __future__ import annotations

from collector.component import Factory
from exporters import debug, file
from extensions import apikeys
from receivers import otlp

BUILTIN_FACTORIES: tuple[Factory, ...] = (
    otlp.FACTORY,
    debug.FACTORY,
    file.FACTORY,
    apikeys.FACTORY,
)
