"""Shared fixtures: API keys in a temporary keys file, and collectors running in-process
on a loopback port with a real HTTP client."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.auth import keystore
from collector.component import ComponentID
from collector.confmap import ConfMap
from collector.service import Service
from collector.service.config import validate
from extensions.apikeys import ApiKeysExtension
from tests.doubles import RecordingExporter, testing_registry

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO.parent / "shared" / "reference" / "samples" / "claude-code-2.1.197-session.otlp.json"
if not SAMPLE.exists():  # a checkout without shared/ beside it
    SAMPLE = REPO / "tests" / "data" / "claude-code-2.1.197-session.otlp.json"
CLI = str(Path(sys.executable).with_name("session-collector"))


@pytest.fixture
def sample_json() -> bytes:
    """The real Claude Code 2.1.197 export: one session, six records."""
    return SAMPLE.read_bytes()


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    return tmp_path / "keys.json"


@pytest.fixture
def make_key(keys_file: Path) -> Callable[..., str]:
    """Create a key in ``keys_file`` and return its secret."""

    def make(org: str = "acme", roles: tuple[str, ...] = ("mcp_watch_scan",), **kw: Any) -> str:
        _, secret = keystore.create(keys_file, org=org, name="test", roles=list(roles), **kw)
        return secret

    return make


@pytest.fixture
def org_key(make_key: Callable[..., str]) -> str:
    return make_key()


def base_config(keys_file: Path, **receiver: Any) -> dict[str, Any]:
    """otlp (with apikeys) -> recording exporter."""
    return {
        "extensions": {"apikeys": {"keys_file": str(keys_file), "reload_interval": "50ms"}},
        "receivers": {"otlp": {"endpoint": "127.0.0.1:0", "auth": "apikeys", **receiver}},
        "exporters": {"recording": {}},
        "service": {
            "extensions": ["apikeys"],
            "pipelines": {"logs": {"receivers": ["otlp"], "exporters": ["recording"]}},
        },
    }


class RunningCollector:
    def __init__(self, service: Service) -> None:
        self.service = service
        address = getattr(next(iter(service.receivers.values())), "address", None)
        scheme = "https" if "tls" in str(service.config.raw["receivers"]) else "http"
        self.url = f"{scheme}://{address}" if address else ""

    def exporter(self, name: str = "recording") -> RecordingExporter:
        return RecordingExporter.instances[name]

    async def key(
        self, org: str = "acme", roles: tuple[str, ...] = ("mcp_watch_scan",), **kw: Any
    ) -> str:
        """Create a key in the collector's keys file, make it take effect, return it."""
        ext = self.service.extensions[ComponentID("apikeys")]
        assert isinstance(ext, ApiKeysExtension)
        _, secret = keystore.create(
            ext.config.keys_file, org=org, name="test", roles=list(roles), **kw
        )
        await ext.reload()
        return secret


StartCollector = Callable[[dict[str, Any]], Awaitable[RunningCollector]]


@pytest.fixture
async def start_collector() -> AsyncIterator[StartCollector]:
    """Start a collector from a config dict; every one started is shut down afterwards."""
    services: list[Service] = []

    async def start(raw: dict[str, Any]) -> RunningCollector:
        conf = ConfMap()
        conf.merge(raw, "test")
        conf.merge({"service": {"telemetry": {"metrics": {"address": "127.0.0.1:0"}}}}, "test")
        service = Service(validate(conf, testing_registry()), testing_registry())
        await service.start()
        services.append(service)
        return RunningCollector(service)

    yield start
    for service in services:
        await service.shutdown()


@pytest.fixture
async def collector(
    start_collector: StartCollector, keys_file: Path, org_key: str
) -> RunningCollector:
    """otlp with API keys -> recording exporter, on a loopback port."""
    return await start_collector(base_config(keys_file))


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as c:
        yield c


@pytest.fixture
def clean_env() -> dict[str, str]:
    """The environment for a collector subprocess."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SESSION_COLLECTOR_")}


@pytest.fixture
def store_endpoint(tmp_path: Path) -> dict[str, Any]:
    """Connection settings of a fresh store: a ClickHouse server when CLICKHOUSE_URL is set
    (a database of its own per test), else embedded chDB in a temporary folder."""
    url = os.environ.get("CLICKHOUSE_URL")
    if url:
        import secrets

        return {
            "endpoint": url,
            "username": os.environ.get("CLICKHOUSE_USER", "default"),
            "password": os.environ.get("CLICKHOUSE_PASSWORD", ""),
            "database": f"test_{secrets.token_hex(6)}",
        }
    return {"endpoint": f"chdb://{tmp_path / 'clickhouse'}"}


def storage_config(
    keys_file: Path, store: dict[str, Any], *, all_signals: bool = False, **batch: Any
) -> dict[str, Any]:
    """otlp (apikeys) -> cowork -> batch -> clickhouse, with sessions_api. With
    ``all_signals``, as the built-in default: logs through cowork -> redaction -> batch,
    metrics through batch, traces through redaction -> batch."""
    raw: dict[str, Any] = {
        "extensions": {
            "apikeys": {"keys_file": str(keys_file), "reload_interval": "50ms"},
            "sessions_api": {"endpoint": "127.0.0.1:0", "auth": "apikeys"},
        },
        "receivers": {"otlp": {"endpoint": "127.0.0.1:0", "auth": "apikeys"}},
        "processors": {"cowork": {}, "batch": {"timeout": "20ms", **batch}},
        "exporters": {"clickhouse": {**store, "retry_on_failure": {"enabled": False}}},
        "service": {
            "extensions": ["apikeys", "sessions_api"],
            "pipelines": {
                "logs": {
                    "receivers": ["otlp"],
                    "processors": ["cowork", "batch"],
                    "exporters": ["clickhouse"],
                }
            },
        },
    }
    if all_signals:
        raw["processors"]["redaction"] = {}
        pipelines = raw["service"]["pipelines"]
        pipelines["logs"]["processors"] = ["cowork", "redaction", "batch"]
        for signal, processors in (("metrics", ["batch"]), ("traces", ["redaction", "batch"])):
            pipelines[signal] = {"receivers": ["otlp"], "processors": processors,
                                 "exporters": ["clickhouse"]}  # fmt: skip
    return raw


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """The broker the Kafka tests use: KAFKA_BOOTSTRAP, else the dev broker on 9092.
    Not reachable is a failure, never a skip: ``scripts/dev-services start`` runs one."""
    import socket

    bootstrap = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    host, _, port = bootstrap.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        pytest.fail(f"no Kafka broker at {bootstrap} ({exc}); run scripts/dev-services start")
    return bootstrap


@pytest.fixture
def topic() -> str:
    """A topic name of this test's own."""
    import secrets

    return f"test_{secrets.token_hex(6)}"


async def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


async def read_topic(bootstrap: str, name: str, count: int, within: float = 30) -> list[Any]:
    """``count`` messages from the start of a topic (fails if fewer arrive in time)."""
    import asyncio

    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(name, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    messages: list[Any] = []
    try:
        async with asyncio.timeout(within):
            while len(messages) < count:
                polled = await consumer.getmany(timeout_ms=500)
                for batch in polled.values():
                    messages.extend(batch)
    finally:
        await consumer.stop()
    return messages
