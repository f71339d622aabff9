"""Interoperability checks between session-collector and the OpenTelemetry Collector.

Run through ``scripts/interop-otelcol/run`` (which builds or finds the OpenTelemetry Collector
binary and sets OTELCOL_BIN); see README.md beside this file. Everything listens on 127.0.0.1
and talks to the Kafka broker at KAFKA_BOOTSTRAP (default 127.0.0.1:9092). Every wait is
bounded; every process started here is stopped before the script exits.

Checks (each prints PASS or FAIL with its figures; the exit status is 1 if any failed):

  a   session-collector otlp (HTTP) -> kafka exporter -> Kafka -> otelcol kafkareceiver
      (otlp_proto, header_extraction of ``tenant``) -> otelcol file exporter; one variant per
      Kafka compression
  b   otelcol otlp receiver -> otelcol kafkaexporter (otlp_proto, record header ``tenant``)
      -> Kafka -> session-collector kafka receiver -> file exporter (+ debug, for the tenant);
      one variant per Kafka compression
  c   otelcol otlp receiver -> otelcol otlp (gRPC) / otlphttp exporter, one variant per
      compression (and otlphttp's json encoding) -> session-collector otlp receiver
      (grpc and http, no auth) -> file exporter

The input is the Claude Code capture in tests/data/claude-code-2.1.197-write/http-protobuf
(metrics.pb: 10 data points, traces.pb: 6 spans). What comes out is compared with it data
point by data point and span by span (resource, scope, metric or span, every field), after
the OTLP/JSON lines are read back into protobuf.
"""

from __future__ import annotations

import argparse
import base64
import collections
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests/data/claude-code-2.1.197-write/http-protobuf"
PY = Path(sys.executable)

WAIT_S = float(os.environ.get("INTEROP_WAIT_S", "60"))  # longest wait for data to arrive
START_S = float(os.environ.get("INTEROP_START_S", "30"))  # longest wait for a process to listen
HEADER_TENANT = "kafka.header.tenant"


def _list(env: str, default: str) -> list[str]:
    return os.environ.get(env, default).split()


# Variants (space-separated lists; override to narrow a run). gRPC: the compressors of
# configgrpc; HTTP: those of confighttp (configcompression), as of 0.165.x; Kafka: both kafka
# exporters' codecs.
# snappy and zstd over gRPC are refused by grpcio's server (see the README): not by default
GRPC_COMPRESSIONS = _list("INTEROP_GRPC_COMPRESSIONS", "none gzip")
HTTP_COMPRESSIONS = _list(
    "INTEROP_HTTP_COMPRESSIONS", "none gzip zlib deflate snappy x-snappy-framed zstd lz4"
)
KAFKA_COMPRESSIONS = _list("INTEROP_KAFKA_COMPRESSIONS", "none gzip snappy lz4 zstd")


# ---------------------------------------------------------------------------------------------
# OTLP/JSON -> protobuf, and a canonical form to compare records with


def _hex_ids_to_b64(obj: object) -> object:
    """OTLP/JSON writes trace and span ids in hex, protobuf's JSON mapping wants base64."""
    if isinstance(obj, dict):
        out: dict[str, object] = {}
        for k, v in obj.items():
            if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str):
                out[k] = base64.b64encode(bytes.fromhex(v)).decode()
            else:
                out[k] = _hex_ids_to_b64(v)
        return out
    if isinstance(obj, list):
        return [_hex_ids_to_b64(v) for v in obj]
    return obj


def read_jsonl(
    path: Path,
) -> tuple[list[ExportMetricsServiceRequest], list[ExportTraceServiceRequest]]:
    """The requests in an OTLP/JSON lines file (either collector's file exporter)."""
    metrics: list[ExportMetricsServiceRequest] = []
    traces: list[ExportTraceServiceRequest] = []
    if not path.exists():
        return metrics, traces
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            continue  # a line being written right now; read again later
        if "resourceMetrics" in doc:
            metrics.append(json_format.ParseDict(doc, ExportMetricsServiceRequest()))
        elif "resourceSpans" in doc:
            traces.append(json_format.ParseDict(_hex_ids_to_b64(doc), ExportTraceServiceRequest()))
    return metrics, traces


def _attrs(kvs: Iterable[Any], drop: tuple[str, ...] = ()) -> dict:
    return {kv.key: json_format.MessageToDict(kv.value) for kv in kvs if kv.key not in drop}


