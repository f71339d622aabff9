"""Where the store's insert time goes: microseconds per record of each step of storing a
batch in embedded chDB, in this one process, without HTTP or Kafka.

Batches of 100, 1,000 and 8,192 records (the ``batch`` processor's default size) of the
load generator's realistic records (``loadgen.body_pool``, decoded with
``otlp_proto.decode_request``, freshly for every row building: records cache what they
derive), into a fresh temporary store migrated with the project's schema
(``collector.sessions.clickhouse.schema.migrate``):

1. row building: ``collector.sessions.clickhouse.rows.columns``;
2. ``Store.insert``, as the ``clickhouse`` exporter calls it, with the materialized view
   ``session_events_mv`` present; and its parts, timed on their own: clickhouse-connect's
   ``DESCRIBE TABLE`` (it asks for the column types before every insert), its Native
   serialization, and chDB's INSERT of those Native bytes (``raw_insert``: a temporary file
   and ``INSERT ... FROM INFILE``, as clickhouse-connect's chDB backend does for any insert);
3. the same with the materialized view dropped (the view's cost is the difference);
4. other formats, view present: JSONEachRow bytes built with orjson (one object per row,
   times as ``seconds.nanoseconds`` text) and an Arrow table (pyarrow, ``insert_arrow``),
   each checked to store the same rows as Native (a checksum of every column).

Each time is the median of several runs after one untimed run. Background merges are
stopped (``SYSTEM STOP MERGES``) so that merging earlier inserts does not compete with the
one being timed; in the collector they run alongside.

    .venv/bin/python bench/insert_path.py            # about a minute
    .venv/bin/python bench/insert_path.py --reps 3   # fewer runs per step
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

import loadgen

BATCH_SIZES = (100, 1000, 8192)
TABLE = "otel_logs"
VIEW = "session_events_mv"
TENANT = "bench"
TIME_COLUMNS = ("Timestamp", "EventTime")  # DateTime64(9): nanoseconds in the columns


def import_store(retries: int = 3, wait_s: float = 60.0) -> tuple[ModuleType, ...]:
    """``rows``, ``schema`` and ``client`` of ``collector.sessions.clickhouse``; another
    engineer may be changing them, so a failed import is retried after ``wait_s``."""
    names = (
        "collector.sessions.clickhouse.rows",
        "collector.sessions.clickhouse.schema",
        "collector.sessions.clickhouse",
    )
    for attempt in range(retries + 1):
        try:
            return tuple(importlib.import_module(n) for n in names)
        except Exception as exc:
            if attempt == retries:
                raise
            print(f"import failed ({exc!r}); retrying in {wait_s:.0f}s", file=sys.stderr)
            for n in names:
                sys.modules.pop(n, None)
            time.sleep(wait_s)
    raise AssertionError("unreachable")


ROWS, SCHEMA, CLICKHOUSE = import_store()


# -- records and their encodings -------------------------------------------------------------


def realistic_bodies(records: int) -> list[bytes]:
    """Protobuf requests of 100 records of one session each, as the load generator sends."""
    return loadgen.body_pool(1, -(-records // 100), 100, "proto", False, 64, 1, 0.01)


def fresh_records(bodies: Sequence[bytes], n: int) -> list[Any]:
    from collector.pdata import otlp_proto

    out: list[Any] = []
    for body in bodies:
        out += otlp_proto.decode_request(body)
        if len(out) >= n:
            break
    return out[:n]


def build_columns(records: list[Any]) -> list[list[Any]]:
    """``rows.columns``, whether it returns the columns or (columns, values emptied)."""
    result = ROWS.columns(TENANT, records)
    return result[0] if isinstance(result, tuple) else result


def native_bytes(client: Any, names: Sequence[str], types: Sequence[Any], cols: Any) -> bytes:
    """clickhouse-connect's Native serialization of ``cols``, without its INSERT line."""
    context = client.create_insert_context(
        TABLE, list(names), column_types=types, column_oriented=True, data=cols
    )
    data = b"".join(client._transform.build_insert(context))
    return data[data.index(b"\n") + 1 :] if data.startswith(b"INSERT") else data


def _time_text(ns: int) -> str:
    seconds, frac = divmod(ns, 1_000_000_000)
    return f"{seconds}.{frac:09d}"


