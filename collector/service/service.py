"""The service: extensions, then the pipeline graph, run until SIGTERM or SIGINT.

Start: extensions in the order ``service.extensions`` lists them, then the graph (backwards).
Stop: the graph (receivers stop accepting and finish in-flight requests, processors flush,
exporters close), then extensions in reverse. ``shutdown`` is safe without ``start`` and
safe twice.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from collector.component import Component, ComponentID, Kind
from collector.component.process import MULTIPROC_ENV
from collector.component.registry import Registry
from collector.confighttp.server import serve
from collector.service.config import Config
from collector.service.graph import Graph
from collector.telemetry import metrics, process

#: seconds between updates of the process's own figures (and on every scrape)
PROCESS_METRICS_INTERVAL = 5.0
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
        self._metrics_runner: web.AppRunner | None = None
        self._process_task: asyncio.Task[None] | None = None
        #: where /metrics is served (the port is known once started)
        self.metrics_address: str | None = None

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

    def component_health(self) -> dict[str, float | None]:
        health: dict[str, float | None] = {}
        for label, group in (("receiver", self.receivers), ("exporter", self.exporters)):
            for cid, component in group.items():
                sender = getattr(component, "sender", None)
                source = sender if sender is not None else component
                health[f"{label} {cid}"] = getattr(source, "failing_since", None)
        return health

    async def _serve_metrics(self) -> None:
        settings = self.config.service.telemetry.metrics
        if settings.level == "none":
            return

        registry = metrics.REGISTRY
        if os.environ.get(MULTIPROC_ENV):  # --workers: sum every worker's samples
            from prometheus_client import CollectorRegistry, multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        process.target_info(registry)
        process.update()
        self._process_task = asyncio.create_task(self._update_process(), name="process-metrics")

        async def handle(request: web.Request) -> web.Response:
            process.update()
            body = generate_latest(registry)
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

        app = web.Application()
        app.router.add_get("/metrics", handle)
        self._metrics_runner, self.metrics_address = await serve(
            app, settings.address, owner="service.telemetry.metrics.address",
            shutdown_timeout=2,
        )  # fmt: skip
        log.info("serving metrics", address=self.metrics_address)

    async def _update_process(self) -> None:
        while True:
            await asyncio.sleep(PROCESS_METRICS_INTERVAL)
            process.update()

    async def start(self) -> None:
        await self._serve_metrics()
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
        task, self._process_task = self._process_task, None
        if task is not None:
            task.cancel()
        runner, self._metrics_runner = self._metrics_runner, None
        if runner is not None:
            await runner.cleanup()
        return errors

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> int:
        """Start, wait for SIGTERM/SIGINT, shut down; the process exit code."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        loop.add_signal_handler(signal.SIGUSR1, dump_tasks)
        try:
            await self.start()
            # Everything loaded so far lives as long as the process: move it out of the
            # collector's reach, so full collections (30-45 ms each over ~70k start-up
            # objects) stop showing up in request latency.
            gc.collect()
            gc.freeze()
            await self._stop.wait()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
                loop.remove_signal_handler(sig)
        log.info("shutting down: finishing in-flight requests and flushing")
        errors = await self.shutdown()
        log.info("collector stopped", errors=len(errors))
        return 1 if errors else 0

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info("signal received", signal=sig.name)
        self._stop.set()


def dump_tasks() -> None:
    """Log every asyncio task and where it waits (``kill -USR1 <pid>``), for a collector
    that seems stuck."""
    import io

    for task in asyncio.all_tasks():
        out = io.StringIO()
        task.print_stack(limit=12, file=out)
        log.warning("task", name=task.get_name(), stack=out.getvalue())
