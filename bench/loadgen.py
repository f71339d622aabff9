"""OTLP/HTTP load generator for session-collector: realistic Claude Code log exports.

Several processes (``--procs``), each with one asyncio loop and ``--conns`` keep-alive HTTP/1.1
connections, POST ``ExportLogsServiceRequest`` bodies of ``--batch`` records to the collector.
Bodies are generated and encoded (protobuf or JSON, optionally gzip) into a pool before the
clock starts, so the generator spends its CPU on HTTP, not on encoding.

The records follow the six shapes of a real Claude Code 2.1.197 export
(``tests/data/claude-code-2.1.197-session.otlp.json``): ``user_prompt``, ``tool_decision``,
``api_request``, ``tool_result``, ``api_request``, ``assistant_response``, one cycle per
prompt, with varied session ids, prompt ids, ``event.sequence``, timestamps, token counts,
prompt texts of about 200 characters and ``tool_parameters`` JSON strings.

Two modes:

- closed loop (default): every connection sends its next request as soon as the previous one
  is answered, for ``--duration`` seconds: the maximum rate;
- open loop (``--rate R``): requests are started on a fixed schedule of ``R`` records/s
  whatever the answers; latency is measured from the *scheduled* start, so queueing in the
  generator (coordinated omission) is counted against the collector.

With ``--signal metrics`` or ``--signal traces`` the bodies are Claude Code's own metrics or
traces exports (``tests/data/claude-code-2.1.197-write/http-protobuf``: 10 data points or 6
spans per export) repeated to about ``--batch`` data points or spans, each copy with a session
id (and trace and span ids) of its own; send them to ``/v1/metrics`` or ``/v1/traces``.

Both are bounded by ``--duration`` and ``--max-requests``. The first ``--warmup`` seconds are
sent but not measured. Prints one JSON object: accepted records/s, requests, errors by
status, and p50/p90/p99 latency in milliseconds.

    python bench/loadgen.py --url http://127.0.0.1:4318/v1/logs --key sck_... \\
        --procs 2 --conns 8 --duration 15 --encoding proto
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import gzip
import multiprocessing as mp
import os
import random
import resource
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

# -- realistic records -----------------------------------------------------------------------

_VERSIONS = ("2.1.197", "2.1.196", "2.1.190")
_SERVICES = (("claude-code", 0.80), ("cowork", 0.15), ("claude-code-desktop", 0.05))
_MODELS = ("claude-opus-4-8", "claude-sonnet-4-6", "claude-haiku-4-5")
_PROMPT_OPENERS = (
    "Can you look at the failing test in",
    "Refactor the retry logic in",
    "Please add structured logging to",
    "Why does the build break after upgrading the dependency in",
    "Write a migration that adds an index for the query used by",
    "Explain what the function does and find the race condition in",
    "Summarise the open review comments and fix the ones about",
)
_PROMPT_FILES = (
    "src/payments/ledger.py",
    "services/api/handlers/session.go",
    "web/app/components/Dashboard.tsx",
    "internal/kafka/consumer.go",
    "lib/auth/token_refresh.rb",
    "collector/exporters/clickhouse.py",
)
_PROMPT_TAILS = (
    "Keep the public interface unchanged and add tests for the edge cases we discussed.",
    "It only fails on CI, never locally, and the logs show a timeout after about thirty seconds.",
    "Make sure the change is backwards compatible with the config files already deployed.",
    "Use the existing helpers instead of adding a new dependency, and update the README.",
    "The on-call engineer saw duplicated rows in the dashboard last night around 02:00 UTC.",
)
_RESPONSES = (
    "I found the problem: the retry loop reuses a closed connection. I changed it to open a "
    "new one per attempt and added a test that simulates the broker going away.",
    "Done. The migration adds a composite index on (tenant, created_at); the slow query now "
    "uses it and drops from 1.2 s to 8 ms on the staging data set.",
    "The test was flaky because it depended on dictionary order. I sorted the output before "
    "comparing and the suite passes ten times in a row.",
)
_TOOLS = ("Bash", "Read", "Edit", "Grep", "Write", "mcp__github__search_issues")
_SECRETS = (
    "sk-ant-api03-Xy7KqP2mN8vR4tL1wZ9bC3dF6gH0jA5sE",
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_1234567890abcdefghijklmnopqrstuvwxyzAB",
)


def _tool_parameters(rng: random.Random, tool: str, path: str) -> dict[str, Any]:
    if tool == "Bash":
        cmd = rng.choice(
            (
                f"pytest -x -q tests/{path.split('/')[-1].replace('.', '_')}",
                "git diff --stat origin/main...HEAD",
                f"rg -n 'def retry' {path.rsplit('/', 1)[0]}",
                "make lint && make test PYTEST_ARGS='-k kafka'",
            )
        )
        return {
            "bash_command": cmd.split()[0],
            "full_command": cmd,
            "description": "Run the relevant checks",
            "timeout": rng.choice((120000, 300000)),
        }
    if tool == "Read":
        return {"file_path": f"/home/dev/project/{path}", "offset": rng.randint(1, 400)}
    if tool == "Edit":
        return {
            "file_path": f"/home/dev/project/{path}",
            "old_string": "for attempt in range(retries):\n    conn.send(payload)",
            "new_string": "for attempt in range(retries):\n    conn = pool.acquire()\n"
            "    conn.send(payload)",
        }
    if tool == "Grep":
        return {"pattern": r"retry_on_failure|max_elapsed", "path": "/home/dev/project"}
    if tool == "Write":
        return {"file_path": f"/home/dev/project/{path}.bak", "content_length": 2048}
    return {
        "mcp_server_name": "github",
        "mcp_tool_name": "search_issues",
        "query": "is:open label:flaky repo:acme/platform",
    }


@dataclass
class Session:
    """One simulated Claude Code process: a session whose events count up."""

    rng: random.Random
    session_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    sequence: int = 0
    prompt_id: str = ""
    tool: str = "Bash"
    tool_use_id: str = ""
    request_id: str = ""
    path: str = ""
    time_ns: int = 0

    def __post_init__(self) -> None:
        rng = self.rng
        self.user_id = f"{rng.getrandbits(256):064x}"
        self.email = f"dev{rng.randint(1, 5000)}@acme.example"
        self.org = str(uuid.UUID(int=rng.getrandbits(128)))
        r, acc = rng.random(), 0.0
        self.service = _SERVICES[0][0]
        for name, weight in _SERVICES:
            acc += weight
            if r < acc:
                self.service = name
                break
        self.version = rng.choice(_VERSIONS)
        self.model = rng.choice(_MODELS)
        self.time_ns = time.time_ns() - rng.randint(0, 3600) * 1_000_000_000

    def resource(self) -> dict[str, Any]:
        return {
            "attributes": [
                _kv("host.arch", "amd64"),
                _kv("os.type", "linux"),
                _kv("os.version", "6.18.44-fc-v669"),
                _kv("service.name", self.service),
                _kv("service.version", self.version),
            ],
            "droppedAttributesCount": 0,
        }

    def records(self, n: int, secret_rate: float) -> list[dict[str, Any]]:
        return [self._next(secret_rate) for _ in range(n)]

    def _next(self, secret_rate: float) -> dict[str, Any]:
        rng = self.rng
        shape = self.sequence % 6
        self.time_ns += rng.randint(5, 4000) * 1_000_000
        if shape == 0:
            self.prompt_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            self.path = rng.choice(_PROMPT_FILES)
            self.tool = rng.choice(_TOOLS)
            self.tool_use_id = f"toolu_{rng.getrandbits(80):020x}"
        if shape in (2, 4):
            self.request_id = f"req_{rng.getrandbits(64):016x}"
        common = [
            _kv("user.id", self.user_id),
            _kv("session.id", self.session_id),
            _kv("terminal.type", "non-interactive" if self.service == "cowork" else "xterm"),
            _kv("user.email", self.email),
            _kv("organization.id", self.org),
        ]
        name, attrs = self._shape(shape, secret_rate)
        stamp = datetime.fromtimestamp(self.time_ns / 1e9, UTC)
        iso = stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
        record = {
            "timeUnixNano": str(self.time_ns),
            "observedTimeUnixNano": str(self.time_ns),
            "body": {"stringValue": f"claude_code.{name}"},
            "attributes": [
                *common,
                _kv("event.name", name),
                _kv("event.timestamp", iso),
                {"key": "event.sequence", "value": {"intValue": self.sequence}},
                _kv("prompt.id", self.prompt_id),
                *attrs,
            ],
            "droppedAttributesCount": 0,
        }
        self.sequence += 1
        return record

    def _shape(self, shape: int, secret_rate: float) -> tuple[str, list[dict[str, Any]]]:
        rng = self.rng
        if shape == 0:
            prompt = (
                f"{rng.choice(_PROMPT_OPENERS)} {self.path}? {rng.choice(_PROMPT_TAILS)} "
                f"{rng.choice(_PROMPT_TAILS)}"
            )[: rng.randint(170, 240)]
            return "user_prompt", [
                _kv("prompt_length", str(len(prompt))),
                _kv("prompt", prompt),
            ]
        params = _tool_parameters(rng, self.tool, self.path)
        if rng.random() < secret_rate:
            params["env"] = f"ANTHROPIC_API_KEY={rng.choice(_SECRETS)}"
        params_json = orjson.dumps(params).decode()
        if shape == 1:
            return "tool_decision", [
                _kv("decision", "accept" if rng.random() < 0.97 else "reject"),
                _kv("source", rng.choice(("config", "user_temporary", "user_permanent"))),
                _kv("tool_name", self.tool),
                _kv("tool_use_id", self.tool_use_id),
                _kv("tool_parameters", params_json),
            ]
        if shape in (2, 4):
            inp, out = rng.randint(200, 60000), rng.randint(10, 4000)
            cache_read, cache_new = rng.randint(0, 50000), rng.randint(0, 8000)
            micros = (inp * 15 + out * 75 + cache_read * 2 + cache_new * 19) // 1000 + 1
            return "api_request", [
                _kv("model", self.model),
                {"key": "input_tokens", "value": {"intValue": inp}},
                {"key": "output_tokens", "value": {"intValue": out}},
                {"key": "cache_read_tokens", "value": {"intValue": cache_read}},
                {"key": "cache_creation_tokens", "value": {"intValue": cache_new}},
                {"key": "cost_usd", "value": {"doubleValue": micros / 1e6}},
                {"key": "cost_usd_micros", "value": {"intValue": micros}},
                {"key": "duration_ms", "value": {"intValue": rng.randint(300, 45000)}},
                _kv("request_id", self.request_id),
                _kv("speed", "normal"),
                _kv("query_source", rng.choice(("sdk", "repl_main_thread"))),
                _kv("effort", rng.choice(("high", "medium"))),
            ]
        if shape == 3:
            ok = rng.random() < 0.93
            tool_input = orjson.dumps({k: v for k, v in params.items() if k != "timeout"})
            attrs = [
                _kv("tool_name", self.tool),
                _kv("tool_use_id", self.tool_use_id),
                _kv("success", "true" if ok else "false"),
                _kv("duration_ms", str(rng.randint(3, 90000))),
                _kv("tool_parameters", params_json),
                _kv("tool_input", tool_input.decode()),
                _kv("tool_input_size_bytes", str(len(tool_input))),
                _kv("tool_result_size_bytes", str(rng.randint(0, 200000))),
            ]
            if not ok:
                attrs.append(_kv("error", "Exit code 1: 3 failed, 141 passed in 12.84s"))
                attrs.append(_kv("error_type", "tool_error"))
            return "tool_result", attrs
        response = rng.choice(_RESPONSES)
        return "assistant_response", [
            {"key": "response_length", "value": {"intValue": len(response)}},
            _kv("response", response),
            _kv("request_id", self.request_id),
            _kv("model", self.model),
            _kv("query_source", "sdk"),
        ]


def _kv(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": {"stringValue": value}}


def export_request(
    sessions: list[Session], batch: int, secret_rate: float = 0.01
) -> dict[str, Any]:
    """One OTLP/JSON ``ExportLogsServiceRequest`` of ``batch`` records spread over
    ``sessions`` (one ``resourceLogs`` per session, as each process exports its own)."""
    per, extra = divmod(batch, len(sessions))
    resource_logs = []
    for i, session in enumerate(sessions):
        n = per + (1 if i < extra else 0)
        if not n:
            continue
        resource_logs.append(
            {
                "resource": session.resource(),
                "scopeLogs": [
                    {
                        "scope": {
                            "name": "com.anthropic.claude_code.events",
                            "version": session.version,
                        },
                        "logRecords": session.records(n, secret_rate),
                    }
                ],
            }
        )
    return {"resourceLogs": resource_logs}


def encode(doc: dict[str, Any], encoding: str) -> bytes:
    """OTLP/JSON as the sample has it, or protobuf. Protobuf goes through the project's codec
    (about 6 ms per 100 records) when it is importable, else through ``json_format`` (about
    10 times slower, fine for a small pool)."""
    data = orjson.dumps(doc)
    if encoding == "json":
        return data
    try:
        from collector.pdata import otlp_json, otlp_proto
        from collector.pdata.records import LogBatch
    except ImportError:
        return bytes(json_format.ParseDict(doc, ExportLogsServiceRequest()).SerializeToString())
    return otlp_proto.encode_request(LogBatch("bench", otlp_json.decode_request(data)))


CAPTURE = (
    Path(__file__).resolve().parent.parent / "tests" / "data" / "claude-code-2.1.197-write"
    / "http-protobuf"
)  # fmt: skip
#: data points or spans in one export of the capture
PER_EXPORT = {"metrics": 10, "traces": 6}
GRPC_METHODS = {
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
}


def signal_batch(signal: str, batch: int) -> int:
    """The data points or spans one body holds: whole exports, about ``batch``."""
    if signal == "logs":
        return batch
    return max(1, round(batch / PER_EXPORT[signal])) * PER_EXPORT[signal]


def signal_body(rng: random.Random, signal: str, batch: int, encoding: str) -> bytes:
    """Claude Code's metrics or traces export, repeated into ``signal_batch`` items, each copy
    with fresh session, trace and span ids."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    cls = ExportMetricsServiceRequest if signal == "metrics" else ExportTraceServiceRequest
    one = cls.FromString((CAPTURE / f"{signal}.pb").read_bytes())
    request = cls()
    for _ in range(signal_batch(signal, batch) // PER_EXPORT[signal]):
        copy = cls()
        copy.CopyFrom(one)
        session = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        ids: dict[bytes, bytes] = {}
        if signal == "metrics":
            for rm in copy.resource_metrics:
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        for p in getattr(m, m.WhichOneof("data")).data_points:
                            _set_session(p.attributes, session)
        else:
            for rs in copy.resource_spans:
                for ss in rs.scope_spans:
                    for sp in ss.spans:
                        _set_session(sp.attributes, session)
                        sp.trace_id = _fresh(rng, ids, sp.trace_id)
                        sp.span_id = _fresh(rng, ids, sp.span_id)
                        sp.parent_span_id = _fresh(rng, ids, sp.parent_span_id)
        request.MergeFrom(copy)
    if encoding == "proto":
        return bytes(request.SerializeToString())
    from collector.pdata import signals

    items = signals.DECODERS[(signals.Signal(signal), "proto")](request.SerializeToString(), None)
    return signals.batch_of(signal, "bench", items).to_json()  # type: ignore[union-attr]


def _fresh(rng: random.Random, ids: dict[bytes, bytes], old: bytes) -> bytes:
    """A new id for ``old``, the same one each time within a copy (parents stay linked)."""
    if old and old not in ids:
        ids[old] = rng.randbytes(len(old))
    return ids.get(old, old)


def _set_session(attributes: Any, session: str) -> None:
    for kv in attributes:
        if kv.key == "session.id":
            kv.value.string_value = session


def body_pool(
    seed: int,
    size: int,
    batch: int,
    encoding: str,
    use_gzip: bool,
    active_sessions: int,
    sessions_per_batch: int,
    secret_rate: float,
    signal: str = "logs",
) -> list[bytes]:
    """``size`` encoded bodies drawn from ``active_sessions`` ongoing sessions."""
    rng = random.Random(seed)
    if signal != "logs":
        bodies = [signal_body(rng, signal, batch, encoding) for _ in range(size)]
        return [gzip.compress(b, 1) for b in bodies] if use_gzip else bodies
    sessions = [Session(random.Random(rng.getrandbits(64))) for _ in range(active_sessions)]
    bodies = []
    for _ in range(size):
        chosen = rng.sample(sessions, min(sessions_per_batch, len(sessions)))
        body = encode(export_request(chosen, batch, secret_rate), encoding)
        bodies.append(gzip.compress(body, 1) if use_gzip else body)
    return bodies


# -- sending ---------------------------------------------------------------------------------


@dataclass
class WorkerSettings:
    url: str
    key: str
    encoding: str
    use_gzip: bool
    batch: int
    conns: int
    duration: float
    warmup: float
    rate: float | None  # records/s for this process; None: closed loop
    max_requests: int
    pool: int
    active_sessions: int
    sessions_per_batch: int
    secret_rate: float
    timeout: float
    stagger: float  # fraction of one interval to offset this process's schedule
    seed: int  # the same seed gives the same bodies
    signal: str = "logs"


@dataclass
class WorkerResult:
    latencies_ms: list[float] = field(default_factory=list)
    #: (second of the window, latency ms) of each accepted request, for the timeline
    timeline: list[tuple[int, float]] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    accepted_records: int = 0
    requests: int = 0  # completed inside the measured window
    sent: int = 0  # started, in total (warm-up included)
    ok_total: int = 0  # answered 200, in total (warm-up and after the window included)
    #: indexes of the pool's bodies answered 200 at least once: the pool's records are all
    #: distinct, and a body sent again repeats its records exactly
    ok_bodies: set[int] = field(default_factory=set)
    skipped: int = 0  # open loop: not started because too many were outstanding
    body_bytes: int = 0
    cpu_s: float = 0.0
    build_s: float = 0.0


class HttpConnection:
    """One keep-alive HTTP/1.1 connection that POSTs requests encoded beforehand.

    No client library: the generator runs on the cores it measures, so it must cost as
    little as it can (aiohttp's client took 0.4 cores at 50,000 records/s; this takes a
    fraction of that). Answers are read by ``Content-Length`` or chunked, and the connection
    is opened again after the server closes it or after an error.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, request: bytes) -> int:
        """Send one whole request; the answer's status code."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        try:
            self.writer.write(request)
            head = await self.reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length, chunked, close = 0, False, False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name, value = name.strip().lower(), value.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding":
                    chunked = value == b"chunked"
                elif name == b"connection":
                    close = value == b"close"
            if chunked:
                while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                    await self.reader.readexactly(size + 2)
                await self.reader.readuntil(b"\r\n")
            elif length:
                await self.reader.readexactly(length)
        except BaseException:
            self.close()
            raise
        if close:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class GrpcConnection:
    """One gRPC channel (HTTP/2) calling ``LogsService/Export`` with protobuf bodies encoded
    beforehand (grpcio's asyncio client; ``grpc://host:port`` URLs). Answers map to the HTTP
    statuses the summary counts: OK 200, RESOURCE_EXHAUSTED 429, UNAVAILABLE 503, ..."""

    _STATUS = {"RESOURCE_EXHAUSTED": 429, "UNAVAILABLE": 503, "UNAUTHENTICATED": 401,
               "PERMISSION_DENIED": 403, "INVALID_ARGUMENT": 400}  # fmt: skip

    def __init__(self, target: str, key: str, use_gzip: bool, signal: str = "logs") -> None:
        import grpc

        self._grpc = grpc
        self.channel = grpc.aio.insecure_channel(target)
        self.export = self.channel.unary_unary(GRPC_METHODS[signal])
        self.metadata = (("authorization", f"Bearer {key}"),)
        self.compression = grpc.Compression.Gzip if use_gzip else None

    async def post(self, body: bytes) -> int:
        try:
            await self.export(body, metadata=self.metadata, compression=self.compression)
        except self._grpc.aio.AioRpcError as exc:
            return self._STATUS.get(exc.code().name, 500)
        return 200

    def close(self) -> None:
        asyncio.get_running_loop().create_task(self.channel.close())


def http_requests(url: str, key: str, encoding: str, use_gzip: bool, bodies: list[bytes]
                  ) -> list[bytes]:  # fmt: skip
    """Each body as a whole HTTP/1.1 POST to ``url``, headers included."""
    parts = urlsplit(url)
    head = (
        f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {key}\r\n"
        "Content-Type: "
        + ("application/x-protobuf" if encoding == "proto" else "application/json")
        + "\r\n"
        + ("Content-Encoding: gzip\r\n" if use_gzip else "")
    )
    return [f"{head}Content-Length: {len(b)}\r\n\r\n".encode() + b for b in bodies]


async def _run_worker(s: WorkerSettings, bodies: list[bytes], start: float) -> WorkerResult:
    out = WorkerResult()
    parts = urlsplit(s.url)
    grpc = parts.scheme == "grpc"
    requests = bodies if grpc else http_requests(s.url, s.key, s.encoding, s.use_gzip, bodies)
    window_start = start + s.warmup
    deadline = start + s.warmup + s.duration
    idle: asyncio.Queue[HttpConnection | GrpcConnection] = asyncio.Queue()
    for _ in range(s.conns):
        idle.put_nowait(
            GrpcConnection(parts.netloc, s.key, s.use_gzip, s.signal)
            if grpc
            else HttpConnection(parts.hostname or "127.0.0.1", parts.port or 80)
        )
    counter = 0

    async def send(scheduled: float) -> None:
        nonlocal counter
        i = counter % len(bodies)
        counter += 1
        out.sent += 1
        status: str
        conn = await idle.get()  # open loop: waits here when every connection is busy
        try:
            async with asyncio.timeout(s.timeout):
                status = str(await conn.post(requests[i]))
        except TimeoutError:
            status = "timeout"
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            status = f"conn_error:{type(exc).__name__}"
        finally:
            idle.put_nowait(conn)
        done = time.monotonic()
        if status == "200":
            out.ok_total += 1
            out.ok_bodies.add(i)
        if window_start <= done <= deadline:
            out.requests += 1
            out.statuses[status] += 1
            out.body_bytes += len(bodies[i])
            if status == "200":
                out.accepted_records += s.batch
                latency = (done - scheduled) * 1000.0
                out.latencies_ms.append(latency)
                out.timeline.append((int(done - window_start), latency))

    await asyncio.sleep(max(0.0, start - time.monotonic()))
    if s.rate is None:

        async def loop() -> None:
            while time.monotonic() < deadline and out.sent < s.max_requests:
                await send(time.monotonic())

        await asyncio.gather(*(loop() for _ in range(s.conns)))
    else:
        interval = s.batch / s.rate
        max_outstanding = s.conns * 4
        tasks: set[asyncio.Task[None]] = set()
        k = 0
        while out.sent + out.skipped < s.max_requests:
            scheduled = start + (k + s.stagger) * interval
            k += 1
            if scheduled >= deadline:
                break
            delay = scheduled - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if len(tasks) >= max_outstanding:
                out.skipped += 1
                continue
            task = asyncio.create_task(send(scheduled))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=s.timeout)
    while not idle.empty():
        idle.get_nowait().close()
    return out


