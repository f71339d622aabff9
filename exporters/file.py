"""``file`` exporter: appends one OTLP/JSON export request per line (``ExportLogsServiceRequest``,
``ExportMetricsServiceRequest`` or ``ExportTraceServiceRequest``, as the batch's signal), as the
OpenTelemetry Collector's file exporter does with its default ``json`` format.

A batch is written as one line with one ``write`` (so lines never interleave) off the event
loop, and flushed to the operating system before ``consume`` returns; with ``fsync: true``
it is also on disk, surviving a power loss, before the client gets its answer.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import ClassVar

import structlog
from pydantic import Field

from collector.component import ALL_SIGNALS, ComponentConfig, ComponentID, Factory, Host, Kind
from collector.consumererror import RetryableError
from collector.pdata.signals import Batch, encode_batch, signal_of
from collector.telemetry import metrics

TYPE = "file"
log = structlog.get_logger(__name__)


class FileExporterConfig(ComponentConfig):
    path: str = Field(min_length=1)
    fsync: bool = False


def create(component_id: ComponentID, config: FileExporterConfig) -> FileExporter:
    return FileExporter(component_id, config)


FACTORY = Factory(
    Kind.EXPORTER,
    TYPE,
    FileExporterConfig,
    create,
    "appends each batch to a file as one OTLP/JSON line",
    ALL_SIGNALS,
)


class FileExporter:
    mutates_data: ClassVar[bool] = False

    def __init__(self, component_id: ComponentID, config: FileExporterConfig) -> None:
        self.id = component_id
        self.config = config
        self._fd: int | None = None
        self._lock = asyncio.Lock()

    async def start(self, host: Host) -> None:
        self._fd = await asyncio.to_thread(self._open)
        log.info("writing", component=str(self.id), path=self.config.path)

    def _open(self) -> int:
        path = Path(self.config.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)

    async def consume(self, batch: Batch) -> None:
        if self._fd is None:
            raise RetryableError("exporter is not running", component=str(self.id))
        line = encode_batch(batch, "json") + b"\n"
        async with self._lock:
            try:
                await asyncio.to_thread(self._write, self._fd, line)
                metrics.of_signal(metrics.exporter_sent, signal_of(batch)).labels(str(self.id)).inc(
                    len(batch.records)
                )
            except OSError as exc:
                metrics.of_signal(metrics.exporter_send_failed, signal_of(batch)).labels(
                    str(self.id)
                ).inc(len(batch.records))
                raise RetryableError(
                    f"cannot write {self.config.path}: {exc.strerror or exc}",
                    component=str(self.id),
                ) from exc

    def _write(self, fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if self.config.fsync:
            os.fsync(fd)

    async def shutdown(self) -> None:
        async with self._lock:
            fd, self._fd = self._fd, None
            if fd is not None:
                os.close(fd)