def json_each_row(names: Sequence[str], cols: list[list[Any]]) -> bytes:
    """One JSON object per row (orjson); DateTime64(9) columns as ``seconds.nanos`` text."""
    columns = [
        [_time_text(v) for v in col] if name in TIME_COLUMNS else col
        for name, col in zip(names, cols, strict=True)
    ]
    return b"\n".join(
        orjson.dumps(dict(zip(names, row, strict=True))) for row in zip(*columns, strict=True)
    )


def arrow_table(names: Sequence[str], cols: list[list[Any]]) -> Any:
    """A pyarrow table; times as ``timestamp[ns]``, maps as ``map<string, string>``."""
    import pyarrow as pa  # type: ignore[import-untyped]

    def array(name: str, col: list[Any]) -> Any:
        if name in TIME_COLUMNS:
            return pa.array(col, pa.timestamp("ns"))
        if col and isinstance(col[0], dict):
            return pa.array(col, pa.map_(pa.string(), pa.string()))
        return pa.array(col)

    return pa.table([array(n, c) for n, c in zip(names, cols, strict=True)], names=list(names))


# -- timing ----------------------------------------------------------------------------------


def median_s(fn: Callable[[], object], reps: int, setup: Callable[[], object] | None = None
             ) -> float:  # fmt: skip
    """Median seconds of ``fn()`` over ``reps`` runs, after one untimed run; ``setup`` (not
    timed) runs before each."""
    times = []
    for i in range(reps + 1):
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        fn()
        if i:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


