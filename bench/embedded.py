"""The built-in default collector in this process, on loopback ports, in a fresh data folder:
what ``session-collector run`` with no config starts (chDB behind the write-ahead queue),
for the benchmarks that need its store at hand."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collector.auth import keystore
from collector.cli import load_config
from collector.cli.components import builtin_registry
from collector.service import Service

#: every listener of the built-in default on a free loopback port
LOOPBACK = [
    "receivers.otlp.endpoint=127.0.0.1:0",
    "receivers.otlp.protocols.grpc.endpoint=127.0.0.1:0",
    "extensions.sessions_api.endpoint=127.0.0.1:0",
    "extensions.health_check.endpoint=127.0.0.1:0",
    "service.telemetry.metrics.address=127.0.0.1:0",
]


async def start_default(*roles: str) -> tuple[Service, list[str]]:
    """The started service, and one key of org ``acme`` per role given."""
    data = Path(tempfile.mkdtemp()) / "data"
    os.environ["SESSION_COLLECTOR_DATA_DIR"] = str(data)
    keys = [
        keystore.create(data / "keys.json", org="acme", name=role, roles=[role])[1]
        for role in roles
    ]
    service = Service(load_config([], LOOPBACK), builtin_registry())
    await service.start()
    return service, keys
