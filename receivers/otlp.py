"""``otlp`` receiver: OTLP logs over HTTP (protobuf and JSON on the same paths) and gRPC.

The HTTP handling itself lives in :mod:`receivers.otlp_http`, the gRPC service in
:mod:`receivers.otlp_grpc`; this module holds the config,
the factory and the server's lifecycle. On shutdown the listening socket closes first,
then in-flight requests finish (up to ``shutdown_timeout``) before the pipeline flushes.
"""

from __future__ import annotations

import asyncio
import ssl
from datetime import timedelta
from pathlib import Path

import grpc
import structlog
from aiohttp import web
from pydantic import BaseModel, ByteSize, ConfigDict, Field, field_validator, model_validator

from collector.auth import Authenticator
from collector.component import (
    ALL_SIGNALS,
    ComponentConfig,
    ComponentID,
    ComponentIDField,
    Consumer,
    Factory,
    Host,
    Kind,
    consumer_signals,
)
from collector.component.process import reuse_port
from collector.confighttp.server import ConnectionLimits, serve
from collector.confmap.netaddr import Endpoint, format_endpoint, parse_endpoint
from collector.confmap.units import Duration
from collector.pdata.records import RequestLimits
from collector.pdata.signals import Signal
from receivers.otlp_grpc import GrpcExport
from receivers.otlp_http import HandlerSettings, OtlpHandler, status_middleware
from receivers.otlp_signals import CODECS

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


class GrpcProtocol(BaseModel):
    """OTLP/gRPC, as the OpenTelemetry Collector's ``protocols.grpc``."""

    model_config = ConfigDict(extra="forbid")
    endpoint: Endpoint = "127.0.0.1:4317"


class HttpProtocol(BaseModel):
    """OTLP/HTTP, as the OpenTelemetry Collector's ``protocols.http``."""

    model_config = ConfigDict(extra="forbid")
    endpoint: Endpoint = "127.0.0.1:4318"


