"""The Grafana dashboards in ``deploy/grafana/dashboards``: every ClickHouse query (panels and
template variables) expanded as Grafana and its ClickHouse data source plugin
(``grafana-clickhouse-datasource``) expand it, run against a real store (embedded chDB, or the
server named by CLICKHOUSE_URL) that a running collector filled with the real Claude Code
captures and generated Claude Code load, and compared with figures computed here in Python
from the records that were sent. The Prometheus dashboard's metric names are compared with a
real scrape of a running collector.

How a query is expanded, in the order the plugin does it (time range, interval and variable
values fixed by the test):

1. ``$__conditionalAll(condition, $var)``: the plugin's front end (``applyConditionalAll`` in
   ``src/data/CHDatasource.ts``), before Grafana substitutes variables: from the last macro
   to the first, the arguments are split at the commas outside nested parentheses; the macro
   becomes ``1=1`` when the variable's value is ``$__all`` or empty, else its condition.
2. Grafana's variable substitution (``$var``, ``${var}``, ``${var:singlequote}``): a
   multi-value variable set to All stands for every option; ``singlequote`` quotes each value
   (``'`` escaped as ``\\'``) and joins them with commas; without a format the plugin joins a
   list as ``'a','b'``. Names that are not variables (``$__timeFilter``) are left alone.
3. The plugin's back-end macros (``pkg/macros/macros.go``, applied by grafana/sqlds with the
   pattern ``\\$__NAME\\b(?:\\((.*?)\\))?``, arguments split at commas and trimmed):
   ``$__timeFilter(c)`` = ``c >= toDateTime(FROM) AND c <= toDateTime(TO)`` (Unix seconds),
   ``$__timeFilter_ms(c)`` with ``fromUnixTimestamp64Milli(ms)``, ``$__fromTime`` /
   ``$__toTime`` = ``toDateTime(s)``, ``$__fromTime_ms`` / ``$__toTime_ms`` =
   ``fromUnixTimestamp64Milli(ms)``, ``$__dateFilter(c)`` = ``c >= toDate('YYYY-MM-DD') AND
   c <= toDate(...)``, ``$__dateTimeFilter(d, t)`` / ``$__dt``, ``$__timeInterval(c)`` =
   ``toStartOfInterval(toDateTime(c), INTERVAL N second)`` (N = the interval in whole
   seconds, at least 1), ``$__timeInterval_ms(c)`` =
   ``toStartOfInterval(toDateTime64(c, 3), INTERVAL N millisecond)``, ``$__interval_s`` = N.

Anything left with a ``$`` after that (an unknown macro, a misspelt variable) fails the test.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.component import ComponentID
from tests.conftest import SAMPLE, RunningCollector, StartCollector, storage_config

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import loadgen  # type: ignore[import-not-found]

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "deploy" / "grafana" / "dashboards"
CAPTURES = REPO / "tests" / "data" / "claude-code-2.1.197-write"
CH = "grafana-clickhouse-datasource"
PROMETHEUS = "prometheus"
ALL = "$__all"

#: the dashboards' time range in the test: the sample (2026-11-26), the captures (2026-12-04)
#: and the generated sessions are inside it, one generated session before it, one across
#: its start
FROM = datetime(2026, 11, 20, tzinfo=UTC)
TO = datetime(2026, 12, 10, tzinfo=UTC)
INTERVAL = timedelta(hours=1)
CLIENTS = {"claude-code": "Claude Code", "claude-code-desktop": "Claude Code Desktop",
           "cowork": "Claude Cowork"}  # fmt: skip
#: the sample session's user (it sends user.id, no e-mail)
SAMPLE_USER = "4fc0363098d6f5edd25b2e964b9295963ee80f040b1b28e81be396a840536e9f"


def dashboard(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((DASHBOARDS / name).read_text())
    return doc


def all_panels(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in doc["panels"]:
        yield panel
        yield from panel.get("panels", [])


def data_panels(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in all_panels(doc) if p["type"] != "row"]


@dataclass(frozen=True)
class Query:
    where: str  # "panel <title>" or "variable <name>"
    sql: str


def clickhouse_queries(doc: dict[str, Any]) -> list[Query]:
    """Every ClickHouse ``rawSql`` of a dashboard: its panels' targets and its query
    variables."""
    found = []
    for panel in data_panels(doc):
        for target in panel.get("targets", []):
            if (target.get("datasource") or panel["datasource"])["type"] == CH:
                found.append(Query(f"panel {panel['title']}", target["rawSql"]))
    for var in doc["templating"]["list"]:
        if var["type"] == "query" and var["datasource"]["type"] == CH:
            found.append(Query(f"variable {var['name']}", var["query"]["rawSql"]))
    return found


# -- the plugin's expansion ---------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """What the dashboard is set to: the time range, the interval Grafana computed, and each
    variable's value (``[ALL]`` for All) with the options the variable offers."""

    start: datetime
    end: datetime
    interval: timedelta
    values: dict[str, list[str]]
    options: dict[str, list[str]] = field(default_factory=dict)


def _macro_args(sql: str, paren: int) -> list[str]:
    """The arguments of the macro whose ``(`` is at ``paren``: split at commas one level deep,
    as the plugin's ``getMacroArgs`` splits them; [] when the parentheses do not close."""
    args, depth, last = [], 0, paren + 1
    for match in re.finditer(r"[(),]", sql[paren:]):
        at = paren + match.start()
        if match.group() == "(":
            depth += 1
        elif match.group() == ")":
            depth -= 1
        if match.group() == "," and depth == 1:
            args.append(sql[last:at])
            last = at + 1
        if depth == 0:
            args.append(sql[last:at])
            return args
    return []


