"""The service: extensions, then the pipeline graph, run until SIGTERM or SIGINT.

Start: extensions in the order ``service.extensions`` lists them, then the graph (backwards).
Stop: the graph (receivers stop accepting and finish in-flight requests, processors flush,
exporters close), then extensions in reverse. ``shutdown`` is safe without ``start`` and
safe twice.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import structlog

from collector.component import Component, ComponentID, Kind
from collector.config import Config
from collector.graph import Graph
from collector.registry import Registry

log = structlog.get_logger(__name__)


class Service:
    def __init__(self, config: Config, registry: Registry) -> None:
        self.config = config
        self.extensions: dict[ComponentID, Component] = {}
        for eid in config.service.extensions:
            factory = registry.get(Kind.EXTENSION, eid.type)
            assert factory is not None
            self.extensions[eid] = factory.create(eid, config.component(Kind.EXTENSION, eid))
        self.graph = Graph(config, registry)
        self._started_extensions: list[Component] = []
        self._stop = asyncio.Event()

    @property
    def receivers(self) -> dict[ComponentID, Any]:
        return self.graph.receivers

    @property
    def exporters(self) -> dict[ComponentID, Any]:
        return self.graph.exporters

    def get_extension(self, component_id: ComponentID) -> object | None:
        return self.extensions.get(component_id)

    def component_config(self, kind: Kind, component_id: ComponentID) -> object | None:
        return self.config.components[kind].get(component_id)

    async def start(self) -> None:
        for eid, ext in self.extensions.items():
            try:
                await ext.start(self)
            except Exception as exc:
                await self.shutdown()
                raise RuntimeError(f"cannot start extension {eid}: {exc}") from exc
            self._started_extensions.append(ext)
        try:
            await self.graph.start(self)
        except Exception:
            await self.shutdown()
            raise
        log.info("collector started", pipelines=list(self.config.service.pipelines))

    async def shutdown(self) -> list[BaseException]:
        errors = await self.graph.shutdown()
        started, self._started_extensions = self._started_extensions, []
        for ext in reversed(started):
            try:
                await ext.shutdown()
            except Exception as exc:
                errors.append(exc)
        return errors

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> int:
        """Start, wait for SIGTERM/SIGINT, shut down; the process exit code."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            await self.start()
            await self._stop.wait()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        log.info("shutting down: finishing in-flight requests and flushing")
        errors = await self.shutdown()
        log.info("collector stopped", errors=len(errors))
        return 1 if errors else 0

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info("signal received", signal=sig.name)
        self._stop.set()
