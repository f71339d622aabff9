"""A connection to the store. clickhouse-connect is synchronous (and chDB runs in this
process), so every call runs on one worker thread per store, off the event loop, and calls
into one embedded store are serialised process-wide."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from collector.sessions.clickhouse import ingest
from collector.sessions.clickhouse.settings import ClickHouseSettings

P = ParamSpec("P")
T = TypeVar("T")
_CHDB_LOCKS: dict[str, threading.RLock] = {}
_CHDB_LOCKS_GUARD = threading.Lock()
_CHDB_OPEN: dict[str, int] = {}  # embedded stores this process has open, and how many clients


class StoreLocked(Exception):
    """The embedded store is held by another process (e.g. a running collector)."""


class Store:
    """One client on the store; blocking methods, and :meth:`call` to run them off-loop."""

    def __init__(self, settings: ClickHouseSettings) -> None:
        self.settings = settings
        self._client: Client | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse")
        self._lock = _lock_for(settings)

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking store method on the store's thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    @property
    def client(self) -> Client:
        if self._client is None:
            self.open()
        assert self._client is not None
        return self._client

    def open(self) -> None:
        s = self.settings
        with self._lock:
            if self._client is not None:
                return
            if s.embedded:
                s.chdb_path.mkdir(parents=True, exist_ok=True)
                if not _CHDB_OPEN.get(str(s.chdb_path)) and _held_elsewhere(s.chdb_path):
                    raise StoreLocked(f"the store {s.chdb_path} is in use by another process")
                try:
                    client = _chdb_client(s.chdb_path)
                except Exception as exc:
                    if "lock" in str(exc).lower() or "EmbeddedServer" in str(exc):
                        raise StoreLocked(
                            f"the store {s.chdb_path} is in use by another process"
                        ) from exc
                    raise
                if s.database != "default":
                    client.command(f"CREATE DATABASE IF NOT EXISTS {s.database}")
                    client.close()
                    client = _chdb_client(s.chdb_path, s.database)
            else:
                client = clickhouse_connect.get_client(
                    dsn=s.endpoint,
                    username=s.username,
                    password=s.password.get_secret_value(),
                    database="default",
                    connect_timeout=5,
                    send_receive_timeout=60,
                )
                if s.database != "default":
                    client.command(f"CREATE DATABASE IF NOT EXISTS {s.database}")
                    client.database = s.database
            self._client = client
            if s.embedded:
                key = str(s.chdb_path)
                _CHDB_OPEN[key] = _CHDB_OPEN.get(key, 0) + 1

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        with self._lock:
            return self.client.command(sql, parameters=parameters)

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        with self._lock:
            result = self.client.query(sql, parameters=parameters)
        names = result.column_names
        return [dict(zip(names, row, strict=True)) for row in result.result_rows]

    def insert(
        self,
        table: str,
        columns: Sequence[Sequence[Any]],
        column_names: Sequence[str],
        settings: dict[str, Any] | None = None,
    ) -> None:
        with self._lock:
            self.client.insert(
                table, list(columns), column_names=list(column_names),
                column_oriented=True, settings=settings,
            )  # fmt: skip

    def insert_raw(
        self, table: str, payload: bytes, fmt: str, settings: dict[str, Any] | None = None
    ) -> None:
        """Insert bytes already in a ClickHouse input format (``fmt``)."""
        with self._lock:
            self.client.raw_insert(table, insert_block=payload, settings=settings, fmt=fmt)

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
            if client is not None:
                client.close()
                if self.settings.embedded:
                    key = str(self.settings.chdb_path)
                    _CHDB_OPEN[key] = max(0, _CHDB_OPEN.get(key, 0) - 1)
        self._executor.shutdown(wait=False)


def _chdb_client(path: Path, database: str | None = None) -> Client:
    """An embedded store, with the fast insert path's Protobuf schema file in its folder."""
    schema = schema_file(path)
    if not schema.exists() or schema.read_text() != ingest.SCHEMA:
        schema.parent.mkdir(parents=True, exist_ok=True)
        tmp = schema.with_suffix(".tmp")
        tmp.write_text(ingest.SCHEMA)
        tmp.replace(schema)
    if database:
        return clickhouse_connect.get_client(interface="chdb", path=str(path), database=database)
    return clickhouse_connect.get_client(interface="chdb", path=str(path))


def schema_file(path: Path) -> Path:
    """Where an embedded store keeps the fast insert path's schema."""
    return path / "format_schemas" / ingest.SCHEMA_FILE


def _held_elsewhere(path: os.PathLike[str]) -> bool:
    """Whether another process holds the embedded store (ClickHouse flocks its ``status``
    file), checked before chDB tries and complains on stderr."""
    try:
        fd = os.open(os.path.join(path, "status"), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)


def _lock_for(settings: ClickHouseSettings) -> threading.RLock:
    if not settings.embedded:
        return threading.RLock()
    key = str(settings.chdb_path)
    with _CHDB_LOCKS_GUARD:
        return _CHDB_LOCKS.setdefault(key, threading.RLock())