def _worker(
    index: int, s: WorkerSettings, ready: Any, go: Any, start_at: Any, results: Any
) -> None:
    t0 = time.monotonic()
    bodies = body_pool(
        seed=s.seed * 1000 + index,
        size=s.pool,
        batch=s.batch,
        encoding=s.encoding,
        use_gzip=s.use_gzip,
        active_sessions=s.active_sessions,
        sessions_per_batch=s.sessions_per_batch,
        secret_rate=s.secret_rate,
        signal=s.signal,
    )
    build = time.monotonic() - t0
    # No garbage collection while measuring: a full collection here takes about 20 ms, and
    # requests this process then starts late count as the collector's latency (from their
    # scheduled start). What the run allocates is small and bounded.
    gc.collect()
    gc.freeze()
    gc.disable()
    ready.put(index)
    if not go.wait(timeout=120):
        results.put((index, None))
        return
    before = resource.getrusage(resource.RUSAGE_SELF)
    try:
        if s.url.startswith("grpc:"):  # grpcio's asyncio client wants asyncio's own loop
            raise ImportError
        import uvloop

        result = uvloop.run(_run_worker(s, bodies, start_at.value))
    except ImportError:
        result = asyncio.run(_run_worker(s, bodies, start_at.value))
    after = resource.getrusage(resource.RUSAGE_SELF)
    result.cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result.build_s = build
    results.put((index, result))


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    pos = min(len(ordered) - 1, max(0, round(q / 100.0 * len(ordered) + 0.5) - 1))
    return ordered[pos]


