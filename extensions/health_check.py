"""``health_check`` extension: ``GET /`` (``path``) answers 200 with a small JSON status
while every pipeline runs and every exporter delivers, and 503 naming the failing
components once one has failed to deliver for ``exporter_failure_threshold``. For load
balancers and Kubernetes probes, as the OpenTelemetry Collector's health_check.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import orjson
import structlog
from aiohttp import web
from pydantic import Field, field_validator

from collector.component import ComponentConfig, ComponentID, Factory, Host, Kind
from collector.confighttp.server import serve
from collector.confmap.netaddr import Endpoint
from collector.confmap.units import Duration

TYPE = "health_check"
log = structlog.get_logger(__name__)


class HealthCheckConfig(ComponentConfig):
    endpoint: Endpoint = "127.0.0.1:13133"
    path: str = "/"
    exporter_failure_threshold: Duration = Field(timedelta(seconds=5), ge=timedelta(0))

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("path must start with '/'")
        return value


def create(component_id: ComponentID, config: HealthCheckConfig) -> HealthCheck:
    return HealthCheck(component_id, config)


FACTORY = Factory(
    Kind.EXTENSION, TYPE, HealthCheckConfig, create,
    "answers health probes: 200 while exporters deliver, 503 naming what fails",
)  # fmt: skip


class HealthCheck:
    def __init__(self, component_id: ComponentID, config: HealthCheckConfig) -> None:
        self.id = component_id
        self.config = config
        self._host: Host | None = None
        self._runner: web.AppRunner | None = None
        self._since = datetime.now(UTC)
        self.address: str | None = None

    async def start(self, host: Host) -> None:
        self._host = host
        app = web.Application()
        app.router.add_get(self.config.path, self._handle)
        self._runner, self.address = await serve(
            app, self.config.endpoint, owner=str(self.id), shutdown_timeout=2
        )
        log.info("serving health checks", component=str(self.id),
                 url=f"http://{self.address}{self.config.path}")  # fmt: skip

    async def shutdown(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def status(self) -> tuple[int, dict[str, object]]:
        """The HTTP status and body a probe gets now."""
        assert self._host is not None
        threshold = self.config.exporter_failure_threshold.total_seconds()
        now = time.monotonic()
        failing = {
            name: round(now - since, 1)
            for name, since in self._host.component_health().items()
            if since is not None and now - since >= threshold
        }
        uptime = datetime.now(UTC) - self._since
        body: dict[str, object] = {
            "status": "unavailable" if failing else "available",
            "upSince": self._since.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "uptime": f"{uptime.total_seconds():.0f}s",
        }
        if failing:
            body["failing"] = {name: f"failing for {secs}s" for name, secs in failing.items()}
        return (503 if failing else 200), body

    async def _handle(self, request: web.Request) -> web.Response:
        status, body = self.status()
        return web.Response(status=status, body=orjson.dumps(body),
                            content_type="application/json")  # fmt: skip