def conditional_all(sql: str, selection: Selection) -> str:
    """``$__conditionalAll(condition, $var)``, as the plugin's front end applies it."""
    macro = "$__conditionalAll("
    at = sql.rfind(macro)
    while at != -1:
        args = _macro_args(sql, at + len(macro) - 1)
        if len(args) != 2:
            return sql
        name = args[1].strip()[1:]
        value = ",".join(selection.values.get(name, [""]))
        phrase = "1=1" if value in ("", ALL) else args[0]
        sql = sql.replace(f"{macro}{args[0]},{args[1]})", phrase, 1)
        at = sql.rfind(macro)
    return sql


_VARIABLE = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}"
)


def substitute(sql: str, selection: Selection) -> str:
    """Grafana's variable substitution with the plugin's default format."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(6)
        if name not in selection.values:
            return match.group(0)
        values = selection.values[name]
        if values == [ALL]:
            values = selection.options[name]
        if fmt == "singlequote":
            return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
        assert fmt is None, f"format {fmt} is not implemented by this test"
        return values[0] if len(values) == 1 else "'" + "','".join(values) + "'"

    return _VARIABLE.sub(one, sql)


def _seconds(t: datetime) -> int:
    return int(t.timestamp())


def _millis(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def _backend_macros(selection: Selection) -> dict[str, Callable[[list[str]], str]]:
    s, e = selection.start, selection.end
    secs = max(int(selection.interval.total_seconds()), 1)
    millis = max(int(selection.interval.total_seconds() * 1000), 1)

    def one(n: int, f: Callable[[list[str]], str]) -> Callable[[list[str]], str]:
        def checked(args: list[str]) -> str:
            assert len(args) == n, f"expected {n} argument(s), received {len(args)}"
            return f(args)

        return checked

    def dt(t: datetime) -> str:
        return f"toDateTime({_seconds(t)})"

    def dt64(t: datetime) -> str:
        return f"fromUnixTimestamp64Milli({_millis(t)})"

    def d(t: datetime) -> str:
        return f"toDate('{t.astimezone(UTC).date().isoformat()}')"

    def date_time(a: list[str]) -> str:
        return (f"({a[0]} >= {d(s)} AND {a[0]} <= {d(e)}) AND "
                f"({a[1]} >= {dt(s)} AND {a[1]} <= {dt(e)})")  # fmt: skip

    return {
        "fromTime": lambda a: dt(s),
        "toTime": lambda a: dt(e),
        "fromTime_ms": lambda a: dt64(s),
        "toTime_ms": lambda a: dt64(e),
        "timeFilter": one(1, lambda a: f"{a[0]} >= {dt(s)} AND {a[0]} <= {dt(e)}"),
        "timeFilter_ms": one(1, lambda a: f"{a[0]} >= {dt64(s)} AND {a[0]} <= {dt64(e)}"),
        "dateFilter": one(1, lambda a: f"{a[0]} >= {d(s)} AND {a[0]} <= {d(e)}"),
        "dateTimeFilter": one(2, date_time),
        "dt": one(2, date_time),
        "timeInterval": one(
            1, lambda a: f"toStartOfInterval(toDateTime({a[0]}), INTERVAL {secs} second)"
        ),
        "timeInterval_ms": one(
            1,
            lambda a: f"toStartOfInterval(toDateTime64({a[0]}, 3), INTERVAL {millis} millisecond)",
        ),
        "interval_s": lambda a: str(secs),
    }


def backend_macros(sql: str, selection: Selection) -> str:
    """The plugin's back-end macros, as grafana/sqlds applies them."""
    for name, expand in _backend_macros(selection).items():
        pattern = re.compile(r"\$__" + re.escape(name) + r"\b(?:\((.*?)\))?")
        while found := pattern.search(sql):
            inside = found.group(1) or ""
            sql = sql.replace(found.group(0), expand([a.strip() for a in inside.split(",")]))
    return sql


def expand(sql: str, selection: Selection) -> str:
    return backend_macros(substitute(conditional_all(sql, selection), selection), selection)


# -- what was sent, in Python -------------------------------------------------------------------


def _value(v: dict[str, Any]) -> Any:
    if "stringValue" in v:
        return v["stringValue"]
    if "intValue" in v:
        return int(v["intValue"])
    if "doubleValue" in v:
        return float(v["doubleValue"])
    if "boolValue" in v:
        return bool(v["boolValue"])
    return None


