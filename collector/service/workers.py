"""``run --workers N``: N processes serving the same ports (SO_REUSEPORT, the kernel spreads
connections), supervised by the parent process.

Each worker runs the whole configuration. What cannot be shared is refused: an embedded
chDB store admits one process, so workers are for edges (Kafka downstream) and for storage
collectors writing to a ClickHouse server. Each worker has a disk queue file of its own.
Metrics of all workers are summed on ``/metrics`` (prometheus-client's multiprocess mode),
whichever worker answers the scrape.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence

from collector.component.process import MULTIPROC_ENV, WORKER_ENV, WORKERS_ENV
from collector.telemetry.process import INSTANCE_ENV


def supervise(argv: Sequence[str], workers: int) -> int:
    """Run ``session-collector run`` (``argv``, without ``--workers``) in ``workers``
    processes until SIGTERM or SIGINT; restart a worker that dies; return the exit code."""
    metrics_dir = tempfile.mkdtemp(prefix="session-collector-metrics-")
    base_env = {**os.environ, WORKERS_ENV: str(workers), MULTIPROC_ENV: metrics_dir}
    # one service_instance_id for the whole collector, whichever worker answers a scrape
    base_env.setdefault(INSTANCE_ENV, str(uuid.uuid4()))
    command = [sys.executable, "-m", "collector", *argv]

    def spawn(index: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, env={**base_env, WORKER_ENV: str(index)})

    procs = {i: spawn(i) for i in range(workers)}
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    codes: dict[int, int] = {}
    restarts: dict[int, float] = {}
    while len(codes) < workers:
        time.sleep(0.2)
        for index, proc in list(procs.items()):
            code = proc.poll()
            if code is None or index in codes:
                continue
            if stopping:
                codes[index] = code
            elif time.monotonic() - restarts.get(index, 0.0) > 1.0:
                print(f"worker {index} exited with {code}; restarting it", file=sys.stderr)
                restarts[index] = time.monotonic()
                procs[index] = spawn(index)
    for name in os.listdir(metrics_dir):
        os.unlink(os.path.join(metrics_dir, name))
    os.rmdir(metrics_dir)
    return max(codes.values(), default=0)
