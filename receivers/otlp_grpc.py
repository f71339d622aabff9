"""The OTLP/gRPC services of the ``otlp`` receiver (``LogsService/Export``,
``MetricsService/Export``, ``TraceService/Export``: those of the signals the receiver has
pipelines for), on grpcio's asyncio server.

The request arrives as bytes and is decoded by the same decoder as OTLP/HTTP protobuf, with
the same bounds; the same API keys come from the ``authorization`` metadata. Answers follow
the OTLP specification for gRPC: ``UNAUTHENTICATED`` for a missing or unknown key,
``PERMISSION_DENIED`` for a personal key or one without the role, ``INVALID_ARGUMENT`` for
what cannot be decoded or is refused for good, ``RESOURCE_EXHAUSTED`` (overloaded) and
``UNAVAILABLE`` (retry later) with a ``google.rpc.RetryInfo`` in the status details, and
``partial_success`` in the response when some records were refused. gzip (``grpc-encoding``)
and the message size limit are grpcio's.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import structlog
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from collector.auth import Authenticator, AuthError
from collector.component import Consumer
from collector.consumererror import (
    ConsumerError,
    DecodeError,
    OverloadError,
    PartialRejection,
    PermanentError,
    RetryableError,
)
from collector.pdata.records import RequestLimits
from collector.pdata.signals import DECODERS, batch_of
from collector.telemetry import metrics
from receivers.otlp_http import OFFLOAD_BYTES
from receivers.otlp_signals import SignalCodec

log = structlog.get_logger(__name__)
_AUTH_CODES = {401: grpc.StatusCode.UNAUTHENTICATED, 403: grpc.StatusCode.PERMISSION_DENIED}


class GrpcExport:
    """One signal's ``Export``: authenticate, decode, hand on, answer."""

    def __init__(
        self,
        codec: SignalCodec,
        *,
        component: str,
        authenticator: Authenticator | None,
        required_role: str,
        default_tenant: str,
        limits: RequestLimits,
        consumer: Consumer,
    ) -> None:
        self.component = component
        self.authenticator = authenticator
        self.required_role = required_role
        self.default_tenant = default_tenant
        self.limits = limits
        self.consumer = consumer
        self.codec = codec
        self._decode = DECODERS[(codec.signal, "proto")]

    def handler(self) -> grpc.GenericRpcHandler:
        """The service's handler; requests stay bytes (our decoder reads them), answers are
        serialized here."""
        method = grpc.unary_unary_rpc_method_handler(
            self.export,
            request_deserializer=_identity,
            response_serializer=_identity,
        )
        return grpc.method_handlers_generic_handler(self.codec.service, {"Export": method})

    async def export(self, data: bytes, context: grpc.aio.ServicerContext) -> bytes:
        tenant = await self._tenant(context)
        try:
            if len(data) > OFFLOAD_BYTES:  # keep the event loop serving while it decodes
                records = await asyncio.to_thread(self._decode, data, self.limits)
            else:
                records = self._decode(data, self.limits)
        except DecodeError as exc:  # TooMuchInRequest names its setting
            setting = getattr(exc, "setting", "")
            message = f"{exc.message} ({setting})" if setting else exc.message
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, message)
        if not records:
            return self.codec.response_bytes()
        signal = self.codec.signal
        accepted = metrics.of_signal(metrics.receiver_accepted, signal).labels(
            self.component, "grpc"
        )
        refused = metrics.of_signal(metrics.receiver_refused, signal).labels(self.component, "grpc")
        try:
            await self.consumer.consume(batch_of(signal, tenant, records))
        except PartialRejection as exc:
            accepted.inc(len(records) - exc.rejected)
            refused.inc(exc.rejected)
            return self.codec.response_bytes(exc.rejected, exc.message)
        except PermanentError as exc:
            refused.inc(len(records))
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, exc.message)
        except RetryableError as exc:
            refused.inc(len(records))
            overloaded = isinstance(exc, OverloadError)
            log.warning(
                "pipeline refused a batch, asked the client to retry",
                component=self.component,
                code="RESOURCE_EXHAUSTED" if overloaded else "UNAVAILABLE",
                error=str(exc),
            )
            await _abort_retry(context, overloaded, exc.message, exc.retry_after)
        except ConsumerError as exc:  # pragma: no cover - every kind is handled above
            refused.inc(len(records))
            await _abort_retry(context, False, exc.message, 1.0)
        except Exception:
            refused.inc(len(records))
            log.exception("pipeline failed on a batch", component=self.component)
            await context.abort(
                grpc.StatusCode.INTERNAL, "internal error while processing the request"
            )
        accepted.inc(len(records))
        return self.codec.response_bytes()

    async def _tenant(self, context: grpc.aio.ServicerContext) -> str:
        if self.authenticator is None:
            return self.default_tenant
        values = [v for k, v in context.invocation_metadata() or () if k == "authorization"]
        try:
            if len(values) > 1:
                raise AuthError(400, "more than one authorization entry", cause="duplicate")
            header = values[0] if values else None
            if isinstance(header, bytes):  # pragma: no cover - only -bin keys are bytes
                header = header.decode("latin-1")
            principal = self.authenticator.authenticate(header, self.required_role)
        except AuthError as exc:
            metrics.auth_failures.labels(self.component, exc.cause).inc()
            code = _AUTH_CODES.get(exc.status, grpc.StatusCode.INVALID_ARGUMENT)
            await context.abort(code, exc.reason)
        return principal.org


async def _abort_retry(
    context: grpc.aio.ServicerContext, overloaded: bool, message: str, retry_after: float | None
) -> None:
    """Abort with ``RESOURCE_EXHAUSTED`` or ``UNAVAILABLE`` and a ``RetryInfo`` detail (in
    ``grpc-status-details-bin``, as ``google.rpc.Status``), which OTLP clients honour."""
    code = grpc.StatusCode.RESOURCE_EXHAUSTED if overloaded else grpc.StatusCode.UNAVAILABLE
    delay = duration_pb2.Duration()
    delay.FromNanoseconds(int((retry_after or 1.0) * 1e9))
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    status = status_pb2.Status(
        code=code_pb2.RESOURCE_EXHAUSTED if overloaded else code_pb2.UNAVAILABLE,
        message=message,
        details=[detail],
    )
    await context.abort(
        code, message, trailing_metadata=(("grpc-status-details-bin", status.SerializeToString()),)
    )


def _identity(value: Any) -> Any:
    return value