def _attrs(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {a["key"]: _value(a.get("value", {})) for a in items}


def _iso_ns(text: str) -> int:
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(stamp.timestamp()) * 1_000_000_000 + stamp.microsecond * 1000


@dataclass(frozen=True)
class Event:
    """One Claude Code log record as the dashboards read it."""

    tenant: str
    session: str
    prompt: str
    name: str
    time_ns: int
    client: str
    user: str
    model: str
    tokens: tuple[int, int, int, int]  # input, output, cache read, cache creation
    cost_micros: int
    tool: str
    success: bool | None
    status: int


def events_of(tenant: str, doc: dict[str, Any]) -> list[Event]:
    """The records of an OTLP/JSON logs request (as sent, or protobuf turned into JSON)."""
    out = []
    for rl in doc["resourceLogs"]:
        resource = _attrs(rl.get("resource", {}).get("attributes", []))
        service = str(resource.get("service.name", ""))
        for sl in rl.get("scopeLogs", []):
            for record in sl.get("logRecords", []):
                a = _attrs(record.get("attributes", []))
                stamp = a.get("event.timestamp")
                time_ns = _iso_ns(stamp) if stamp else int(record["timeUnixNano"])
                micros = a.get("cost_usd_micros")
                if micros is None:
                    micros = round(float(a.get("cost_usd", 0)) * 1_000_000)
                status = int(a.get("status_code", 0) or 0)
                success = a.get("success")
                out.append(Event(
                    tenant=tenant, session=str(a.get("session.id", "")),
                    prompt=str(a.get("prompt.id", "")), name=str(a["event.name"]),
                    time_ns=time_ns, client=CLIENTS.get(service, service),
                    user=str(a.get("user.email") or a.get("user.id", "")),
                    model=str(a.get("model", "")),
                    tokens=tuple(int(a.get(k, 0)) for k in (  # type: ignore[arg-type]
                        "input_tokens", "output_tokens", "cache_read_tokens",
                        "cache_creation_tokens")),
                    cost_micros=int(micros), tool=str(a.get("tool_name", "")),
                    success=None if success is None else str(success).lower() == "true",
                    status=status if -(2**31) <= status < 2**31 else 0,
                ))  # fmt: skip
    return out


@dataclass(frozen=True)
class Point:
    tenant: str
    client: str
    name: str
    user: str
    kind: str
    value: float
    time_ns: int


@dataclass(frozen=True)
class SpanRow:
    tenant: str
    client: str
    name: str
    start_ns: int


def points_of(tenant: str, doc: dict[str, Any]) -> list[Point]:
    out = []
    for rm in doc["resourceMetrics"]:
        service = str(_attrs(rm["resource"]["attributes"]).get("service.name", ""))
        for sm in rm["scopeMetrics"]:
            for metric in sm["metrics"]:
                body = metric.get("sum")
                if body is None:
                    continue
                assert body.get("aggregationTemporality") in (1, "AGGREGATION_TEMPORALITY_DELTA")
                for p in body["dataPoints"]:
                    a = _attrs(p.get("attributes", []))
                    out.append(Point(
                        tenant, CLIENTS.get(service, service), metric["name"],
                        str(a.get("user.email") or a.get("user.id", "")), str(a.get("type", "")),
                        float(p.get("asDouble", p.get("asInt", 0))), int(p["timeUnixNano"]),
                    ))  # fmt: skip
    return out


def spans_of(tenant: str, doc: dict[str, Any]) -> list[SpanRow]:
    out = []
    for rs in doc["resourceSpans"]:
        service = str(_attrs(rs["resource"]["attributes"]).get("service.name", ""))
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                out.append(SpanRow(tenant, CLIENTS.get(service, service), span["name"],
                                   int(span["startTimeUnixNano"])))  # fmt: skip
    return out


@dataclass
class Sent:
    """Everything sent to the store, each item once (retries are not repeated here)."""

    events: list[Event] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)
    spans: list[SpanRow] = field(default_factory=list)
    #: values stored empty, by tenant and column
    out_of_range: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, signal: str, tenant: str, doc: dict[str, Any]) -> None:
        """A request of ``signal`` (OTLP/JSON, or protobuf turned into JSON) that was sent."""
        if signal == "logs":
            self.events.extend(events_of(tenant, doc))
        elif signal == "metrics":
            self.points.extend(points_of(tenant, doc))
        else:
            self.spans.extend(spans_of(tenant, doc))


# -- generated load -----------------------------------------------------------------------------


def _ns(t: datetime) -> int:
    return int(t.timestamp()) * 1_000_000_000


def api_error(session: loadgen.Session, status: str) -> dict[str, Any]:
    """An ``api_error`` record of a generated session, with Claude Code's attributes."""
    session.time_ns += 1_500_000_000
    stamp = datetime.fromtimestamp(session.time_ns / 1e9, UTC)
    iso = stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
    kv = loadgen._kv
    record = {
        "timeUnixNano": str(session.time_ns),
        "observedTimeUnixNano": str(session.time_ns),
        "body": {"stringValue": "claude_code.api_error"},
        "attributes": [
            kv("user.id", session.user_id), kv("session.id", session.session_id),
            kv("user.email", session.email), kv("organization.id", session.org),
            kv("event.name", "api_error"), kv("event.timestamp", iso),
            {"key": "event.sequence", "value": {"intValue": session.sequence}},
            kv("prompt.id", session.prompt_id), kv("model", session.model),
            kv("error", "Overloaded" if status == "529" else "Request failed"),
            kv("status_code", status), kv("duration_ms", "812"), kv("attempt", "1"),
        ],
    }  # fmt: skip
    session.sequence += 1
    return {"resourceLogs": [{"resource": session.resource(), "scopeLogs": [{
        "scope": {"name": "com.anthropic.claude_code.events", "version": session.version},
        "logRecords": [record]}]}]}  # fmt: skip


def generated_logs(
    seed: int, count: int, requests: int, start: datetime
) -> tuple[list[loadgen.Session], list[dict[str, Any]]]:
    """``count`` generated Claude Code sessions (the bench's generator), starting an hour
    apart from ``start``, and ``requests`` OTLP/JSON logs requests of theirs, each holding one
    prompt cycle (six records) of every session."""
    rng = random.Random(seed)
    sessions = [loadgen.Session(random.Random(rng.getrandbits(64))) for _ in range(count)]
    for i, session in enumerate(sessions):
        session.session_id = f"{seed:04d}-{i:04d}-{rng.getrandbits(64):016x}"
        session.time_ns = _ns(start) + i * 3_600_000_000_000
    docs = [loadgen.export_request(sessions, 6 * count, secret_rate=0.05)
            for _ in range(requests)]  # fmt: skip
    return sessions, docs


# -- filling a store through a running collector ------------------------------------------------


REQUESTS: dict[str, Any] = {
    "logs": ExportLogsServiceRequest,
    "metrics": ExportMetricsServiceRequest,
    "traces": ExportTraceServiceRequest,
}


def _pb_to_json(cls: Any, data: bytes) -> dict[str, Any]:
    doc: dict[str, Any] = json_format.MessageToDict(cls.FromString(data))
    return doc


