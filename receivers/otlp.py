"""``otlp`` receiver: OTLP logs over HTTP (protobuf and JSON on the same paths).

The HTTP handling itself lives in :mod:`receivers.otlp_http`; this module holds the config,
the factory and the server's lifecycle. On shutdown the listening socket closes first,
then in-flight requests finish (up to ``shutdown_timeout``) before the pipeline flushes.
"""

from __future__ import annotations

import asyncio
import ssl
from datetime import timedelta
from pathlib import Path

import structlog
from aiohttp import web
from pydantic import ByteSize, Field, field_validator, model_validator

from collector.auth import Authenticator
from collector.component import (
    ComponentConfig,
    ComponentID,
    ComponentIDField,
    Consumer,
    Factory,
    Host,
    Kind,
)
from collector.confighttp.server import ConnectionLimits, serve
from collector.confmap.netaddr import Endpoint
from collector.confmap.units import Duration
from collector.pdata.records import RequestLimits
from receivers.otlp_http import HandlerSettings, LogsHandler, status_middleware

TYPE = "otlp"
log = structlog.get_logger(__name__)


class TLSSettings(ComponentConfig):
    cert_file: str
    key_file: str

    @model_validator(mode="after")
    def _files_exist(self) -> TLSSettings:
        for key in ("cert_file", "key_file"):
            if not Path(getattr(self, key)).is_file():
                raise ValueError(f"{key} {getattr(self, key)!r} does not exist")
        return self


class OtlpReceiverConfig(ComponentConfig):
    endpoint: Endpoint = "127.0.0.1:4318"
    auth: ComponentIDField | None = None
    required_role: str = Field("mcp_watch_scan", min_length=1)
    tenant: str = Field("default", min_length=1)
    logs_paths: list[str] = Field(
        default=["/v1/logs", "/api/v1/hooks/cowork/otlp/v1/logs"], min_length=1
    )
    max_request_body_size: ByteSize = Field(ByteSize(20 * 1024 * 1024), gt=0)
    max_concurrent_requests: int = Field(1024, gt=0)
    #: the most records one request may carry (resource and scope entries count too); more
    #: is refused with 413 before any record is built
    max_records_per_request: int = Field(100_000, gt=0)
    #: the most attributes one request may carry (of its resources, scopes and records);
    #: more is refused with 413 before the records are built
    max_attributes_per_request: int = Field(2_000_000, gt=0)
    read_timeout: Duration = Field(timedelta(seconds=30), gt=timedelta(0))
    #: time for a connection's first request headers to arrive complete; then it is closed
    header_timeout: Duration = Field(timedelta(seconds=5), gt=timedelta(0))
    #: connections open at once; more are closed as they come, before anything is read
    max_connections: int = Field(2048, gt=0)
    #: connections open at once from one client address (raise it behind a proxy or NAT)
    max_connections_per_address: int = Field(256, gt=0)
    shutdown_timeout: Duration = timedelta(seconds=10)
    tls: TLSSettings | None = None

    @field_validator("logs_paths")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        for path in value:
            if not path.startswith("/"):
                raise ValueError(f"path {path!r} must start with '/'")
        if len(set(value)) != len(value):
            raise ValueError("paths must be unique")
        return value

    def extension_refs(self) -> dict[str, ComponentID]:
        return {"auth": self.auth} if self.auth else {}


def create(
    component_id: ComponentID, config: OtlpReceiverConfig, next_consumer: Consumer
) -> OtlpReceiver:
    return OtlpReceiver(component_id, config, next_consumer)


FACTORY = Factory(
    Kind.RECEIVER,
    TYPE,
    OtlpReceiverConfig,
    create,
    "OTLP logs over HTTP (protobuf and JSON), authenticated with API keys",
)


class OtlpReceiver:
    def __init__(
        self, component_id: ComponentID, config: OtlpReceiverConfig, next_consumer: Consumer
    ) -> None:
        self.id = component_id
        self.config = config
        self.next_consumer = next_consumer
        self._runner: web.AppRunner | None = None
        self._handler: LogsHandler | None = None
        #: the address actually bound (differs from the config when its port is 0)
        self.address: str | None = None

    async def start(self, host: Host) -> None:
        authenticator: Authenticator | None = None
        if self.config.auth is not None:
            ext = host.get_extension(self.config.auth)
            if not isinstance(ext, Authenticator):
                raise RuntimeError(f"{self.id}: extension {self.config.auth} cannot authenticate")
            authenticator = ext
        else:
            log.warning(
                "no auth configured: every request is accepted",
                component=str(self.id),
                tenant=self.config.tenant,
            )
        settings = HandlerSettings(
            component=str(self.id),
            max_body=int(self.config.max_request_body_size),
            read_timeout=self.config.read_timeout.total_seconds(),
            required_role=self.config.required_role,
            default_tenant=self.config.tenant,
            max_concurrent_requests=self.config.max_concurrent_requests,
            limits=RequestLimits(
                self.config.max_records_per_request, self.config.max_attributes_per_request
            ),
        )
        handler = LogsHandler(settings, authenticator, self.next_consumer)
        app = web.Application(middlewares=[status_middleware(str(self.id))])
        for path in self.config.logs_paths:
            app.router.add_route("POST", path, handler.handle)
        runner, self.address = await serve(
            app,
            self.config.endpoint,
            owner=str(self.id),
            ssl_context=self._ssl_context(),
            limits=ConnectionLimits(
                header_timeout=self.config.header_timeout.total_seconds(),
                max_connections=self.config.max_connections,
                max_connections_per_address=self.config.max_connections_per_address,
            ),
            auto_decompress=False,
            shutdown_timeout=self.config.shutdown_timeout.total_seconds(),
            # after refusing a request (413, 401, 408), drain what the client still sends
            # for at most this long so it can read the answer, then close
            lingering_time=2.0,
        )
        self._runner, self._handler = runner, handler
        log.info(
            "listening",
            component=str(self.id),
            endpoint=self.address,
            tls=self.config.tls is not None,
            paths=self.config.logs_paths,
        )

    def _ssl_context(self) -> ssl.SSLContext | None:
        if self.config.tls is None:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.config.tls.cert_file, self.config.tls.key_file)
        return ctx

    async def shutdown(self) -> None:
        """Close the listening socket, let in-flight requests finish (their bodies may still
        be arriving), then close every connection."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        for site in list(runner.sites):
            await site.stop()
        if self._handler is not None:
            timeout = self.config.shutdown_timeout.total_seconds()
            try:
                async with asyncio.timeout(timeout):
                    await self._handler.drain()
            except TimeoutError:
                log.warning(
                    "in-flight requests still running at shutdown_timeout",
                    component=str(self.id),
                    timeout=timeout,
                )
        await runner.cleanup()
