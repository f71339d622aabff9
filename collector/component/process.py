"""Which process of ``run --workers N`` this one is, as the supervisor
(``collector.service.workers``) tells its workers through the environment."""

from __future__ import annotations

import os

WORKER_ENV = "SESSION_COLLECTOR_WORKER"
WORKERS_ENV = "SESSION_COLLECTOR_WORKERS"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def worker_index() -> int | None:
    """This process's worker index under ``--workers``, or ``None`` when it runs alone."""
    value = os.environ.get(WORKER_ENV)
    return int(value) if value is not None else None


def reuse_port() -> bool:
    """Whether listeners must share their port with sibling workers."""
    return int(os.environ.get(WORKERS_ENV, "1")) > 1