@dataclass
class Filled:
    running: RunningCollector
    sent: Sent

    async def query(self, sql: str) -> list[dict[str, Any]]:
        exporter = self.running.service.exporters[ComponentID("clickhouse")]
        store = exporter.store
        rows: list[dict[str, Any]] = await store.call(store.query, sql, None)
        return rows


async def _post(client: httpx.AsyncClient, running: RunningCollector, key: str, signal: str,
                body: bytes, media: str) -> None:  # fmt: skip
    receiver = running.service.receivers[ComponentID("otlp")]
    resp = await client.post(
        f"http://{receiver.address}/v1/{signal}",
        content=body,
        headers={"Content-Type": media, "Authorization": f"Bearer {key}"},
    )
    assert resp.status_code == 200, resp.text
    assert "rejected" not in resp.text, resp.text


@pytest.fixture
async def filled(
    start_collector: StartCollector, keys_file: Path, store_endpoint: dict[str, Any]
) -> Filled:
    """A store filled through a running collector (otlp -> cowork, redaction, batch ->
    clickhouse; metrics and traces pipelines beside it), by three tenants:

    - ``solo``: the real Claude Code 2.1.197 sample session (six records);
    - ``acme``: the three real captures of ``claude-code-2.1.197-write`` (logs, metrics and
      traces, each sent twice), 3 copies each of the capture's metrics and traces as the
      bench's generator makes them (fresh session ids), 16 generated sessions of five prompt
      cycles (sent twice), api_error records (one with a status code past Int32, stored as 0),
      one generated session before the time range and one across its start;
    - ``globex``: 5 generated sessions of three prompt cycles.
    """
    raw = storage_config(keys_file, store_endpoint, all_signals=True)
    running = await start_collector(raw)
    keys = {org: await running.key(org=org) for org in ("solo", "acme", "globex")}
    sent = Sent()
    json_media, pb_media = "application/json", "application/x-protobuf"
    async with httpx.AsyncClient(timeout=30) as client:

        async def logs(tenant: str, doc: dict[str, Any], times: int = 1) -> None:
            body = orjson.dumps(doc)
            for _ in range(times):
                await _post(client, running, keys[tenant], "logs", body, json_media)
            sent.add("logs", tenant, doc)

        await logs("solo", orjson.loads(SAMPLE.read_bytes()))
        for protocol in ("grpc", "http-protobuf", "http-json"):
            for signal, cls in REQUESTS.items():
                if protocol == "http-json":
                    body = (CAPTURES / protocol / f"{signal}.json").read_bytes()
                    doc, media = orjson.loads(body), json_media
                else:  # the protobuf request body, as the CLI sent it (over HTTP here)
                    body = (CAPTURES / protocol / f"{signal}.pb").read_bytes()
                    doc, media = _pb_to_json(cls, body), pb_media
                for _ in range(2):  # a client's retry counts once
                    await _post(client, running, keys["acme"], signal, body, media)
                sent.add(signal, "acme", doc)
        rng = random.Random(7)
        for signal, items in (("metrics", 30), ("traces", 18)):
            body = loadgen.signal_body(rng, signal, items, "proto")
            await _post(client, running, keys["acme"], signal, body, pb_media)
            sent.add(signal, "acme", _pb_to_json(REQUESTS[signal], body))

        for seed, count, requests, start, tenant, times in (
            (11, 16, 5, datetime(2026, 11, 28, tzinfo=UTC), "acme", 2),
            (12, 5, 3, datetime(2026, 12, 2, tzinfo=UTC), "globex", 1),
            (13, 1, 3, datetime(2026, 10, 15, tzinfo=UTC), "acme", 1),  # before the range
            (14, 1, 4, FROM - timedelta(seconds=10), "acme", 1),  # across its start
        ):
            for doc in generated_logs(seed, count, requests, start)[1]:
                await logs(tenant, doc, times)
        sessions, docs = generated_logs(15, 4, 1, datetime(2026, 12, 6, tzinfo=UTC))
        await logs("acme", docs[0])
        for i, status in enumerate(["529", "529", "429", "500", "529", "99999999999"]):
            await logs("acme", api_error(sessions[i % 4], status))
        sent.out_of_range[("acme", "StatusCode")] += 1

    filled = Filled(running, sent)
    expected = (len(sent.events), len(sent.points), len(sent.spans))
    got: tuple[int, ...] = ()
    for _ in range(400):  # the batch processor hands them on within its timeout
        got = ()
        for table in ("otel_logs", "otel_metrics_sum", "otel_traces"):
            rows = await filled.query(f"SELECT count() AS n FROM {table} FINAL")
            got = (*got, int(rows[0]["n"]))
        if got == expected:
            break
        await asyncio.sleep(0.05)
    assert got == expected
    return filled


# -- the figures each panel should show, computed from what was sent ----------------------------


def _in_range(ns: int, selection: Selection) -> bool:
    return _seconds(selection.start) * 10**9 <= ns <= _seconds(selection.end) * 10**9


def _chosen(selection: Selection, name: str, value: str) -> bool:
    values = selection.values[name]
    return values == [ALL] or value in values