class Protocols(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grpc: GrpcProtocol | None = None
    http: HttpProtocol | None = None

    @model_validator(mode="after")
    def _one_at_least(self) -> Protocols:
        if self.grpc is None and self.http is None:
            raise ValueError("name grpc, http or both")
        return self


class OtlpReceiverConfig(ComponentConfig):
    #: OTLP/HTTP's address (or ``protocols.http.endpoint``)
    endpoint: Endpoint = "127.0.0.1:4318"
    #: the OpenTelemetry Collector's shape, ``{grpc: {endpoint}, http: {endpoint}}``: the
    #: protocols named are served, and HTTP also at ``endpoint`` when it is set
    protocols: Protocols | None = None
    auth: ComponentIDField | None = None
    required_role: str = Field("mcp_watch_scan", min_length=1)
    tenant: str = Field("default", min_length=1)
    logs_paths: list[str] = Field(
        default=["/v1/logs", "/api/v1/hooks/cowork/otlp/v1/logs"], min_length=1
    )
    #: where OTLP/HTTP metrics are taken, when the receiver is in a metrics pipeline
    metrics_paths: list[str] = Field(
        default=["/v1/metrics", "/api/v1/hooks/cowork/otlp/v1/metrics"], min_length=1
    )
    #: where OTLP/HTTP traces are taken, when the receiver is in a traces pipeline
    traces_paths: list[str] = Field(
        default=["/v1/traces", "/api/v1/hooks/cowork/otlp/v1/traces"], min_length=1
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

    @field_validator("logs_paths", "metrics_paths", "traces_paths")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        for path in value:
            if not path.startswith("/"):
                raise ValueError(f"path {path!r} must start with '/'")
        if len(set(value)) != len(value):
            raise ValueError("paths must be unique")
        return value

    @model_validator(mode="after")
    def _one_http_endpoint(self) -> OtlpReceiverConfig:
        if self.protocols and self.protocols.http and "endpoint" in self.model_fields_set:
            raise ValueError(
                "the HTTP endpoint is set twice: use endpoint or protocols.http.endpoint"
            )
        return self

    def http_endpoint(self) -> str | None:
        """Where OTLP/HTTP is served, or ``None`` when only gRPC is."""
        if self.protocols is None or "endpoint" in self.model_fields_set:
            return self.endpoint
        return self.protocols.http.endpoint if self.protocols.http else None

    @model_validator(mode="after")
    def _paths_of_one_signal(self) -> OtlpReceiverConfig:
        seen: dict[str, str] = {}
        for key in ("logs_paths", "metrics_paths", "traces_paths"):
            for path in getattr(self, key):
                if path in seen:
                    raise ValueError(f"path {path!r} is in both {seen[path]} and {key}")
                seen[path] = key
        return self

    def paths(self, signal: Signal) -> list[str]:
        paths: list[str] = getattr(self, f"{signal}_paths")
        return paths

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
    "OTLP logs, metrics and traces over HTTP (protobuf and JSON) and gRPC, authenticated "
    "with API keys",
    ALL_SIGNALS,
)


class OtlpReceiver:
    def __init__(
        self, component_id: ComponentID, config: OtlpReceiverConfig, next_consumer: Consumer
    ) -> None:
        self.id = component_id
        self.config = config
        self.next_consumer = next_consumer
        self._runner: web.AppRunner | None = None
        self._handler: OtlpHandler | None = None
        #: the address actually bound (differs from the config when its port is 0)
        self.address: str | None = None
        #: the OTLP/gRPC address bound, when ``protocols.grpc`` is served
        self.grpc_address: str | None = None
        self._grpc: grpc.aio.Server | None = None

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
        protocols = self.config.protocols
        if protocols is not None and protocols.grpc is not None:
            await self._start_grpc(protocols.grpc.endpoint, authenticator, settings.limits)
        endpoint = self.config.http_endpoint()
        if endpoint is None:
            return
        try:
            await self._start_http(endpoint, settings, authenticator)
        except BaseException:
            await self.shutdown()  # the gRPC server, if it started
            raise

    async def _start_http(
        self, endpoint: str, settings: HandlerSettings, authenticator: Authenticator | None
    ) -> None:
        handler = OtlpHandler(settings, authenticator, self.next_consumer)
        app = web.Application(middlewares=[status_middleware(str(self.id))])
        paths = []
        for signal in sorted(consumer_signals(self.next_consumer)):
            for path in self.config.paths(signal):
                app.router.add_route("POST", path, handler.route(signal))
                paths.append(path)
        runner, self.address = await serve(
            app,
            endpoint,
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
            paths=paths,
        )

    async def _start_grpc(
        self, endpoint: str, authenticator: Authenticator | None, limits: RequestLimits
    ) -> None:
        services = [
            GrpcExport(
                CODECS[signal],
                component=str(self.id),
                authenticator=authenticator,
                required_role=self.config.required_role,
                default_tenant=self.config.tenant,
                limits=limits,
                consumer=self.next_consumer,
            )
            for signal in sorted(consumer_signals(self.next_consumer))
        ]
        size = int(self.config.max_request_body_size)
        header_timeout = self.config.header_timeout.total_seconds()
        server = grpc.aio.server(
            handlers=[service.handler() for service in services],
            maximum_concurrent_rpcs=self.config.max_concurrent_requests,
            options=[
                ("grpc.max_receive_message_length", size),
                ("grpc.so_reuseport", 1 if reuse_port() else 0),
                # the HTTP bounds' counterparts: a connection must finish its HTTP/2 (and
                # TLS) handshake within header_timeout, and an idle one is closed
                ("grpc.server_handshake_timeout_ms", int(header_timeout * 1000)),
                ("grpc.max_connection_idle_ms", 300_000),
            ],
        )
        host, port = parse_endpoint(endpoint)
        target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        tls = self.config.tls
        try:
            if tls is not None:
                pair = await asyncio.to_thread(_read_pair, tls.key_file, tls.cert_file)
                credentials = grpc.ssl_server_credentials([pair])
                bound = server.add_secure_port(target, credentials)
            else:
                bound = server.add_insecure_port(target)
        except RuntimeError:  # grpcio's "Failed to bind"
            bound = 0
        if not bound:
            raise RuntimeError(f"{self.id}: cannot listen on {endpoint} (gRPC)")
        await server.start()
        self._grpc = server
        self.grpc_address = format_endpoint(host, bound)
        log.info("listening", component=str(self.id), endpoint=self.grpc_address,
                 protocol="grpc", tls=tls is not None)  # fmt: skip

    def _ssl_context(self) -> ssl.SSLContext | None:
        if self.config.tls is None:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.config.tls.cert_file, self.config.tls.key_file)
        return ctx

    async def shutdown(self) -> None:
        """Close the listening socket, let in-flight requests finish (their bodies may still
        be arriving), then close every connection."""
        server, self._grpc = self._grpc, None
        if server is not None:
            await server.stop(self.config.shutdown_timeout.total_seconds())
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


def _read_pair(key_file: str, cert_file: str) -> tuple[bytes, bytes]:
    return Path(key_file).read_bytes(), Path(cert_file).read_bytes()
