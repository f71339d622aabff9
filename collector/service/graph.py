"""The pipeline graph: components built from config and wired receiver -> processors ->
exporters, started backwards (exporters first) and shut down forwards (receivers first), so
every stage drains into a stage that is still running.

One receiver instance serves every pipeline that lists it (fan-out to each pipeline's
head); each pipeline gets its own processor instances; one exporter instance serves every
pipeline that lists it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, ClassVar

import structlog

from collector.component import Component, ComponentID, Consumer, Host, Kind
from collector.component.registry import Registry
from collector.consumererror import (
    ConsumerError,
    OverloadError,
    PartialRejection,
    PermanentError,
    RetryableError,
)
from collector.pdata.signals import Batch, Signal, signal_of
from collector.service.config import Config

log = structlog.get_logger(__name__)


class FanOut:
    """Hands each batch to several consumers at once; succeeds only if all of them do.

    Consumers that change data get their own copy. Errors of all branches are gathered into
    one: retryable if any branch may be retried, else a partial rejection if every branch
    rejected only part, else permanent.
    """

    mutates_data: ClassVar[bool] = False

    def __init__(self, consumers: Sequence[Consumer]) -> None:
        if not consumers:
            raise ValueError("a fan-out needs at least one consumer")
        self.consumers = list(consumers)

    async def consume(self, batch: Batch) -> None:
        if len(self.consumers) == 1:
            await self.consumers[0].consume(batch)
            return
        results = await asyncio.gather(
            *(c.consume(batch.copy() if c.mutates_data else batch) for c in self.consumers),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise merge_errors(errors)


class SignalRouter:
    """What a receiver is handed: each batch goes to the pipelines of its signal.

    ``signals`` are those the receiver is in a pipeline of; a receiver serves only those
    (the otlp receiver answers 404 on the paths of the others, as the OpenTelemetry
    Collector's does)."""

    mutates_data: ClassVar[bool] = False

    def __init__(self, routes: dict[Signal, Consumer]) -> None:
        self.routes = routes
        self.signals = frozenset(routes)

    async def consume(self, batch: Batch) -> None:
        consumer = self.routes.get(signal_of(batch))
        if consumer is None:
            raise PermanentError(f"no {signal_of(batch)} pipeline takes this receiver's data")
        await consumer.consume(batch)


def merge_errors(errors: list[BaseException]) -> BaseException:
    """One error standing for all branch errors (see :class:`FanOut`)."""
    for err in errors:
        if not isinstance(err, ConsumerError):
            return err
    consumer_errors = [e for e in errors if isinstance(e, ConsumerError)]
    if len(consumer_errors) == 1:
        return consumer_errors[0]
    message = "; ".join(str(e) for e in consumer_errors)
    retryable = [e for e in consumer_errors if isinstance(e, RetryableError)]
    if retryable:
        cls = (
            OverloadError
            if all(isinstance(e, OverloadError) for e in retryable)
            else (RetryableError)
        )
        return cls(message, retry_after=max(e.retry_after for e in retryable))
    partial = [e for e in consumer_errors if isinstance(e, PartialRejection)]
    if len(partial) == len(consumer_errors):
        # one branch refused records: they are objects of the batch every branch shares
        records = partial[0].records if len(partial) == 1 else None
        return PartialRejection(max(e.rejected for e in partial), message, records=records)
    return PermanentError(message)


#: the longest one component may take to shut down before it is cancelled
COMPONENT_SHUTDOWN_TIMEOUT = 10.0


class Graph:
    """Every component of every pipeline, built and wired, ready to start."""

    def __init__(self, config: Config, registry: Registry) -> None:
        self.shutdown_timeout = COMPONENT_SHUTDOWN_TIMEOUT
        self.exporters: dict[ComponentID, Any] = {}
        self.processors: list[tuple[str, ComponentID, Any]] = []  # in pipeline order
        self.receivers: dict[ComponentID, Any] = {}
        self._started: list[Component] = []

        heads: dict[str, Consumer] = {}
        for name, pipeline in config.service.pipelines.items():
            exporters = []
            for eid in pipeline.exporters:
                if eid not in self.exporters:
                    factory = registry.get(Kind.EXPORTER, eid.type)
                    assert factory is not None
                    self.exporters[eid] = factory.create(eid, config.component(Kind.EXPORTER, eid))
                exporters.append(self.exporters[eid])
            consumer: Consumer = FanOut(exporters) if len(exporters) > 1 else exporters[0]
            chain = []
            for pid in reversed(pipeline.processors):
                factory = registry.get(Kind.PROCESSOR, pid.type)
                assert factory is not None
                consumer = factory.create(pid, config.component(Kind.PROCESSOR, pid), consumer)
                chain.append((name, pid, consumer))
            self.processors.extend(reversed(chain))
            heads[name] = consumer

        for pipeline in config.service.pipelines.values():
            for rid in pipeline.receivers:
                if rid in self.receivers:
                    continue
                routes: dict[Signal, list[Consumer]] = {}
                for n, p in config.service.pipelines.items():
                    if rid in p.receivers:
                        routes.setdefault(Signal(ComponentID.parse(n).type), []).append(heads[n])
                factory = registry.get(Kind.RECEIVER, rid.type)
                assert factory is not None
                next_consumer = SignalRouter(
                    {s: t[0] if len(t) == 1 else FanOut(t) for s, t in routes.items()}
                )
                self.receivers[rid] = factory.create(
                    rid, config.component(Kind.RECEIVER, rid), next_consumer
                )

    def _start_order(self) -> list[tuple[str, Component]]:
        order: list[tuple[str, Component]] = [
            (f"exporter {eid}", e) for eid, e in self.exporters.items()
        ]
        order += [
            (f"processor {pid} in pipeline {p}", c) for p, pid, c in reversed(self.processors)
        ]
        order += [(f"receiver {rid}", r) for rid, r in self.receivers.items()]
        return order

    async def start(self, host: Host) -> None:
        """Start exporters, then processors, then receivers; undo on the first failure."""
        for label, component in self._start_order():
            log.debug("starting", component=label)
            try:
                await component.start(host)
            except Exception as exc:
                await self.shutdown()
                raise RuntimeError(f"cannot start {label}: {exc}") from exc
            self._started.append(component)

    async def shutdown(self) -> list[BaseException]:
        """Shut down what started, receivers first; returns every error met on the way.

        Each component gets ``shutdown_timeout``; one that takes longer (a batch processor
        waiting on an exporter that retries forever) is cancelled, and the stages after it
        shut down anyway, so a SIGTERM always ends. What was cancelled had not been
        acknowledged to any client, which sends it again."""
        errors: list[BaseException] = []
        started, self._started = self._started, []
        for component in reversed(started):
            try:
                async with asyncio.timeout(self.shutdown_timeout):
                    await component.shutdown()
            except TimeoutError:
                log.warning("shutdown took too long; cancelled", component=repr(component),
                            timeout=self.shutdown_timeout)  # fmt: skip
            except Exception as exc:
                log.error("shutdown failed", error=str(exc))
                errors.append(exc)
        return errors