def _bucket(ns: int, selection: Selection) -> int:
    step = max(int(selection.interval.total_seconds()), 1)
    return (ns // 10**9) // step * step


def _usd(micros: int) -> float:
    return round(micros / 1e6, 6)


def _tokens(events: list[Event]) -> tuple[Any, ...]:
    return (
        len(events),
        *(sum(e.tokens[i] for e in events) for i in range(4)),
        _usd(sum(e.cost_micros for e in events)),
    )


def expected_figures(sent: Sent, sel: Selection) -> dict[str, Any]:
    """Each query's figures, by where it is (``panel <title>``, ``variable <name>``)."""
    tenant_events = [e for e in sent.events if e.session and _chosen(sel, "tenant", e.tenant)]
    shown = [
        e for e in tenant_events if _in_range(e.time_ns, sel) and _chosen(sel, "client", e.client)
    ]
    api = [e for e in shown if e.name == "api_request"]
    tools = [e for e in shown if e.name == "tool_result"]
    errors = [e for e in shown if e.name == "api_error"]
    figures: dict[str, Any] = {}
    figures["variable tenant"] = sorted({e.tenant for e in sent.events if e.session})
    figures["variable client"] = sorted({e.client for e in tenant_events})
    figures["panel Active sessions"] = len({(e.tenant, e.session) for e in shown})
    figures["panel Cost"] = _usd(sum(e.cost_micros for e in api))
    figures["panel Prompts"] = len({(e.tenant, e.session, e.prompt) for e in shown if e.prompt})
    figures["panel Tool failures"] = sum(1 for e in tools if e.success is False)

    by_session: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for e in tenant_events:
        by_session[(e.tenant, e.session)].append(e)
    active = {(e.tenant, e.session) for e in tenant_events if _in_range(e.time_ns, sel)}
    started: Counter[tuple[int, str]] = Counter()
    for key in active:
        first = min(by_session[key], key=lambda e: e.time_ns)
        if _in_range(first.time_ns, sel) and _chosen(sel, "client", first.client):
            started[(_bucket(first.time_ns, sel), first.client)] += 1
    figures["panel Sessions started, by client"] = dict(started)

    cost_time: Counter[tuple[int, str]] = Counter()
    for e in api:
        cost_time[(_bucket(e.time_ns, sel), e.model)] += e.cost_micros
    figures["panel Cost over time, by model"] = {k: _usd(v) for k, v in cost_time.items()}

    groups: dict[Any, list[Event]] = defaultdict(list)
    for e in api:
        groups[(e.tenant, e.user)].append(e)
    figures["panel Cost and tokens by user"] = {
        k: (len({e.session for e in v}), *_tokens(v)) for k, v in groups.items()
    }
    groups = defaultdict(list)
    for e in api:
        groups[e.model].append(e)
    figures["panel Cost and tokens by model"] = {
        k: (len({(e.tenant, e.session) for e in v}), *_tokens(v)) for k, v in groups.items()
    }
    groups = defaultdict(list)
    for e in tools:
        groups[e.tool].append(e)
    figures["panel Tool failures by tool"] = {
        k: (len(v), sum(1 for e in v if e.success is False)) for k, v in groups.items()
    }
    figures["panel Tool failures over time"] = dict(Counter(
        (_bucket(e.time_ns, sel), e.tool) for e in tools if e.success is False))  # fmt: skip
    groups = defaultdict(list)
    for e in errors:
        groups[(e.status, e.model)].append(e)
    figures["panel API errors by status and model"] = {
        k: (len(v), len({(e.tenant, e.session) for e in v})) for k, v in groups.items()
    }
    figures["panel API errors over time, by status"] = dict(Counter(
        (_bucket(e.time_ns, sel), str(e.status)) for e in errors))  # fmt: skip

    top = []
    for (tenant, session), evs in by_session.items():
        first = min(evs, key=lambda e: e.time_ns)
        last = max(e.time_ns for e in evs)
        if not (last >= _seconds(sel.start) * 10**9 and first.time_ns <= _seconds(sel.end) * 10**9):
            continue
        if not _chosen(sel, "client", first.client):
            continue
        cost = sum(e.cost_micros for e in evs if e.name == "api_request")
        top.append((-cost, -last, session, (
            session, tenant, _usd(cost), len({e.prompt for e in evs if e.prompt}),
            sum(1 for e in evs if e.name == "tool_result" and e.success is False),
            sum(1 for e in evs if e.name == "api_error"),
        )))  # fmt: skip
    figures["panel Top sessions by cost"] = [row[-1] for row in sorted(top)[:50]]

    lines: dict[str, dict[str, float]] = defaultdict(lambda: {"added": 0.0, "removed": 0.0})
    for p in sent.points:
        if (
            p.name == "claude_code.lines_of_code.count"
            and _in_range(p.time_ns, sel)
            and _chosen(sel, "tenant", p.tenant)
            and _chosen(sel, "client", p.client)
        ):
            lines[p.user][p.kind] += max(p.value, 0.0)
    figures["panel Lines of code by user"] = {
        u: (round(v["added"], 6), round(v["removed"], 6)) for u, v in lines.items()
    }
    figures["panel Spans by name"] = dict(Counter(
        s.name for s in sent.spans if _in_range(s.start_ns, sel)
        and _chosen(sel, "tenant", s.tenant) and _chosen(sel, "client", s.client)))  # fmt: skip
    figures["panel Values stored empty"] = {
        column: n
        for (tenant, column), n in sent.out_of_range.items()
        if _chosen(sel, "tenant", tenant)
    }
    return figures


def _epoch(value: Any) -> int:
    assert isinstance(value, datetime), value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())


def _f(value: Any) -> float:
    return round(float(value), 6)


def _ints(row: dict[str, Any], *names: str) -> tuple[int, ...]:
    return tuple(int(row[n]) for n in names)


_TOKENS = ("api_requests", "input_tokens", "output_tokens", "cache_read_tokens",
           "cache_creation_tokens")  # fmt: skip

