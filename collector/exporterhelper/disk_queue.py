"""A durable FIFO of encoded batches in SQLite (WAL, ``synchronous=FULL``): ``put`` returns
once the batch is fsynced, survives a crash or restart, and items leave only by ``delete``
after their delivery, or by ``dead_letter``, which moves what the destination refused for
good into the ``dead_letter`` table of the same file, in one transaction (read it with
``sqlite3 FILE 'SELECT id, signal, tenant, records, error, at FROM dead_letter'``; ``payload``
is an OTLP export request of the item's ``signal``: ``ExportLogsServiceRequest``,
``ExportMetricsServiceRequest`` or ``ExportTraceServiceRequest``). Blocking: callers run it
off the event loop. A queue written before the ``signal`` column existed gets it, as
``logs``, when opened."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path


class QueueFull(Exception):
    """The queue holds ``capacity`` batches already."""


@dataclass(frozen=True, slots=True)
class QueuedBatch:
    id: int
    tenant: str
    payload: bytes
    records: int
    #: ``logs``, ``metrics`` or ``traces``
    signal: str = "logs"


class DiskQueue:
    def __init__(self, path: Path, capacity: int) -> None:
        self.path = path
        self.capacity = capacity
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS queue (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "tenant TEXT NOT NULL, records INTEGER NOT NULL, payload BLOB NOT NULL)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS dead_letter (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "tenant TEXT NOT NULL, records INTEGER NOT NULL, payload BLOB NOT NULL, "
            "error TEXT NOT NULL, at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ')))"
        )
        for table in ("queue", "dead_letter"):
            columns = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if "signal" not in columns:
                self._db.execute(
                    f"ALTER TABLE {table} ADD COLUMN signal TEXT NOT NULL DEFAULT 'logs'"
                )
        self._size, self._records = self._db.execute(
            "SELECT count(*), coalesce(sum(records), 0) FROM queue"
        ).fetchone()

    def __len__(self) -> int:
        return int(self._size)

    @property
    def records(self) -> int:
        """Records (log records, data points, spans) waiting in the queue."""
        return int(self._records)

    def put(self, tenant: str, payload: bytes, records: int, signal: str = "logs") -> None:
        with self._lock:
            if self._size >= self.capacity:
                raise QueueFull(f"the sending queue holds {self._size} batches (queue_size)")
            self._db.execute(
                "INSERT INTO queue (tenant, records, payload, signal) VALUES (?, ?, ?, ?)",
                (tenant, records, payload, signal),
            )
            self._size += 1
            self._records += records

    def peek(
        self, limit: int = 1, *, max_records: int | None = None, max_bytes: int | None = None
    ) -> list[QueuedBatch]:
        """The oldest items, at most ``limit``, and no more than hold ``max_records`` records
        and ``max_bytes`` of payload (but at least one): only those are read from disk."""
        items: list[QueuedBatch] = []
        records = size = 0
        with self._lock:
            cursor = self._db.execute(
                "SELECT id, tenant, records, length(payload), signal FROM queue "
                "ORDER BY id LIMIT ?",
                (limit,),
            )
            chosen: list[tuple[int, str, int, int, str]] = []
            for row in cursor:
                records += row[2]
                size += row[3]
                if chosen and (
                    (max_records is not None and records > max_records)
                    or (max_bytes is not None and size > max_bytes)
                ):
                    break
                chosen.append(row)
            cursor.close()
            for row in chosen:
                (payload,) = self._db.execute(
                    "SELECT payload FROM queue WHERE id = ?", (row[0],)
                ).fetchone()
                items.append(QueuedBatch(row[0], row[1], bytes(payload), row[2], row[4]))
        return items

    def delete(self, item: QueuedBatch) -> None:
        with self._lock:
            cur = self._db.execute("DELETE FROM queue WHERE id = ?", (item.id,))
            if cur.rowcount:
                self._size -= 1
                self._records -= item.records

    def delete_many(self, items: list[QueuedBatch]) -> None:
        """Remove delivered items, in one transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                deleted = [
                    item
                    for item in items
                    if self._db.execute("DELETE FROM queue WHERE id = ?", (item.id,)).rowcount
                ]
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._size -= len(deleted)
            self._records -= sum(item.records for item in deleted)

    def dead_letter(
        self, item: QueuedBatch, payload: bytes | None, records: int, error: str
    ) -> None:
        """Remove ``item`` from the queue and keep ``payload`` (its refused records; ``None``:
        all of it) in the dead-letter table, atomically."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO dead_letter (tenant, records, payload, error, signal) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (
                        item.tenant,
                        records,
                        item.payload if payload is None else payload,
                        error,
                        item.signal,
                    ),
                )
                cur = self._db.execute("DELETE FROM queue WHERE id = ?", (item.id,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            if cur.rowcount:
                self._size -= 1
                self._records -= item.records

    def dead_letters(self) -> list[tuple[str, int, bytes, str]]:
        """``(tenant, records, payload, error)`` of every dead letter, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT tenant, records, payload, error FROM dead_letter ORDER BY id"
            ).fetchall()
        return [(r[0], r[1], bytes(r[2]), r[3]) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