def _canon(d: dict) -> str:
    return json.dumps(d, sort_keys=True, separators=(",", ":"))


@dataclass
class Flat:
    """One signal's records, flattened with their resource and scope."""

    items: collections.Counter = field(default_factory=collections.Counter)  # canonical records
    names: collections.Counter = field(default_factory=collections.Counter)  # metric or span names
    trace_ids: set = field(default_factory=set)
    header_tenants: collections.Counter = field(default_factory=collections.Counter)

    @property
    def count(self) -> int:
        return sum(self.items.values())


def flat_metrics(reqs: list[ExportMetricsServiceRequest]) -> Flat:
    f = Flat()
    for req in reqs:
        for rm in req.resource_metrics:
            res = _attrs(rm.resource.attributes, drop=(HEADER_TENANT,))
            tenant = _attrs(rm.resource.attributes).get(HEADER_TENANT, {}).get("stringValue")
            for sm in rm.scope_metrics:
                scope = json_format.MessageToDict(sm.scope)
                for m in sm.metrics:
                    kind = m.WhichOneof("data")
                    data = getattr(m, kind)
                    meta = {
                        k: v
                        for k, v in json_format.MessageToDict(data).items()
                        if k != "dataPoints"
                    }
                    for p in data.data_points:
                        f.items[
                            _canon(
                                {
                                    "resource": res,
                                    "scope": scope,
                                    "name": m.name,
                                    "unit": m.unit,
                                    "description": m.description,
                                    "kind": kind,
                                    "meta": meta,
                                    "point": json_format.MessageToDict(p),
                                }
                            )
                        ] += 1
                        f.names[m.name] += 1
                        f.header_tenants[tenant] += 1
    return f


def flat_traces(reqs: list[ExportTraceServiceRequest]) -> Flat:
    f = Flat()
    for req in reqs:
        for rs in req.resource_spans:
            res = _attrs(rs.resource.attributes, drop=(HEADER_TENANT,))
            tenant = _attrs(rs.resource.attributes).get(HEADER_TENANT, {}).get("stringValue")
            for ss in rs.scope_spans:
                scope = json_format.MessageToDict(ss.scope)
                for s in ss.spans:
                    f.items[
                        _canon(
                            {"resource": res, "scope": scope, "span": json_format.MessageToDict(s)}
                        )
                    ] += 1
                    f.names[s.name] += 1
                    f.trace_ids.add(s.trace_id.hex())
                    f.header_tenants[tenant] += 1
    return f


def load_expected() -> tuple[bytes, bytes, Flat, Flat]:
    mbody = (DATA / "metrics.pb").read_bytes()
    tbody = (DATA / "traces.pb").read_bytes()
    m = ExportMetricsServiceRequest()
    m.ParseFromString(mbody)
    t = ExportTraceServiceRequest()
    t.ParseFromString(tbody)
    return mbody, tbody, flat_metrics([m]), flat_traces([t])


def compare(label: str, want: Flat, got: Flat, unit: str) -> tuple[bool, str]:
    """Same records, field by field; the message says counts, names and trace ids."""
    ok = got.items == want.items
    parts = [f"{got.count}/{want.count} {unit}"]
    parts.append(
        "names "
        + (
            "identical"
            if got.names == want.names
            else f"DIFFER: got {dict(got.names)}, want {dict(want.names)}"
        )
    )
    if want.trace_ids or got.trace_ids:
        parts.append(
            "trace ids "
            + (
                "identical " + ",".join(sorted(got.trace_ids))
                if got.trace_ids == want.trace_ids
                else f"DIFFER: got {sorted(got.trace_ids)}, want {sorted(want.trace_ids)}"
            )
        )
    if ok:
        parts.append("every record identical")
    else:
        missing = want.items - got.items
        extra = got.items - want.items
        parts.append(
            f"{sum(missing.values())} expected record(s) missing, {sum(extra.values())} unexpected"
        )
    msg = f"{label}: " + "; ".join(parts)
    if not ok and got.count:  # (with nothing received, the counts say it all)
        for rec in list(extra)[:2]:
            msg += "\n    unexpected: " + rec[:800]
        for rec in list(missing)[:2]:
            msg += "\n    missing: " + rec[:800]
    return ok, msg