#: each query's rows as the figures above are shaped
FIGURES: dict[str, Callable[[list[dict[str, Any]]], Any]] = {
    "variable tenant": lambda rows: [next(iter(r.values())) for r in rows],
    "variable client": lambda rows: [next(iter(r.values())) for r in rows],
    "panel Active sessions": lambda rows: int(rows[0]["sessions"]),
    "panel Cost": lambda rows: _f(rows[0]["cost_usd"]),
    "panel Prompts": lambda rows: int(rows[0]["prompts"]),
    "panel Tool failures": lambda rows: int(rows[0]["tool_failures"]),
    "panel Sessions started, by client": lambda rows: {
        (_epoch(r["time"]), r["client"]): int(r["sessions"]) for r in rows
    },
    "panel Cost over time, by model": lambda rows: {
        (_epoch(r["time"]), r["model"]): _f(r["cost_usd"]) for r in rows
    },
    "panel Cost and tokens by user": lambda rows: {
        (r["tenant"], r["user"]): (*_ints(r, "sessions", *_TOKENS), _f(r["cost_usd"])) for r in rows
    },
    "panel Cost and tokens by model": lambda rows: {
        r["model"]: (*_ints(r, "sessions", *_TOKENS), _f(r["cost_usd"])) for r in rows
    },
    "panel Tool failures by tool": lambda rows: {
        r["tool"]: _ints(r, "calls", "failures") for r in rows
    },
    "panel Tool failures over time": lambda rows: {
        (_epoch(r["time"]), r["tool"]): int(r["failures"]) for r in rows
    },
    "panel API errors by status and model": lambda rows: {
        (int(r["status_code"]), r["model"]): _ints(r, "errors", "sessions") for r in rows
    },
    "panel API errors over time, by status": lambda rows: {
        (_epoch(r["time"]), r["status"]): int(r["errors"]) for r in rows
    },
    "panel Top sessions by cost": lambda rows: [
        (
            r["session_id"],
            r["tenant"],
            _f(r["cost_usd"]),
            *_ints(r, "prompts", "tool_failures", "api_errors"),
        )
        for r in rows
    ],
    "panel Lines of code by user": lambda rows: {
        r["user"]: (_f(r["lines_added"]), _f(r["lines_removed"])) for r in rows
    },
    "panel Spans by name": lambda rows: {r["span"]: int(r["spans"]) for r in rows},
    "panel Values stored empty": lambda rows: {
        r["column"]: int(r["values_stored_empty"]) for r in rows
    },
}

#: the time-series panels' rows must come in time order (the plugin turns a long frame into
#: a wide one only when it is sorted by time)
TIME_ORDERED = (
    "panel Sessions started, by client",
    "panel Cost over time, by model",
    "panel Tool failures over time",
    "panel API errors over time, by status",
)

SCENARIOS = {
    "every tenant and client": {"tenant": [ALL], "client": [ALL]},
    "acme, Cowork only": {"tenant": ["acme"], "client": ["Claude Cowork"]},
    "the sample alone": {"tenant": ["solo"], "client": [ALL]},
    "two tenants, two clients": {"tenant": ["acme", "globex"],
                                 "client": ["Claude Code", "Claude Code Desktop"]},
}  # fmt: skip


async def run_dashboard(
    filled: Filled, doc: dict[str, Any], values: dict[str, list[str]]
) -> dict[str, list[dict[str, Any]]]:
    """Every ClickHouse query of ``doc`` expanded and run, the variables first (each one's
    options from its own query, as Grafana loads them)."""
    selection = Selection(FROM, TO, INTERVAL, values)
    results: dict[str, list[dict[str, Any]]] = {}
    for query in clickhouse_queries(doc):
        if query.where.startswith("variable "):
            rows = await filled.query(expand(query.sql, selection))
            results[query.where] = rows
            selection.options[query.where.removeprefix("variable ")] = [
                str(next(iter(r.values()))) for r in rows
            ]
    for query in clickhouse_queries(doc):
        if query.where.startswith("panel "):
            sql = expand(query.sql, selection)
            assert "$" not in sql, f"{query.where}: left unexpanded in {sql}"
            results[query.where] = await filled.query(sql)
    return results


# -- the tests ----------------------------------------------------------------------------------

NAMES = sorted(p.name for p in DASHBOARDS.glob("*.json"))


