"""``debug`` exporter: logs a summary of each batch, as the OpenTelemetry Collector's does.

``verbosity: basic`` logs counts, ``normal`` adds the event names (of logs) or metric and
span names, ``detailed`` logs every record's event name, time and attributes, and every data
point or span.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, ClassVar, Literal

import structlog

from collector.component import ALL_SIGNALS, ComponentConfig, ComponentID, Factory, Host, Kind
from collector.pdata.records import LogBatch, LogRecord
from collector.pdata.signals import Batch, MetricsBatch, TracesBatch, signal_of
from collector.telemetry import metrics

TYPE = "debug"
log = structlog.get_logger(__name__)


class DebugExporterConfig(ComponentConfig):
    verbosity: Literal["basic", "normal", "detailed"] = "basic"


def create(component_id: ComponentID, config: DebugExporterConfig) -> DebugExporter:
    return DebugExporter(component_id, config)


FACTORY = Factory(
    Kind.EXPORTER, TYPE, DebugExporterConfig, create, "logs a summary of every batch", ALL_SIGNALS
)


def event_name(record: LogRecord) -> str:
    if record.event_name:
        return record.event_name
    if isinstance(record.body, str) and record.body:
        return record.body
    name = record.attribute("event.name")
    return name if isinstance(name, str) else ""


class DebugExporter:
    mutates_data: ClassVar[bool] = False

    def __init__(self, component_id: ComponentID, config: DebugExporterConfig) -> None:
        self.id = component_id
        self.config = config

    async def start(self, host: Host) -> None:
        pass

    async def consume(self, batch: Batch) -> None:
        sent = metrics.of_signal(metrics.exporter_sent, signal_of(batch))
        sent.labels(str(self.id)).inc(len(batch.records))
        if not isinstance(batch, LogBatch):
            self._other(batch)
            return
        fields: dict[str, object] = {
            "component": str(self.id),
            "tenant": batch.tenant,
            "log_records": len(batch),
        }
        if self.config.verbosity != "basic":
            fields["events"] = dict(Counter(event_name(r) or "(none)" for r in batch.records))
        log.info("logs", **fields)
        if self.config.verbosity == "detailed":
            for r in batch.records:
                log.info(
                    "log record",
                    component=str(self.id),
                    event_name=event_name(r),
                    time_unix_nano=r.time_unix_nano,
                    attributes=r.attributes,
                )

    def _other(self, batch: MetricsBatch | TracesBatch) -> None:
        """Metrics or traces: counted as the OpenTelemetry Collector's debug exporter does."""
        is_metrics = isinstance(batch, MetricsBatch)
        records: list[Any] = batch.records
        unit = "data_points" if is_metrics else "spans"
        fields: dict[str, object] = {"component": str(self.id), "tenant": batch.tenant,
                                     unit: len(batch)}  # fmt: skip
        names = Counter((r.metric.name if is_metrics else r.pb.name) or "(none)" for r in records)
        if self.config.verbosity != "basic":
            fields["metrics" if is_metrics else "names"] = dict(names)
        log.info("metrics" if is_metrics else "traces", **fields)
        if self.config.verbosity == "detailed":
            for r in records:
                log.info("data point" if is_metrics else "span", component=str(self.id),
                         record=str(r.pb).strip().replace("\n", " "))  # fmt: skip

    async def shutdown(self) -> None:
        pass
