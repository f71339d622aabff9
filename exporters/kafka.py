"""``kafka`` exporter: publishes batches to a Kafka topic with aiokafka.

Each message is one ``ExportLogsServiceRequest`` (``otlp_proto``, which the OpenTelemetry
Collector's kafkareceiver reads, or ``otlp_json``) holding records of one message key:
the record's ``session.id`` by default, so a session's events stay in order in one
partition. The tenant travels in the ``tenant`` header. A batch larger than
``max_message_bytes`` becomes several messages; a single record larger than that is
refused through ``partial_success``. With ``acks: all`` the producer is idempotent, and
``consume`` returns once Kafka has acknowledged every message, or once the batch is in the
disk queue while Kafka is away (``sending_queue``).

Metrics and traces go to their own topics, as the OpenTelemetry Collector's kafka exporter
sends them: ``metrics.topic`` (default ``otlp_metrics``) and ``traces.topic`` (default
``otlp_spans``), one ``ExportMetricsServiceRequest`` or ``ExportTraceServiceRequest`` per
message in the signal's ``encoding``, without a key. ``logs.topic`` and ``logs.encoding`` may
stand for ``topic`` and ``encoding``, as in the OpenTelemetry Collector's configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any, ClassVar, Literal

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from pydantic import Field, model_validator

from collector.component import ALL_SIGNALS, ComponentConfig, ComponentID, Factory, Host, Kind
from collector.confmap.units import Duration
from collector.consumererror import PartialRejection, PermanentError, RetryableError
from collector.exporterhelper import QueuedSender, QueueSettings, RetrySettings
from collector.kafka.client import TENANT_HEADER, KafkaClientSettings
from collector.pdata.records import LogBatch, LogRecord
from collector.pdata.signals import Batch, Signal, batch_of, encode_batch, signal_of

Encoding = Literal["otlp_proto", "otlp_json"]


class SignalTopic(ComponentConfig):
    """Where one signal goes: ``logs``, ``metrics`` or ``traces``."""

    topic: str = Field(min_length=1)
    encoding: Encoding = "otlp_proto"


def _topic(default: str) -> Any:
    return Field(default_factory=lambda: SignalTopic(topic=default))


TYPE = "kafka"
log = structlog.get_logger(__name__)
# Room for the record batch framing, key and headers around each message value.
_MESSAGE_OVERHEAD = 512


class KafkaExporterConfig(KafkaClientSettings):
    topic: str = Field("otlp_logs", min_length=1)
    encoding: Encoding = "otlp_proto"
    #: the OpenTelemetry Collector's spelling of ``topic`` and ``encoding``
    logs: SignalTopic | None = None
    metrics: SignalTopic = _topic("otlp_metrics")
    traces: SignalTopic = _topic("otlp_spans")
    #: attributes whose value keys a log message (the first one a record has)
    key_attributes: list[str] = ["session.id"]
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "none"
    acks: Literal["all", "1", "0"] = "all"
    max_message_bytes: int = Field(1_000_000, ge=4096)
    timeout: Duration = Field(timedelta(seconds=5), gt=timedelta(0))
    sending_queue: QueueSettings = Field(default_factory=QueueSettings)
    retry_on_failure: RetrySettings = Field(default_factory=RetrySettings)

    @model_validator(mode="after")
    def _logs_topic_once(self) -> KafkaExporterConfig:
        if self.logs is not None and {"topic", "encoding"} & self.model_fields_set:
            raise ValueError("the logs topic is set twice: use topic/encoding or logs")
        return self

    def destination(self, signal: Signal) -> SignalTopic:
        """The topic and encoding of ``signal``."""
        if signal is Signal.METRICS:
            return self.metrics
        if signal is Signal.TRACES:
            return self.traces
        return self.logs or SignalTopic(topic=self.topic, encoding=self.encoding)


def create(component_id: ComponentID, config: KafkaExporterConfig) -> KafkaExporter:
    return KafkaExporter(component_id, config)


FACTORY = Factory(
    Kind.EXPORTER,
    TYPE,
    KafkaExporterConfig,
    create,
    "publishes logs (keyed by session), metrics and traces to Kafka, with a disk queue for outages",
    ALL_SIGNALS,
)


class KafkaExporter:
    mutates_data: ClassVar[bool] = False

    def __init__(self, component_id: ComponentID, config: KafkaExporterConfig) -> None:
        self.id = component_id
        self.config = config
        self.sender = QueuedSender(
            component_id, self._send, config.retry_on_failure, config.sending_queue
        )
        self._producer: AIOKafkaProducer | None = None
        self._connector: asyncio.Task[None] | None = None
        #: ``proto`` or ``json``, by signal
        self._encoding = {
            signal: "proto" if config.destination(signal).encoding == "otlp_proto" else "json"
            for signal in Signal
        }
        self.sent_messages = 0

    async def start(self, host: Host) -> None:
        await self.sender.start()
        if not await self._connect_once():
            log.warning(
                "Kafka unreachable at start; connecting in the background",
                component=str(self.id),
                brokers=self.config.brokers,
            )
            self._connector = asyncio.create_task(self._connect_loop())

    async def shutdown(self) -> None:
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
            self._connector = None
        await self.sender.shutdown()
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def consume(self, batch: Batch) -> None:
        if batch.records:
            await self.sender.export(batch)

    # -- connection -------------------------------------------------------------------------

    def _new_producer(self) -> AIOKafkaProducer:
        c = self.config
        timeout_ms = int(c.timeout.total_seconds() * 1000)
        return AIOKafkaProducer(
            **c.client_kwargs(),
            acks="all" if c.acks == "all" else int(c.acks),
            enable_idempotence=c.acks == "all",
            compression_type=None if c.compression == "none" else c.compression,
            max_request_size=c.max_message_bytes,
            request_timeout_ms=max(timeout_ms, 1000),
            max_batch_size=min(c.max_message_bytes, 1_048_576),
            linger_ms=0,
        )

    async def _connect_once(self) -> bool:
        producer = self._new_producer()
        try:
            async with asyncio.timeout(self.config.timeout.total_seconds()):
                await producer.start()
        except (KafkaError, OSError, TimeoutError) as exc:
            with contextlib.suppress(Exception):
                await producer.stop()
            log.debug("Kafka connection failed", component=str(self.id), error=str(exc))
            return False
        self._producer = producer
        log.info(
            "connected to Kafka",
            component=str(self.id),
            brokers=self.config.brokers,
            topics=[self.config.destination(signal).topic for signal in Signal],
        )
        return True

    async def _connect_loop(self) -> None:
        retry = self.config.retry_on_failure
        delay = retry.initial_interval.total_seconds()
        while not await self._connect_once():
            await asyncio.sleep(delay)
            delay = min(delay * 2, retry.max_interval.total_seconds())

    # -- sending ----------------------------------------------------------------------------

    async def _send(self, batch: Batch) -> None:
        producer = self._producer
        if producer is None:
            raise RetryableError("not connected to Kafka", component=str(self.id))
        messages, rejected = self.messages(batch)
        headers = [(TENANT_HEADER, batch.tenant.encode())]
        topic = self.config.destination(signal_of(batch)).topic
        try:
            async with asyncio.timeout(self.config.timeout.total_seconds()):
                futures = [
                    await producer.send(topic, value=value, key=key, headers=headers)
                    for key, value in messages
                ]
                results = await asyncio.gather(*futures, return_exceptions=True)
        except TimeoutError:
            raise RetryableError(
                "Kafka did not acknowledge in time", component=str(self.id)
            ) from None
        except MessageSizeTooLargeError as exc:
            raise PermanentError(
                f"Kafka refused a message as too large: {exc}", component=str(self.id)
            ) from None
        except KafkaError as exc:
            raise RetryableError(f"Kafka: {exc}", component=str(self.id)) from None
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise RetryableError(f"Kafka: {errors[0]}", component=str(self.id))
        self.sent_messages += len(messages)
        if rejected:
            raise PartialRejection(
                rejected,
                f"{rejected} record(s) larger than max_message_bytes "
                f"({self.config.max_message_bytes}) alone",
                component=str(self.id),
            )

    def messages(self, batch: Batch) -> tuple[list[tuple[bytes | None, bytes]], int]:
        """The (key, value) messages for a batch, and how many records fit in none."""
        limit = self.config.max_message_bytes - _MESSAGE_OVERHEAD
        signal = signal_of(batch)
        out: list[tuple[bytes | None, bytes]] = []
        if not isinstance(batch, LogBatch):
            return out, self._split(signal, batch.tenant, None, batch.records, limit, out)
        groups: dict[str | None, list[LogRecord]] = {}
        key_of = self._key
        for record in batch.records:
            key = key_of(record)
            group = groups.get(key)
            if group is None:
                groups[key] = [record]
            else:
                group.append(record)
        rejected = 0
        for key, records in groups.items():
            encoded = None if key is None else key.encode()
            rejected += self._split(signal, batch.tenant, encoded, records, limit, out)
        return out, rejected

    def _split(
        self,
        signal: Signal,
        tenant: str,
        key: bytes | None,
        records: list[Any],
        limit: int,
        out: list[tuple[bytes | None, bytes]],
    ) -> int:
        value = encode_batch(batch_of(signal, tenant, records), self._encoding[signal])
        if len(value) + (len(key) if key else 0) <= limit:
            out.append((key, value))
            return 0
        if len(records) == 1:
            return 1
        half = len(records) // 2
        return self._split(signal, tenant, key, records[:half], limit, out) + self._split(
            signal, tenant, key, records[half:], limit, out
        )

    def _key(self, record: LogRecord) -> str | None:
        for name in self.config.key_attributes:
            value: Any = record.attribute(name)
            if value is None:
                value = record.resource.attributes.get(name)
            if value is not None and value != "":
                return value if type(value) is str else str(value)
        return None