def test_the_dashboards_are_there() -> None:
    assert {"sessions.json", "collector.json"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_a_dashboard_is_valid_json_with_a_uid_and_unique_panel_ids(name: str) -> None:
    doc = dashboard(name)
    assert isinstance(doc["uid"], str) and re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", doc["uid"])
    assert doc["title"] and doc["schemaVersion"] >= 36
    ids = [p["id"] for p in all_panels(doc)]
    assert len(ids) == len(set(ids)), Counter(ids).most_common(3)
    assert doc["templating"]["list"][0]["name"] == "datasource"
    assert doc["templating"]["list"][0]["type"] == "datasource"


def test_the_dashboards_uids_differ() -> None:
    uids = [dashboard(n)["uid"] for n in NAMES]
    assert len(uids) == len(set(uids))


@pytest.mark.parametrize("name", NAMES)
def test_every_panel_has_a_title_a_datasource_and_the_plugins_query_model(name: str) -> None:
    doc = dashboard(name)
    ds_type = doc["templating"]["list"][0]["query"]
    for panel in data_panels(doc):
        assert panel["title"], panel["id"]
        assert panel["datasource"] == {"type": ds_type, "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], panel["title"]
            if ds_type == CH:
                # the plugin's query model (v4): raw SQL, format 0 time series / 1 table
                assert target["editorType"] == "sql" and target["rawSql"].strip()
                assert target["format"] == (0 if panel["type"] == "timeseries" else 1)
                assert target["queryType"] == {0: "timeseries", 1: "table"}[target["format"]]
            else:
                assert target["expr"].strip() and "rawSql" not in target
    for var in doc["templating"]["list"][1:]:
        assert var["datasource"] == {"type": ds_type, "uid": "${datasource}"}, var["name"]


def _selection(values: dict[str, list[str]]) -> Selection:
    return Selection(
        datetime(2014, 11, 12, 11, 45, 26, 123000, tzinfo=UTC),
        datetime(2015, 11, 12, 11, 45, 26, 456000, tzinfo=UTC),
        timedelta(seconds=20),
        values,
        {"v": ["a", "b", "c"]},
    )


def test_the_expansion_is_the_plugins() -> None:
    """The expander against the plugin's documented examples (``src/ch-parser/
    pluginMacros.ts``, ``docs/sources/template-variables.md``)."""
    sel = _selection({"v": ["a", "o'b"]})
    assert expand("$__timeFilter(time)", sel) == (
        "time >= toDateTime(1415792726) AND time <= toDateTime(1447328726)")  # fmt: skip
    assert expand("$__timeFilter_ms(time)", sel) == (
        "time >= fromUnixTimestamp64Milli(1415792726123) AND "
        "time <= fromUnixTimestamp64Milli(1447328726456)")  # fmt: skip
    assert expand("$__fromTime AND $__toTime", sel) == (
        "toDateTime(1415792726) AND toDateTime(1447328726)")  # fmt: skip
    assert expand("$__fromTime_ms AND $__toTime_ms", sel) == (
        "fromUnixTimestamp64Milli(1415792726123) AND "
        "fromUnixTimestamp64Milli(1447328726456)")  # fmt: skip
    # sqlds replaces every occurrence of a match's text, so a query holding both $__fromTime
    # and $__fromTime_ms expands the second wrongly when $__fromTime comes first (Go's map
    # order decides): the dashboards never mix them
    assert expand("$__fromTime $__fromTime_ms", sel).endswith(")_ms")
    assert expand("$__dateFilter(date)", sel) == (
        "date >= toDate('2014-11-12') AND date <= toDate('2015-11-12')")  # fmt: skip
    assert expand("$__timeInterval(column)", sel) == (
        "toStartOfInterval(toDateTime(column), INTERVAL 20 second)")  # fmt: skip
    assert expand("$__timeInterval_ms(column)", sel) == (
        "toStartOfInterval(toDateTime64(column, 3), INTERVAL 20000 millisecond)")  # fmt: skip
    assert expand("$__interval_s", sel) == "20"
    cond = "WHERE $__conditionalAll(database IN (${v:singlequote}), $v)"
    assert expand(cond, sel) == "WHERE database IN ('a','o\\'b')"
    assert expand(cond, _selection({"v": [ALL]})) == "WHERE 1=1"
    assert expand("x IN (${v:singlequote})", _selection({"v": [ALL]})) == "x IN ('a','b','c')"
    assert expand("x IN ($v)", sel) == "x IN ('a','o'b')"  # the plugin's own format: unquoted
    assert expand("$__timeFrom(x)", sel) == "$__timeFrom(x)"  # sqlds's, not the plugin's


CLICKHOUSE_NAMES = [n for n in NAMES if dashboard(n)["templating"]["list"][0]["query"] == CH]


@pytest.mark.parametrize("name", CLICKHOUSE_NAMES)
def test_no_clickhouse_query_keeps_a_macro_or_variable(name: str) -> None:
    doc = dashboard(name)
    queries = clickhouse_queries(doc)
    assert queries
    for values in SCENARIOS.values():
        sel = Selection(FROM, TO, INTERVAL, values, {"tenant": ["acme"], "client": ["Claude Code"]})
        for query in queries:
            sql = expand(query.sql, sel)
            assert "$" not in sql and "${" not in sql, f"{query.where}: {sql}"
        for macro in ("fromTime", "toTime", "timeFilter", "timeInterval"):
            both = re.search(rf"\$__{macro}\b", query.sql) and f"$__{macro}_ms" in query.sql
            assert not both, f"{query.where} mixes $__{macro} and $__{macro}_ms"


async def test_every_clickhouse_query_returns_the_figures_of_what_was_sent(filled: Filled) -> None:
    """Every panel and variable query of the sessions dashboard, under four selections, shows
    exactly the figures computed from the records sent."""
    doc = dashboard("sessions.json")
    queries = {q.where for q in clickhouse_queries(doc)}
    assert queries == set(FIGURES), queries ^ set(FIGURES)
    for scenario, values in SCENARIOS.items():
        results = await run_dashboard(filled, doc, values)
        selection = Selection(FROM, TO, INTERVAL, values)
        expected = expected_figures(filled.sent, selection)
        assert expected["panel Active sessions"] > 0, scenario
        for where, rows in results.items():
            assert FIGURES[where](rows) == expected[where], f"{scenario}: {where}"
            if where in TIME_ORDERED:
                times = [_epoch(r["time"]) for r in rows]
                assert times == sorted(times), f"{scenario}: {where}"
        if scenario == "every tenant and client":
            # 30 sessions have events in the range: the sample, 3 captures, 16 + 5 + 4
            # generated and the one across the range's start, which started before it; the
            # one in October is out
            assert FIGURES["panel Active sessions"](results["panel Active sessions"]) == 31 - 1
            started = FIGURES["panel Sessions started, by client"](
                results["panel Sessions started, by client"])  # fmt: skip
            assert sum(started.values()) == 29
            failures = sum(1 for e in filled.sent.events if e.name == "tool_result"
                           and e.success is False and _in_range(e.time_ns, selection))  # fmt: skip
            assert failures > 0
            assert FIGURES["panel Tool failures"](results["panel Tool failures"]) == failures
            by_tool = FIGURES["panel Tool failures by tool"](results["panel Tool failures by tool"])
            assert sum(f for _c, f in by_tool.values()) == failures
            assert FIGURES["variable tenant"](results["variable tenant"]) == [
                "acme", "globex", "solo"]  # fmt: skip
        if scenario == "the sample alone":
            by_model = FIGURES["panel Cost and tokens by model"](
                results["panel Cost and tokens by model"])  # fmt: skip
            assert by_model == {"claude-opus-4-8": (1, 2, 2400, 84, 1800, 600, 0.01875)}
            by_user = FIGURES["panel Cost and tokens by user"](
                results["panel Cost and tokens by user"])  # fmt: skip
            assert by_user == {("solo", SAMPLE_USER): (1, 2, 2400, 84, 1800, 600, 0.01875)}
            assert FIGURES["panel Cost"](results["panel Cost"]) == 0.01875
            (top,) = results["panel Top sessions by cost"]
            assert (top["input_tokens"], _f(top["cost_usd"])) == (2400, 0.01875)
        if scenario == "acme, Cowork only":
            assert FIGURES["variable client"](results["variable client"]) == [
                "Claude Code", "Claude Code Desktop", "Claude Cowork"]  # fmt: skip
    lines = expected_figures(filled.sent, Selection(FROM, TO, INTERVAL, SCENARIOS[
        "every tenant and client"]))["panel Lines of code by user"]  # fmt: skip
    assert sum(added for added, _r in lines.values()) == 3 * (3 + 3)  # 3 captures, 3 copies


# -- the collector's own metrics ----------------------------------------------------------------

_METRIC_NAME = re.compile(r"\b((?:otelcol|session_collector)_[a-z0-9_]+)")
_RANGE = re.compile(r"\b(rate|increase|irate)\(([^\[]*)\[([^\]]+)\]")


def prometheus_expressions(doc: dict[str, Any]) -> list[Query]:
    found = []
    for panel in data_panels(doc):
        for target in panel["targets"]:
            found.append(Query(f"panel {panel['title']}", target["expr"]))
    for var in doc["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]
            found.append(Query(f"variable {var['name']}",
                               query["query"] if isinstance(query, dict) else query))  # fmt: skip
    return found


def exposed_names(text: str) -> tuple[set[str], set[str]]:
    """The sample names a Prometheus exposition can hold (its families' names with the
    suffixes their types take: a histogram's ``_bucket``, ``_sum``, ``_count``), and those it
    holds samples of."""
    declared, sampled = set(), set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            if kind == "histogram":
                declared |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
            elif kind == "summary":
                declared |= {name, f"{name}_sum", f"{name}_count"}
            else:
                declared.add(name)
        elif line and not line.startswith("#"):
            sampled.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return declared | sampled, sampled


async def test_the_collector_dashboards_metrics_are_in_a_real_scrape(
    start_collector: StartCollector,
    keys_file: Path,
    store_endpoint: dict[str, Any],
    sample_json: bytes,
) -> None:
    """A storage collector (otlp -> cowork, redaction, batch -> clickhouse, for logs, metrics
    and traces) takes the sample, a capture's metrics and traces and an unauthenticated
    request; every metric the Prometheus dashboard names is in its /metrics, and those this
    traffic moves have samples."""
    doc = dashboard("collector.json")
    raw = storage_config(keys_file, store_endpoint, all_signals=True)
    running = await start_collector(raw)
    key = await running.key()
    leaked = b"use ANTHROPIC_API_KEY=sk-ant-api03-Xy7KqP2mN8vR4tL1wZ9bC3dF6gH0jA5sE"
    secret = sample_json.replace(b"list the files here", leaked)
    async with httpx.AsyncClient(timeout=30) as client:
        await _post(client, running, key, "logs", secret, "application/json")
        for signal in ("metrics", "traces"):
            body = (CAPTURES / "http-protobuf" / f"{signal}.pb").read_bytes()
            await _post(client, running, key, signal, body, "application/x-protobuf")
        receiver = running.service.receivers[ComponentID("otlp")]
        resp = await client.post(
            f"http://{receiver.address}/v1/logs",
            content=sample_json,
            headers={"Content-Type": "application/json"},
        )
        assert resp.status_code == 401
        text = ""
        for _ in range(200):  # the batch processor hands them on within its timeout
            text = (await client.get(f"http://{running.service.metrics_address}/metrics")).text
            _, sampled = exposed_names(text)
            awaited = {
                "otelcol_exporter_sent_spans_total",
                "otelcol_exporter_sent_log_records_total",
                "session_collector_clickhouse_insert_duration_seconds_bucket",
            }
            if awaited <= sampled:
                break
            await asyncio.sleep(0.05)
    exposed, sampled = exposed_names(text)
    named: dict[str, str] = {}
    for query in prometheus_expressions(doc):
        for name in _METRIC_NAME.findall(query.sql):
            named.setdefault(name, query.where)
        for fn, _inside, window in _RANGE.findall(query.sql):
            assert window == "$__rate_interval", f"{query.where}: {fn}(...[{window}])"
    assert len(named) >= 30
    missing = {name: where for name, where in named.items() if name not in exposed}
    assert not missing, missing
    moved = {
        "otelcol_receiver_accepted_log_records_total",
        "otelcol_receiver_accepted_metric_points_total",
        "otelcol_receiver_accepted_spans_total",
        "otelcol_exporter_sent_log_records_total",
        "otelcol_exporter_sent_metric_points_total",
        "otelcol_exporter_sent_spans_total",
        "otelcol_processor_batch_batch_send_size_bucket",
        "otelcol_processor_batch_batch_send_size_sum",
        "otelcol_processor_batch_batch_send_size_count",
        "session_collector_http_requests_total",
        "session_collector_auth_failures_total",
        "session_collector_log_records_by_event_total",
        "session_collector_sessions_seen_total",
        "session_collector_redactions_total",
        "session_collector_clickhouse_insert_duration_seconds_bucket",
        "session_collector_clickhouse_insert_duration_seconds_count",
    }
    assert moved <= set(named)
    assert moved <= sampled, moved - sampled
    # the README's table of metrics names every family the dashboard reads (the metric points
    # and spans twins of the log-record counters by their log-record name)
    readme = (REPO / "README.md").read_text()
    for name in named:
        family = re.sub(r"_(total|bucket|sum|count)$", "", name)
        family = re.sub(r"^(otelcol_.*)_(metric_points|spans)$", r"\1_log_records", family)
        assert family in readme, name