# ---------------------------------------------------------------------------------------------
# processes and ports


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, what: str, log: Path) -> None:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(
        f"{what} did not listen on 127.0.0.1:{port} within {START_S:.0f}s:\n{tail(log)}"
    )


def tail(log: Path, n: int = 25) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join("    | " + line[:400] for line in lines[-n:])


class Procs:
    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, what: str, argv: list[str], log: Path) -> subprocess.Popen:
        fh = open(log, "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            argv,
            cwd=REPO,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        fh.close()
        self.procs.append((what, proc))
        return proc

    def stop_all(self) -> None:
        for _, proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _, proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.procs.clear()


def write_yaml(path: Path, doc: dict) -> Path:
    # JSON is YAML: no dependency on a YAML writer
    path.write_text(json.dumps(doc, indent=2))
    return path


def ours_argv(cfg: Path) -> list[str]:
    return [str(PY), "-m", "collector", "run", "--config", str(cfg)]


def otelcol_argv(cfg: Path) -> list[str]:
    return [os.environ["OTELCOL_BIN"], "--config", str(cfg)]


def otelcol_service(pipelines: dict) -> dict:
    return {
        "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "info"}},
        "pipelines": pipelines,
    }


def ours_service(pipelines: dict) -> dict:
    return {"telemetry": {"metrics": {"level": "none"}}, "pipelines": pipelines}


def post(url: str, body: bytes, timeout: float = 30) -> tuple[int, str]:
    try:
        r = httpx.post(
            url, content=body, timeout=timeout, headers={"Content-Type": "application/x-protobuf"}
        )
    except httpx.HTTPError as exc:
        return 0, f"{type(exc).__name__}: {exc}"
    text = ""
    if r.status_code >= 400:
        text = r.text
        if "protobuf" in r.headers.get("content-type", ""):
            st = status_pb2.Status()
            try:
                st.ParseFromString(r.content)
                text = f"google.rpc.Status code={st.code} message={st.message!r}"
            except Exception:  # not a Status: show the bytes
                text = repr(r.content[:400])
    return r.status_code, text[:600]


def wait_for(path: Path, want_m: int, want_t: int) -> tuple[Flat, Flat]:
    """Reads the file until it holds at least the expected counts (or the wait is over),
    then once more after a short pause, so duplicates that follow are seen too."""
    deadline = time.monotonic() + WAIT_S
    while True:
        m, t = read_jsonl(path)
        fm, ft = flat_metrics(m), flat_traces(t)
        if (fm.count >= want_m and ft.count >= want_t) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    time.sleep(2)
    m, t = read_jsonl(path)
    return flat_metrics(m), flat_traces(t)


# ---------------------------------------------------------------------------------------------
# the checks


class Run:
    def __init__(self, workdir: Path, bootstrap: str) -> None:
        self.dir = workdir
        self.bootstrap = bootstrap
        self.run_id = time.strftime("%Y%m%d%H%M%S") + "_" + secrets.token_hex(3)
        self.results: list[tuple[str, bool, str]] = []
        self.mbody, self.tbody, self.want_m, self.want_t = load_expected()

    def result(self, name: str, ok: bool, msg: str) -> None:
        self.results.append((name, ok, msg))
        print(f"{'PASS' if ok else 'FAIL'} {name}: {msg}", flush=True)

    def topic(self, check: str, signal_: str) -> str:
        return f"interop_{self.run_id}_{check}_{signal_}"

    # a: ours -> Kafka -> otelcol -------------------------------------------------------------
    def check_a(self) -> None:
        """One session-collector with an otlp receiver and a kafka exporter per Kafka
        compression (each to its own topics), one otelcol with a kafkareceiver per compression
        (header_extraction of ``tenant``), each into its own file."""
        d = self.dir / "a"
        d.mkdir(parents=True, exist_ok=True)
        receivers, exporters, pipelines = {}, {}, {}
        o_receivers, o_exporters, o_pipelines = {}, {}, {}
        topics, ports, outs = {}, {}, {}
        for comp in KAFKA_COMPRESSIONS:
            tm, tt = topics[comp] = (
                self.topic("a", f"{comp}_metrics"),
                self.topic("a", f"{comp}_spans"),
            )
            ports[comp] = free_port()
            outs[comp] = d / f"otelcol-out-{comp}.jsonl"
            receivers[f"otlp/{comp}"] = {
                "tenant": f"interop-a-{comp}",
                "protocols": {"http": {"endpoint": f"127.0.0.1:{ports[comp]}"}},
            }
            exporters[f"kafka/{comp}"] = {
                "brokers": [self.bootstrap],
                "client_id": f"interop-a-{comp}",
                "compression": comp,
                "metrics": {"topic": tm, "encoding": "otlp_proto"},
                "traces": {"topic": tt, "encoding": "otlp_proto"},
            }
            o_receivers[f"kafka/{comp}"] = {
                "brokers": [self.bootstrap],
                "group_id": f"interop-{self.run_id}-a-{comp}",
                "initial_offset": "earliest",
                "metrics": {"topics": [tm], "encoding": "otlp_proto"},
                "traces": {"topics": [tt], "encoding": "otlp_proto"},
                "header_extraction": {"extract_headers": True, "headers": ["tenant"]},
            }
            o_exporters[f"file/{comp}"] = {"path": str(outs[comp]), "flush_interval": "200ms"}
            for sig in ("metrics", "traces"):
                pipelines[f"{sig}/{comp}"] = {
                    "receivers": [f"otlp/{comp}"],
                    "exporters": [f"kafka/{comp}"],
                }
                o_pipelines[f"{sig}/{comp}"] = {
                    "receivers": [f"kafka/{comp}"],
                    "exporters": [f"file/{comp}"],
                }
        ours = write_yaml(
            d / "ours.yaml",
            {"receivers": receivers, "exporters": exporters, "service": ours_service(pipelines)},
        )
        otel = write_yaml(
            d / "otelcol.yaml",
            {
                "receivers": o_receivers,
                "exporters": o_exporters,
                "service": otelcol_service(o_pipelines),
            },
        )
        procs = Procs()
        answers, got = {}, {}
        try:
            p = procs.start("session-collector", ours_argv(ours), d / "ours.log")
            for comp in KAFKA_COMPRESSIONS:
                wait_port(ports[comp], p, "session-collector", d / "ours.log")
            for comp in KAFKA_COMPRESSIONS:  # produced first, so the topics exist
                answers[comp] = (
                    post(f"http://127.0.0.1:{ports[comp]}/v1/metrics", self.mbody),
                    post(f"http://127.0.0.1:{ports[comp]}/v1/traces", self.tbody),
                )
            o = procs.start("otelcol", otelcol_argv(otel), d / "otelcol.log")
            for comp in KAFKA_COMPRESSIONS:
                got[comp] = wait_for(outs[comp], self.want_m.count, self.want_t.count)
            alive = o.poll() is None
        finally:
            procs.stop_all()
        for comp in KAFKA_COMPRESSIONS:
            name = f"a ours->kafka->otelcol compression={comp}"
            sm, st = answers[comp]
            fm, ft = got[comp]
            okp = sm[0] == 200 and st[0] == 200
            okm, msgm = compare("metrics", self.want_m, fm, "data points")
            okt, msgt = compare("traces", self.want_t, ft, "spans")
            tenants = dict(fm.header_tenants + ft.header_tenants)
            okh = tenants == {f"interop-a-{comp}": self.want_m.count + self.want_t.count}
            detail = (
                f"our collector answered {sm[0]}/{st[0]}; "
                f"topics {topics[comp][0]}, {topics[comp][1]}; "
                f"{msgm} | {msgt} | {HEADER_TENANT} on every resource: {tenants}"
            )
            for what, ans in (("/v1/metrics", sm), ("/v1/traces", st)):
                if ans[0] != 200:
                    detail += f"\n  our {what} answer: {ans[1]}"
            ok = okp and okm and okt and okh and alive
            if not ok:
                errs = [
                    ln
                    for ln in (d / "otelcol.log").read_text(errors="replace").splitlines()
                    if ("\terror\t" in ln or "\twarn\t" in ln) and comp in ln
                ][:5]
                detail += (
                    f"\n  otelcol alive at the end: {alive}; its warnings/errors naming {comp}:\n"
                    + "\n".join("    | " + ln[:600] for ln in errs)
                )
            self.result(name, ok, detail)
        if not all(ok for n, ok, _ in self.results if n.startswith("a ")):
            print(f"  otelcol log ({d / 'otelcol.log'}):\n{tail(d / 'otelcol.log', 15)}")
            print(f"  our log ({d / 'ours.log'}):\n{tail(d / 'ours.log', 15)}")

    # b: otelcol -> Kafka -> ours -------------------------------------------------------------
    def check_b(self) -> None:
        """One otelcol with an otlp receiver and a kafkaexporter per Kafka compression
        (record header ``tenant``), one session-collector with a kafka receiver per
        compression, each into its own file and the debug exporter (which logs the tenant)."""
        d = self.dir / "b"
        d.mkdir(parents=True, exist_ok=True)
        receivers, exporters, pipelines = {}, {}, {}
        o_receivers, o_exporters, o_pipelines = {}, {}, {}
        topics, ports, outs = {}, {}, {}
        for comp in KAFKA_COMPRESSIONS:
            tm, tt = topics[comp] = (
                self.topic("b", f"{comp}_metrics"),
                self.topic("b", f"{comp}_spans"),
            )
            ports[comp] = free_port()
            outs[comp] = d / f"ours-out-{comp}.jsonl"
            o_receivers[f"otlp/{comp}"] = {
                "protocols": {"http": {"endpoint": f"127.0.0.1:{ports[comp]}"}}
            }
            o_exporters[f"kafka/{comp}"] = {
                "brokers": [self.bootstrap],
                "producer": {"compression": comp},
                "metrics": {"topic": tm, "encoding": "otlp_proto"},
                "traces": {"topic": tt, "encoding": "otlp_proto"},
                "record_headers": [{"name": "tenant", "value": f"interop-b-{comp}"}],
                "sending_queue": {"enabled": False},
                "retry_on_failure": {"enabled": False},
            }
            receivers[f"kafka/{comp}"] = {
                "brokers": [self.bootstrap],
                "group_id": f"interop-{self.run_id}-b-{comp}",
                "initial_offset": "earliest",
                "dead_letter_topic": self.topic("b", f"{comp}_dlq"),
                "metrics": {"topics": [tm], "encoding": "otlp_proto"},
                "traces": {"topics": [tt], "encoding": "otlp_proto"},
            }
            exporters[f"file/{comp}"] = {"path": str(outs[comp])}
            for sig in ("metrics", "traces"):
                o_pipelines[f"{sig}/{comp}"] = {
                    "receivers": [f"otlp/{comp}"],
                    "exporters": [f"kafka/{comp}"],
                }
                pipelines[f"{sig}/{comp}"] = {
                    "receivers": [f"kafka/{comp}"],
                    "exporters": [f"file/{comp}", "debug"],
                }
        exporters["debug"] = {"verbosity": "basic"}
        otel = write_yaml(
            d / "otelcol.yaml",
            {
                "receivers": o_receivers,
                "exporters": o_exporters,
                "service": otelcol_service(o_pipelines),
            },
        )
        ours = write_yaml(
            d / "ours.yaml",
            {"receivers": receivers, "exporters": exporters, "service": ours_service(pipelines)},
        )
        procs = Procs()
        answers, got = {}, {}
        try:
            o = procs.start("otelcol", otelcol_argv(otel), d / "otelcol.log")
            for comp in KAFKA_COMPRESSIONS:
                wait_port(ports[comp], o, "otelcol", d / "otelcol.log")
            for comp in KAFKA_COMPRESSIONS:  # produced first (synchronously), so the topics exist
                answers[comp] = (
                    post(f"http://127.0.0.1:{ports[comp]}/v1/metrics", self.mbody),
                    post(f"http://127.0.0.1:{ports[comp]}/v1/traces", self.tbody),
                )
            p = procs.start("session-collector", ours_argv(ours), d / "ours.log")
            for comp in KAFKA_COMPRESSIONS:
                got[comp] = wait_for(outs[comp], self.want_m.count, self.want_t.count)
            alive = p.poll() is None
        finally:
            procs.stop_all()
        log = (d / "ours.log").read_text(errors="replace").splitlines()
        tenants = collections.Counter(
            part.split("=", 1)[1]
            for ln in log
            if "component=debug" in ln
            for part in ln.split()
            if part.startswith("tenant=")
        )
        for comp in KAFKA_COMPRESSIONS:
            name = f"b otelcol->kafka->ours compression={comp}"
            sm, st = answers[comp]
            fm, ft = got[comp]
            okp = sm[0] == 200 and st[0] == 200
            okm, msgm = compare("metrics", self.want_m, fm, "data points")
            okt, msgt = compare("traces", self.want_t, ft, "spans")
            okh = tenants.get(f"interop-b-{comp}", 0) >= 2  # a metrics and a traces batch at least
            bad = [
                ln
                for ln in log
                if ("[warning" in ln or "[error" in ln)
                and f"kafka/{comp}" in ln
                and "no auth" not in ln
            ]
            detail = (
                f"otelcol answered {sm[0]}/{st[0]}; topics {topics[comp][0]}, {topics[comp][1]}; "
                f"{msgm} | {msgt} | batches with tenant interop-b-{comp} (record header) "
                f"in our debug exporter: {tenants.get(f'interop-b-{comp}', 0)}"
            )
            for what, ans in (("/v1/metrics", sm), ("/v1/traces", st)):
                if ans[0] != 200:
                    detail += f"\n  otelcol's {what} answer: {ans[1]}"
            ok = okp and okm and okt and okh and alive and not bad
            if not ok:
                detail += (
                    f"\n  ours alive at the end: {alive}; our warnings/errors for kafka/{comp}:\n"
                    + "\n".join("    | " + ln[:600] for ln in bad[:5])
                )
            self.result(name, ok, detail)
        if not all(ok for n, ok, _ in self.results if n.startswith("b ")):
            print(f"  our log ({d / 'ours.log'}):\n{tail(d / 'ours.log', 15)}")
            print(f"  otelcol log ({d / 'otelcol.log'}):\n{tail(d / 'otelcol.log', 15)}")

    # c: otelcol otlp / otlphttp exporters -> ours --------------------------------------------
    def check_c(self) -> None:
        d = self.dir / "c"
        d.mkdir(parents=True, exist_ok=True)
        grpc_port, http_port = free_port(), free_port()
        out_grpc, out_http = d / "ours-grpc.jsonl", d / "ours-http.jsonl"
        ours = write_yaml(
            d / "ours.yaml",
            {
                "receivers": {
                    "otlp/grpc": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{grpc_port}"}}},
                    "otlp/http": {"protocols": {"http": {"endpoint": f"127.0.0.1:{http_port}"}}},
                },
                "exporters": {
                    "file/grpc": {"path": str(out_grpc)},
                    "file/http": {"path": str(out_http)},
                },
                "service": ours_service(
                    {
                        "metrics/grpc": {"receivers": ["otlp/grpc"], "exporters": ["file/grpc"]},
                        "traces/grpc": {"receivers": ["otlp/grpc"], "exporters": ["file/grpc"]},
                        "metrics/http": {"receivers": ["otlp/http"], "exporters": ["file/http"]},
                        "traces/http": {"receivers": ["otlp/http"], "exporters": ["file/http"]},
                    }
                ),
            },
        )
        # one otelcol: each variant has its own otlp receiver (port) and exporter; its
        # exporters send synchronously (no queue, no retry), so the answer to a POST is ours.
        variants = []  # (name, exporter id, exporter config, our output file)
        for comp in GRPC_COMPRESSIONS:
            variants.append(
                (
                    f"grpc/{comp}",
                    f"otlp_grpc/{comp}",
                    {
                        "endpoint": f"127.0.0.1:{grpc_port}",
                        "tls": {"insecure": True},
                        "compression": comp,
                    },
                    out_grpc,
                )
            )
        for comp in HTTP_COMPRESSIONS:
            variants.append(
                (
                    f"http/{comp}",
                    f"otlp_http/{comp}",
                    {"endpoint": f"http://127.0.0.1:{http_port}", "compression": comp},
                    out_http,
                )
            )
        variants.append(
            (
                "http-json/gzip",
                "otlp_http/json_gzip",
                {
                    "endpoint": f"http://127.0.0.1:{http_port}",
                    "compression": "gzip",
                    "encoding": "json",
                },
                out_http,
            )
        )
        receivers, exporters, pipelines, ports = {}, {}, {}, {}
        for name, exp_id, exp_cfg, _ in variants:
            port = ports[name] = free_port()
            receivers[f"otlp/{exp_id.replace('/', '_')}"] = {
                "protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}
            }
            exp_cfg |= {
                "sending_queue": {"enabled": False},
                "retry_on_failure": {"enabled": False},
                "timeout": "10s",
            }
            exporters[exp_id] = exp_cfg
            rid = f"otlp/{exp_id.replace('/', '_')}"
            pipelines[f"metrics/{exp_id.replace('/', '_')}"] = {
                "receivers": [rid],
                "exporters": [exp_id],
            }
            pipelines[f"traces/{exp_id.replace('/', '_')}"] = {
                "receivers": [rid],
                "exporters": [exp_id],
            }
        otel = write_yaml(
            d / "otelcol.yaml",
            {"receivers": receivers, "exporters": exporters, "service": otelcol_service(pipelines)},
        )
        procs = Procs()
        try:
            p = procs.start("session-collector", ours_argv(ours), d / "ours.log")
            wait_port(http_port, p, "session-collector", d / "ours.log")
            wait_port(grpc_port, p, "session-collector (gRPC)", d / "ours.log")
            o = procs.start("otelcol", otelcol_argv(otel), d / "otelcol.log")
            for name in ports:
                wait_port(ports[name], o, "otelcol", d / "otelcol.log")
            for name, _exp_id, _cfg, out in variants:
                before_m, before_t = read_jsonl(out)
                sm = post(f"http://127.0.0.1:{ports[name]}/v1/metrics", self.mbody)
                st = post(f"http://127.0.0.1:{ports[name]}/v1/traces", self.tbody)
                # the exporters are synchronous, so what ours accepted is in the file now
                time.sleep(0.2)
                after_m, after_t = read_jsonl(out)
                fm, ft = (
                    flat_metrics(after_m[len(before_m) :]),
                    flat_traces(after_t[len(before_t) :]),
                )
                okm, msgm = compare("metrics", self.want_m, fm, "data points")
                okt, msgt = compare("traces", self.want_t, ft, "spans")
                ok = sm[0] == 200 and st[0] == 200 and okm and okt
                detail = f"otelcol answered {sm[0]}/{st[0]}; {msgm} | {msgt}"
                if sm[0] != 200:
                    detail += f"\n  /v1/metrics answer: {sm[1]}"
                if st[0] != 200:
                    detail += f"\n  /v1/traces answer: {st[1]}"
                self.result(f"c otelcol->ours {name}", ok, detail)
        finally:
            procs.stop_all()
        if not all(ok for n, ok, _ in self.results if n.startswith("c ")):
            print(f"  our log ({d / 'ours.log'}):\n{tail(d / 'ours.log', 15)}")
            print(f"  otelcol log ({d / 'otelcol.log'}):\n{tail(d / 'otelcol.log', 15)}")


def kafka_up(bootstrap: str) -> bool:
    host, _, port = bootstrap.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("checks", nargs="*", help="which checks to run: a, b, c (default: all)")
    ap.add_argument("--workdir", type=Path, help="where configs, logs and outputs go")
    args = ap.parse_args()
    if "OTELCOL_BIN" not in os.environ or not os.access(os.environ["OTELCOL_BIN"], os.X_OK):
        print("FAIL setup: OTELCOL_BIN is not an executable (use the run script)")
        return 1
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    run = Run(Path("/"), bootstrap)  # workdir set below, after run_id exists
    run.dir = (
        args.workdir or Path(os.environ.get("INTEROP_DIR", "/tmp")) / "runs" / run.run_id
    ).resolve()
    run.dir.mkdir(parents=True, exist_ok=True)
    version = subprocess.run(
        [os.environ["OTELCOL_BIN"], "--version"], capture_output=True, text=True, timeout=30
    ).stdout.strip()
    print(f"otelcol: {os.environ['OTELCOL_BIN']} ({version})")
    print(f"run {run.run_id}: configs, logs and outputs in {run.dir}")
    print(
        f"input: {DATA}: {run.want_m.count} data points, {run.want_t.count} spans, "
        f"trace ids {sorted(run.want_t.trace_ids)}",
        flush=True,
    )
    checks = args.checks or ["a", "b", "c"]
    if set(checks) - {"a", "b", "c"}:
        ap.error(f"unknown check(s) {sorted(set(checks) - {'a', 'b', 'c'})}: a, b or c")
    if any(c in checks for c in "ab") and not kafka_up(bootstrap):
        print(f"FAIL setup: no Kafka broker at {bootstrap} (scripts/dev-services start)")
        return 1
    for c in checks:
        try:
            getattr(run, f"check_{c}")()
        except Exception as exc:  # a check that could not run fails; the others still run
            run.result(c, False, f"{type(exc).__name__}: {exc}")
    failed = [n for n, ok, _ in run.results if not ok]
    print(f"{len(run.results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed or not run.results else 0


if __name__ == "__main__":
    sys.exit(main())