def run_load(
    url: str,
    key: str,
    *,
    procs: int = 2,
    conns: int = 8,
    encoding: str = "proto",
    use_gzip: bool = False,
    batch: int = 100,
    duration: float = 15.0,
    warmup: float = 1.0,
    rate: float | None = None,
    max_requests: int = 1_000_000,
    pool: int = 64,
    active_sessions: int = 64,
    sessions_per_batch: int = 1,
    secret_rate: float = 0.01,
    timeout: float = 30.0,
    seed: int = 1,
    signal: str = "logs",
) -> dict[str, Any]:
    """Run the load and return the summary (what the command line prints as JSON)."""
    batch = signal_batch(signal, batch)
    ctx = mp.get_context("fork")
    ready, results = ctx.Queue(), ctx.Queue()
    go, start_at = ctx.Event(), ctx.Value("d", 0.0)
    per_proc_requests = max(1, max_requests // procs)
    workers = []
    for i in range(procs):
        settings = WorkerSettings(
            url=url,
            key=key,
            encoding=encoding,
            use_gzip=use_gzip,
            batch=batch,
            conns=conns,
            duration=duration,
            warmup=warmup,
            rate=None if rate is None else rate / procs,
            max_requests=per_proc_requests,
            pool=pool,
            active_sessions=active_sessions,
            sessions_per_batch=sessions_per_batch,
            secret_rate=secret_rate,
            timeout=timeout,
            stagger=i / procs,
            seed=seed,
            signal=signal,
        )
        p = ctx.Process(target=_worker, args=(i, settings, ready, go, start_at, results))
        p.start()
        workers.append(p)
    for _ in range(procs):
        ready.get(timeout=300)
    start_at.value = time.monotonic() + 0.2
    go.set()
    # CLOCK_MONOTONIC is system-wide on Linux: a caller can sample the server over the window
    w0 = start_at.value + warmup
    sys.stderr.write(f"window {w0:.6f} {w0 + duration:.6f}\n")
    sys.stderr.flush()
    merged = WorkerResult()
    bound = warmup + duration + timeout + 30
    got = 0
    ok_distinct = 0
    while got < procs:
        _, part = results.get(timeout=bound)
        got += 1
        if part is None:
            continue
        merged.latencies_ms.extend(part.latencies_ms)
        merged.timeline.extend(part.timeline)
        merged.statuses.update(part.statuses)
        merged.accepted_records += part.accepted_records
        merged.requests += part.requests
        merged.sent += part.sent
        merged.ok_total += part.ok_total
        ok_distinct += len(part.ok_bodies) * batch  # each process has its own sessions
        merged.skipped += part.skipped
        merged.body_bytes += part.body_bytes
        merged.cpu_s += part.cpu_s
        merged.build_s = max(merged.build_s, part.build_s)
    for p in workers:
        p.join(timeout=10)
        if p.is_alive():
            p.terminate()
    lat = merged.latencies_ms
    errors = {k: v for k, v in merged.statuses.items() if k != "200"}
    return {
        "mode": "max" if rate is None else "fixed",
        "signal": signal,
        "target_records_per_s": rate,
        "encoding": encoding,
        "gzip": use_gzip,
        "batch": batch,
        "procs": procs,
        "conns_per_proc": conns,
        "window_s": duration,
        "warmup_s": warmup,
        "records_per_s": round(merged.accepted_records / duration, 1),
        "requests": merged.requests,
        "requests_per_s": round(merged.requests / duration, 1),
        "ok": merged.statuses.get("200", 0),
        "errors": errors,
        "skipped_by_generator": merged.skipped,
        "sent_total": merged.sent,
        "ok_total": merged.ok_total,
        "ok_distinct_records": ok_distinct,
        "mb_per_s": round(merged.body_bytes / duration / 1e6, 2),
        "avg_body_bytes": round(merged.body_bytes / merged.requests) if merged.requests else 0,
        "latency_ms": {
            "p50": _round(percentile(lat, 50)),
            "p90": _round(percentile(lat, 90)),
            "p99": _round(percentile(lat, 99)),
            "max": _round(max(lat) if lat else None),
        },
        "timeline": timeline(merged.timeline, batch),
        "generator_cpu_s_per_s": round(merged.cpu_s / (duration + warmup), 3),
        "pool_build_s": round(merged.build_s, 2),
    }


def timeline(points: list[tuple[int, float]], batch: int) -> list[list[float]]:
    """Per second of the window: [second, accepted records, p50 ms, max ms]: shows whether
    a tail comes from a few stalls or from steady queueing."""
    by_second: dict[int, list[float]] = {}
    for second, latency in points:
        by_second.setdefault(second, []).append(latency)
    return [
        [sec, len(lat) * batch, round(percentile(lat, 50) or 0.0, 1), round(max(lat), 1)]
        for sec, lat in sorted(by_second.items())
    ]


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:4318/v1/logs")
    p.add_argument("--key", help="API key (default: $SESSION_COLLECTOR_KEY)")
    p.add_argument("--procs", type=int, default=2, help="generator processes")
    p.add_argument("--conns", type=int, default=8, help="keep-alive connections per process")
    p.add_argument("--encoding", choices=("proto", "json"), default="proto")
    p.add_argument("--gzip", action="store_true", help="send gzip-compressed bodies")
    p.add_argument("--batch", type=int, default=100, help="records per request")
    p.add_argument("--duration", type=float, default=15.0, help="measured seconds")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first")
    p.add_argument("--rate", type=float, help="open loop at this many records/s in total")
    p.add_argument("--max-requests", type=int, default=1_000_000, help="upper bound, in total")
    p.add_argument("--pool", type=int, default=64, help="pre-encoded bodies per process")
    p.add_argument("--sessions", type=int, default=64, help="active sessions per process")
    p.add_argument("--sessions-per-batch", type=int, default=1)
    p.add_argument(
        "--secret-rate", type=float, default=0.01, help="share of tool params with a key"
    )
    p.add_argument("--timeout", type=float, default=30.0, help="per request, seconds")
    p.add_argument("--seed", type=int, default=1, help="the same seed sends the same bodies")
    p.add_argument("--signal", choices=("logs", "metrics", "traces"), default="logs",
                   help="metrics and traces: Claude Code's own exports")  # fmt: skip
    a = p.parse_args(argv)
    key = a.key or os.environ.get("SESSION_COLLECTOR_KEY", "")
    if not key:
        p.error("--key or $SESSION_COLLECTOR_KEY is required")
    summary = run_load(
        a.url,
        key,
        procs=a.procs,
        conns=a.conns,
        encoding=a.encoding,
        use_gzip=a.gzip,
        batch=a.batch,
        duration=a.duration,
        warmup=a.warmup,
        rate=a.rate,
        max_requests=a.max_requests,
        pool=a.pool,
        active_sessions=a.sessions,
        sessions_per_batch=a.sessions_per_batch,
        secret_rate=a.secret_rate,
        timeout=a.timeout,
        seed=a.seed,
        signal=a.signal,
    )
    sys.stdout.write(orjson.dumps(summary).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