class Bench:
    """The temporary store, the records, and the steps timed on them."""

    def __init__(self, path: Path, reps: int) -> None:
        self.reps = reps
        self.store = CLICKHOUSE.Store(CLICKHOUSE.ClickHouseSettings(endpoint=f"chdb://{path}"))
        self.store.open()
        SCHEMA.migrate(self.store)
        self.client = self.store.client
        self.names = list(ROWS.COLUMNS)
        self.types = self.client.create_insert_context(TABLE, self.names).column_types
        self.bodies = realistic_bodies(max(BATCH_SIZES))
        self.store.command(f"SYSTEM STOP MERGES {TABLE}")
        self.store.command("SYSTEM STOP MERGES session_events")

    def reps_for(self, n: int) -> int:
        return max(3, self.reps * 1000 // max(n, 1000))

    def view_on(self, n: int) -> dict[str, float]:
        """Steps 1, 2 and 4 for a batch of ``n`` records, with the view: seconds each."""
        reps = self.reps_for(n)
        records: list[Any] = []

        def decode() -> None:
            records[:] = fresh_records(self.bodies, n)

        cols = build_columns(fresh_records(self.bodies, n))
        native = native_bytes(self.client, self.names, self.types, cols)
        out = {
            "1. rows.columns (row building)": median_s(
                lambda: build_columns(records), reps, decode
            ),
            "2. Store.insert (serialize + chDB INSERT), view on": median_s(
                lambda: self.store.insert(TABLE, cols, self.names), reps
            ),
            "2a.  of which DESCRIBE TABLE (clickhouse-connect, every insert)": median_s(
                lambda: self.client.create_insert_context(TABLE, self.names), reps
            ),
            "2b.  of which Native serialization (clickhouse-connect)": median_s(
                lambda: native_bytes(self.client, self.names, self.types, cols), reps
            ),
            "2c.  of which chDB INSERT of the Native bytes, view on": median_s(
                lambda: self.raw_insert(native, "Native"), reps
            ),
        }
        js = json_each_row(self.names, cols)
        out["4a. JSONEachRow: build bytes (orjson)"] = median_s(
            lambda: json_each_row(self.names, cols), reps
        )
        out["4b. JSONEachRow: chDB INSERT, view on"] = median_s(
            lambda: self.raw_insert(js, "JSONEachRow"), reps
        )
        try:
            table = arrow_table(self.names, cols)
        except ImportError:
            return out
        out["5a. Arrow: build table (pyarrow)"] = median_s(
            lambda: arrow_table(self.names, cols), reps
        )
        out["5b. Arrow: insert_arrow, view on"] = median_s(
            lambda: self.client.insert_arrow(TABLE, table), reps
        )
        return out

    def view_off(self, n: int) -> dict[str, float]:
        """Step 3 for a batch of ``n`` records, the view dropped: seconds each."""
        reps = self.reps_for(n)
        cols = build_columns(fresh_records(self.bodies, n))
        native = native_bytes(self.client, self.names, self.types, cols)
        return {
            "3. Store.insert (serialize + chDB INSERT), view dropped": median_s(
                lambda: self.store.insert(TABLE, cols, self.names), reps
            ),
            "3c.  of which chDB INSERT of the Native bytes, view dropped": median_s(
                lambda: self.raw_insert(native, "Native"), reps
            ),
        }

    def raw_insert(self, data: bytes, fmt: str) -> None:
        self.client.raw_insert(TABLE, self.names, insert_block=data, fmt=fmt)

    def same_rows(self, n: int = 1000) -> dict[str, bool]:
        """Whether JSONEachRow and Arrow store exactly what Native stores: each into its own
        copy of ``otel_logs``, compared by a checksum of every column."""
        cols = build_columns(fresh_records(self.bodies, n))
        writers: dict[str, Callable[[str], object]] = {
            "native": lambda t: self.store.insert(t, cols, self.names),
            "json": lambda t: self.client.raw_insert(
                t, self.names, insert_block=json_each_row(self.names, cols), fmt="JSONEachRow"
            ),
        }
        try:
            table = arrow_table(self.names, cols)
            writers["arrow"] = lambda t: self.client.insert_arrow(t, table)
        except ImportError:
            pass
        sums = {}
        for name, write in writers.items():
            copy = f"format_check_{name}"
            self.store.command(f"CREATE TABLE {copy} AS {TABLE}")
            write(copy)
            sums[name] = self.store.query(
                f"SELECT count() AS n, sum(cityHash64(*)) AS h FROM {copy}"
            )
            self.store.command(f"DROP TABLE {copy}")
        return {k: v == sums["native"] for k, v in sums.items() if k != "native"}

    def close(self) -> None:
        self.store.command(f"SYSTEM START MERGES {TABLE}")
        self.store.close()


def measure(reps: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-insert-") as tmp:
        bench = Bench(Path(tmp) / "clickhouse", reps)
        try:
            same = bench.same_rows()
            seconds: dict[str, dict[int, float]] = {}
            for n in BATCH_SIZES:
                for step, s in bench.view_on(n).items():
                    seconds.setdefault(step, {})[n] = s
            bench.store.command(f"DROP VIEW {VIEW}")
            for n in BATCH_SIZES:
                for step, s in bench.view_off(n).items():
                    seconds.setdefault(step, {})[n] = s
        finally:
            bench.close()
    return {
        "batch_sizes": list(BATCH_SIZES),
        "reps": reps,
        "same_rows_as_native": same,
        "steps": {
            step: {
                str(n): {"us_per_record": round(s / n * 1e6, 2), "ms_per_insert": round(s * 1e3, 2)}
                for n, s in sorted(by_size.items())
            }
            for step, by_size in sorted(seconds.items())
        },
    }


def table(result: dict[str, Any]) -> str:
    sizes = [str(n) for n in result["batch_sizes"]]
    head = "| step | " + " | ".join(f"{n} records: µs/record (ms/insert)" for n in sizes) + " |"
    rows = [head, "|---|" + "---:|" * len(sizes)]
    for step, by_size in result["steps"].items():
        cells = [
            f"{by_size[n]['us_per_record']:.1f} ({by_size[n]['ms_per_insert']:.1f})"
            if n in by_size
            else "-"
            for n in sizes
        ]
        rows.append(f"| {step} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--reps", type=int, default=9, help="timed runs per step at 1,000 records and below "
        "(fewer for larger batches, at least 3)"
    )  # fmt: skip
    p.add_argument("--json-out", type=Path, help="also write the JSON here")
    a = p.parse_args(argv)
    t0 = time.monotonic()
    result = measure(a.reps)
    result["total_s"] = round(time.monotonic() - t0, 1)
    print(table(result))
    checks = ", ".join(
        f"{k}: {'yes' if v else 'NO'}" for k, v in result["same_rows_as_native"].items()
    )
    print(f"same rows as Native: {checks}; {result['total_s']} s in all\n")
    text = json.dumps(result, indent=2)
    if a.json_out:
        a.json_out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
