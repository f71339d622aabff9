"""``kafka`` receiver: consumes OTLP messages from Kafka topics into the pipeline.

Logs come from ``topics`` (default ``otlp_logs``), metrics from ``metrics.topics`` (default
``otlp_metrics``) and traces from ``traces.topics`` (default ``otlp_spans``), the OpenTelemetry
Collector's default topics, each in its ``encoding``; a signal's topics are read only when the
receiver is in a pipeline of that signal.

Delivery is at-least-once. Messages of a partition are handed to the pipeline in order, and
an offset is committed only after every exporter has accepted that message and all before
it. When the pipeline fails with a retryable error, the partition is paused and the same
messages are retried with backoff, never skipped and never committed past. A message that
cannot be decoded, or that the pipeline refuses for good, goes to the dead-letter topic
with the error in its ``error`` header, so it neither blocks the partition nor disappears.
When the pipeline refuses only some records of a run (a ``PartialRejection`` that carries
them), those records alone go to the dead-letter topic, as one OTLP message with the run's
``tenant`` header, and the rest count as stored.
A rebalance loses nothing: processing happens in the task that polls, so when partitions
are revoked everything done has already been committed and nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from datetime import timedelta
from typing import Any, Literal

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError
from pydantic import Field, model_validator

from collector.component import (
    ALL_SIGNALS,
    ComponentConfig,
    ComponentID,
    Consumer,
    Factory,
    Host,
    Kind,
    consumer_signals,
)
from collector.confmap.units import Duration
from collector.consumererror import DecodeError, PartialRejection, PermanentError, RetryableError
from collector.exporterhelper import RetrySettings
from collector.kafka.client import TENANT_HEADER, KafkaClientSettings
from collector.pdata import signals as otlp_signals
from collector.pdata.signals import Batch, Signal, batch_of, encode_batch, signal_of
from collector.telemetry import metrics

TYPE = "kafka"
log = structlog.get_logger(__name__)


Encoding = Literal["otlp_proto", "otlp_json"]


class SignalTopics(ComponentConfig):
    """Where metrics or traces are read from."""

    topics: list[str] = Field(min_length=1)
    encoding: Encoding = "otlp_proto"


def _topics(default: str) -> Any:
    return Field(default_factory=lambda: SignalTopics(topics=[default]))


class KafkaReceiverConfig(KafkaClientSettings):
    topics: list[str] = Field(default=["otlp_logs"], min_length=1)
    group_id: str = Field("session-collector", min_length=1)
    initial_offset: Literal["earliest", "latest"] = "latest"
    encoding: Encoding = "otlp_proto"
    metrics: SignalTopics = _topics("otlp_metrics")
    traces: SignalTopics = _topics("otlp_spans")

    @model_validator(mode="after")
    def _topic_of_one_signal(self) -> KafkaReceiverConfig:
        for signal, topics in (("metrics", self.metrics.topics), ("traces", self.traces.topics)):
            both = set(topics) & set(self.topics)
            if both:
                raise ValueError(f"topic {sorted(both)[0]!r} is in both topics and {signal}")
        if set(self.metrics.topics) & set(self.traces.topics):
            raise ValueError("metrics and traces share a topic")
        return self

    #: where undecodable or permanently refused messages go; "" drops them with an error log
    dead_letter_topic: str = "otlp_logs_dlq"
    #: the tenant of messages without a ``tenant`` header
    default_tenant: str = Field("default", min_length=1)
    #: the most records handed to the pipeline at once
    max_batch_records: int = Field(8192, gt=0)
    poll_timeout: Duration = timedelta(milliseconds=500)
    #: on shutdown, how long the messages in hand may take to be stored before they are left
    #: uncommitted (they are then delivered again, to whoever consumes the partition next)
    shutdown_timeout: Duration = timedelta(seconds=10)
    retry_on_failure: RetrySettings = Field(
        default_factory=lambda: RetrySettings(max_elapsed_time=timedelta(0))
    )


def create(
    component_id: ComponentID, config: KafkaReceiverConfig, next_consumer: Consumer
) -> KafkaReceiver:
    return KafkaReceiver(component_id, config, next_consumer)


FACTORY = Factory(
    Kind.RECEIVER,
    TYPE,
    KafkaReceiverConfig,
    create,
    "consumes OTLP logs, metrics and traces from Kafka, committing offsets only after they "
    "are stored",
    ALL_SIGNALS,
)


class _Listener(ConsumerRebalanceListener):
    def __init__(self, component: str) -> None:
        self.component = component

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        log.info("partitions revoked", component=self.component, partitions=len(revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info(
            "partitions assigned",
            component=self.component,
            partitions=sorted(f"{tp.topic}:{tp.partition}" for tp in assigned),
        )


class KafkaReceiver:
    def __init__(
        self, component_id: ComponentID, config: KafkaReceiverConfig, next_consumer: Consumer
    ) -> None:
        self.id = component_id
        self.config = config
        self.next_consumer = next_consumer
        self._consumer: AIOKafkaConsumer | None = None
        self._dlq: AIOKafkaProducer | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        #: each topic read, with its signal and decoder
        self._topics: dict[str, tuple[Signal, Any]] = {}
        served = consumer_signals(next_consumer)
        for signal, topics, encoding in (
            (Signal.LOGS, config.topics, config.encoding),
            (Signal.METRICS, config.metrics.topics, config.metrics.encoding),
            (Signal.TRACES, config.traces.topics, config.traces.encoding),
        ):
            if signal in served:
                decode = otlp_signals.DECODERS[(signal, encoding.removeprefix("otlp_"))]
                self._topics.update((t, (signal, decode)) for t in topics)
        self.committed: dict[TopicPartition, int] = {}
        self.dead_lettered = 0
        #: since when (monotonic) consuming or delivering has been failing, for health checks
        self.failing_since: float | None = None
        name = str(component_id)
        self._accepted_by = {
            s: metrics.of_signal(metrics.receiver_accepted, s).labels(name, "kafka") for s in Signal
        }
        self._refused_by = {
            s: metrics.of_signal(metrics.receiver_refused, s).labels(name, "kafka") for s in Signal
        }
        self._dead = metrics.kafka_dead_lettered.labels(name)

    async def start(self, host: Host) -> None:
        self._task = asyncio.create_task(self._run(), name=f"{self.id}-consume")

    async def shutdown(self) -> None:
        """Finish the messages in hand, commit them, and leave the group, within
        ``shutdown_timeout``; past it, what is in hand stays uncommitted."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            async with asyncio.timeout(self.config.shutdown_timeout.total_seconds()):
                await asyncio.shield(task)
        except TimeoutError:
            log.warning(
                "messages in hand not stored at shutdown_timeout; they stay "
                "uncommitted and will be delivered again",
                component=str(self.id),
            )
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self._close()

    async def _run(self) -> None:
        retry = self.config.retry_on_failure
        delay = retry.initial_interval.total_seconds()
        while not self._stopping.is_set():
            try:
                await self._connect()
                delay = retry.initial_interval.total_seconds()
                await self._consume_loop()
            except (KafkaError, OSError) as exc:
                if self.failing_since is None:
                    self.failing_since = time.monotonic()
                log.warning(
                    "Kafka consumer failed; reconnecting",
                    component=str(self.id),
                    error=str(exc)[:300],
                    retry_in=round(delay, 2),
                )
                await self._close()
                await self._sleep(delay)
                delay = min(delay * 2, retry.max_interval.total_seconds())
            except Exception:
                log.exception("Kafka receiver failed; restarting it", component=str(self.id))
                await self._close()
                await self._sleep(delay)
        await self._close()

    async def _connect(self) -> None:
        c = self.config
        consumer = AIOKafkaConsumer(
            **c.client_kwargs(),
            group_id=c.group_id,
            auto_offset_reset=c.initial_offset,
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        consumer.subscribe(topics=list(self._topics), listener=_Listener(str(self.id)))
        try:
            await consumer.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await consumer.stop()
            raise
        self._consumer = consumer
        if c.dead_letter_topic:
            dlq = AIOKafkaProducer(**c.client_kwargs(), acks="all", enable_idempotence=True)
            await dlq.start()
            self._dlq = dlq
        log.info("consuming", component=str(self.id), topics=list(self._topics),
                 group_id=c.group_id)  # fmt: skip

    async def _close(self) -> None:
        consumer, self._consumer = self._consumer, None
        dlq, self._dlq = self._dlq, None
        for client in (consumer, dlq):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.stop()

    async def _consume_loop(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        timeout_ms = int(self.config.poll_timeout.total_seconds() * 1000)
        while not self._stopping.is_set():
            polled = await consumer.getmany(timeout_ms=timeout_ms, max_records=10_000)
            for tp, messages in polled.items():
                if self._stopping.is_set():
                    return  # uncommitted messages are redelivered to whoever comes next
                await self._partition(consumer, tp, messages)

    async def _partition(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, messages: list[ConsumerRecord]
    ) -> None:
        """Hand a partition's messages to the pipeline in order, committing as they land:
        runs of one tenant's decodable messages, each bad message dead-lettered in place."""
        signal, decode = self._topics[tp.topic]
        i, n = 0, len(messages)
        while i < n:
            tenant = _tenant(messages[i]) or self.config.default_tenant
            records: list[Any] = []
            bad: DecodeError | None = None
            j = i
            while j < n and len(records) < self.config.max_batch_records:
                if (_tenant(messages[j]) or self.config.default_tenant) != tenant:
                    break
                try:
                    records.extend(decode(messages[j].value or b"", None))
                except DecodeError as exc:
                    bad = exc
                    break
                j += 1
            if j > i:
                run = messages[i:j]
                if not await self._deliver(consumer, tp, batch_of(signal, tenant, records), run):
                    return
                await self._commit(consumer, tp, run[-1].offset + 1)
            if bad is not None:
                await self._dead_letter(messages[j], f"undecodable: {bad.message}")
                await self._commit(consumer, tp, messages[j].offset + 1)
                j += 1
            i = j

    async def _deliver(
        self,
        consumer: AIOKafkaConsumer,
        tp: TopicPartition,
        batch: Batch,
        messages: list[ConsumerRecord],
    ) -> bool:
        """Consume with retries; ``False`` if stopping before it succeeded (nothing committed)."""
        retry = self.config.retry_on_failure
        delay = retry.initial_interval.total_seconds()
        paused = False
        accepted, refused = self._accepted_by[signal_of(batch)], self._refused_by[signal_of(batch)]
        try:
            while True:
                try:
                    await self.next_consumer.consume(batch)
                    accepted.inc(len(batch.records))
                    self.failing_since = None
                    return True
                except PartialRejection as exc:
                    accepted.inc(len(batch.records) - exc.rejected)
                    refused.inc(exc.rejected)
                    if exc.records:
                        rest = batch_of(signal_of(batch), batch.tenant, exc.records)
                        await self._dead_letter_records(rest, messages, exc)
                    else:
                        log.warning(
                            "pipeline refused some records for good",
                            component=str(self.id),
                            rejected=exc.rejected,
                            error=str(exc),
                        )
                    return True
                except PermanentError as exc:
                    refused.inc(len(batch.records))
                    for message in messages:
                        await self._dead_letter(message, f"refused: {exc}")
                    return True
                except RetryableError as exc:
                    if self.failing_since is None:
                        self.failing_since = time.monotonic()
                    if not paused:
                        consumer.pause(tp)
                        paused = True
                    log.warning(
                        "pipeline unavailable; retrying the same messages",
                        component=str(self.id),
                        partition=f"{tp.topic}:{tp.partition}",
                        offset=messages[0].offset,
                        error=str(exc)[:200],
                        retry_in=round(delay, 2),
                    )
                    if await self._sleep(delay * random.uniform(0.8, 1.2)):
                        return False
                    delay = min(delay * 2, retry.max_interval.total_seconds())
        finally:
            if paused:
                with contextlib.suppress(Exception):  # a closed consumer resumes nothing
                    consumer.resume(tp)

    async def _commit(self, consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> None:
        await consumer.commit({tp: offset})
        self.committed[tp] = offset
        highwater = consumer.highwater(tp)
        if highwater is not None:
            metrics.kafka_consumer_lag.labels(str(self.id), tp.topic, str(tp.partition)).set(
                max(0, highwater - offset)
            )

    async def _dead_letter(self, message: ConsumerRecord, error: str) -> None:
        self.dead_lettered += 1
        self._dead.inc()
        log.error(
            "message sent to the dead-letter topic",
            component=str(self.id),
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            error=error[:300],
        )
        if self._dlq is None:
            return
        headers = [
            *(message.headers or ()),
            ("error", error.encode()[:4096]),
            ("source", f"{message.topic}:{message.partition}:{message.offset}".encode()),
        ]
        await self._dlq.send_and_wait(
            self.config.dead_letter_topic, value=message.value, key=message.key, headers=headers
        )

    async def _dead_letter_records(
        self,
        refused: Batch,
        messages: list[ConsumerRecord],
        error: PartialRejection,
    ) -> None:
        """The records the pipeline refused, as one message on the dead-letter topic."""
        first, last = messages[0], messages[-1]
        source = f"{first.topic}:{first.partition}:{first.offset}-{last.offset}"
        self.dead_lettered += 1
        self._dead.inc()
        log.error(
            "refused records sent to the dead-letter topic",
            component=str(self.id),
            source=source,
            records=len(refused),
            error=str(error)[:300],
        )
        if self._dlq is None:
            return
        headers = [
            (TENANT_HEADER, refused.tenant.encode()),
            ("error", f"refused: {error}".encode()[:4096]),
            ("source", source.encode()),
        ]
        value = encode_batch(refused)
        await self._dlq.send_and_wait(self.config.dead_letter_topic, value=value, headers=headers)

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopping; ``True`` if stopping."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
        return self._stopping.is_set()


def _tenant(message: ConsumerRecord) -> str | None:
    for name, value in message.headers or ():
        if name == TENANT_HEADER:
            return bytes(value).decode("utf-8", "replace")
    return None
