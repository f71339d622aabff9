"""The process's own figures, as the OpenTelemetry Collector reports them about itself:
``otelcol_process_uptime_seconds_total``, ``otelcol_process_cpu_seconds_total`` and
``otelcol_process_memory_rss_bytes``, and who is reporting: ``target_info`` with
``service_instance_id`` (a UUID per run, shared by the workers of ``--workers``),
``service_name`` and ``service_version``.

They are brought up to date every few seconds and on every scrape. With ``--workers`` they add
up over the worker processes (prometheus-client's multiprocess mode): CPU and memory are what
the workers use together, and uptime is the sum of theirs.
"""

from __future__ import annotations

import os
import resource
import time
import uuid
from importlib import metadata

from prometheus_client import CollectorRegistry, Counter, Gauge

from collector.telemetry.metrics import REGISTRY

#: set by the supervisor of ``--workers`` so that every worker reports the same instance
INSTANCE_ENV = "SESSION_COLLECTOR_INSTANCE_ID"

uptime = Counter(
    "otelcol_process_uptime_seconds", "Uptime of the process.", registry=REGISTRY
)  # fmt: skip
cpu = Counter(
    "otelcol_process_cpu_seconds", "Total CPU user and system time of the process.",
    registry=REGISTRY,
)  # fmt: skip
rss = Gauge(
    "otelcol_process_memory_rss_bytes", "Resident memory of the process.", registry=REGISTRY,
    multiprocess_mode="livesum",
)  # fmt: skip

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_started = time.monotonic()
_counted = {"uptime": 0.0, "cpu": 0.0}


def instance_id() -> str:
    """This run's ``service_instance_id``."""
    value = os.environ.get(INSTANCE_ENV)
    if not value:
        value = os.environ[INSTANCE_ENV] = str(uuid.uuid4())
    return value


def target_info(registry: CollectorRegistry) -> None:
    """Label ``registry``'s ``target_info`` with who reports its metrics."""
    try:
        version = metadata.version("session-collector")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree
        version = "unknown"
    registry.set_target_info({"service_instance_id": instance_id(),
                              "service_name": "session-collector",
                              "service_version": version})  # fmt: skip


def update() -> None:
    """Bring the figures up to date (cheap: two system calls and one small file)."""
    now = time.monotonic() - _started
    uptime.inc(max(0.0, now - _counted["uptime"]))
    _counted["uptime"] = now
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    cpu.inc(max(0.0, used - _counted["cpu"]))
    _counted["cpu"] = used
    try:
        with open("/proc/self/statm", "rb") as statm:
            rss.set(int(statm.read().split()[1]) * _PAGE)
    except (OSError, IndexError, ValueError):  # not Linux: the peak is what there is
        rss.set(usage.ru_maxrss * 1024)
