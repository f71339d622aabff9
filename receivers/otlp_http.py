"""The OTLP/HTTP handler of all three signals: authentication, content negotiation, bounded
reading and decompression, decoding, and the OTLP answers (``Export*ServiceResponse`` on
success, ``google.rpc.Status`` on failure, both in the request's encoding).

Order of checks, all before the body is read: shutting down (503), too many requests in
flight (429), authentication (401/403), media type (415),
content encoding (400), declared length (413). Then the body is read and decompressed
within ``max_request_body_size`` (413), decoded (400) and handed to the pipeline, whose
errors map to ``partial_success`` (200), 400, 429 or 503 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import cramjam
import orjson
import structlog
import zstandard
from aiohttp import web
from aiohttp.typedefs import Middleware
from google.rpc import code_pb2, status_pb2

from collector.auth import Authenticator, AuthError, authorization
from collector.component import Consumer
from collector.consumererror import (
    ConsumerError,
    DecodeError,
    OverloadError,
    PartialRejection,
    PermanentError,
    RetryableError,
    TooMuchInRequest,
)
from collector.pdata.records import RequestLimits
from collector.pdata.signals import DECODERS, Signal, batch_of
from collector.telemetry import metrics
from receivers.otlp_signals import CODECS, SignalCodec

log = structlog.get_logger(__name__)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
#: the encoding of each media type
_DECODERS: dict[str, str] = {PROTOBUF: "proto", JSON: "json"}
#: what the OpenTelemetry Collector's HTTP servers accept: snappy is the block format,
#: x-snappy-framed the framing format, lz4 the frame format
_ENCODINGS = frozenset(
    {"", "identity", "gzip", "x-gzip", "deflate", "zlib", "zstd", "snappy", "x-snappy-framed",
     "lz4"}
)  # fmt: skip
OFFLOAD_BYTES = 256 * 1024  # decompress and decode bodies larger than this in a worker thread
#: encodings that decompress into a buffer as large as the limit: always in a worker thread
_BUFFERED = frozenset({"x-snappy-framed", "lz4"})
_GRPC_CODE = {
    400: code_pb2.INVALID_ARGUMENT,
    401: code_pb2.UNAUTHENTICATED,
    403: code_pb2.PERMISSION_DENIED,
    404: code_pb2.NOT_FOUND,
    405: code_pb2.UNIMPLEMENTED,
    408: code_pb2.DEADLINE_EXCEEDED,
    413: code_pb2.RESOURCE_EXHAUSTED,
    415: code_pb2.INVALID_ARGUMENT,
    429: code_pb2.RESOURCE_EXHAUSTED,
    500: code_pb2.INTERNAL,
    503: code_pb2.UNAVAILABLE,
}


class BodyTooLarge(Exception):
    pass


@dataclass(frozen=True)
class HandlerSettings:
    component: str
    max_body: int
    read_timeout: float
    required_role: str
    default_tenant: str
    max_concurrent_requests: int
    limits: RequestLimits


class OtlpHandler:
    """Serves ``POST`` on every configured path of every signal served (:meth:`route`)."""

    def __init__(
        self,
        settings: HandlerSettings,
        authenticator: Authenticator | None,
        consumer: Consumer,
    ) -> None:
        self.settings = settings
        self.authenticator = authenticator
        self.consumer = consumer
        self.draining = False
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def drain(self) -> None:
        """Refuse new requests and wait until those in flight have been answered."""
        self.draining = True
        await self._idle.wait()

    def route(self, signal: Signal) -> Handler:
        """The request handler of one signal's paths."""
        codec = CODECS[signal]

        async def handle(request: web.Request) -> web.StreamResponse:
            return await self.handle(request, codec)

        return handle

    async def handle(
        self, request: web.Request, codec: SignalCodec = CODECS[Signal.LOGS]
    ) -> web.StreamResponse:
        if self.draining:
            reply = _media_type(request.headers.get("Content-Type", ""))
            return _status(
                503,
                "the collector is shutting down",
                reply if reply in _DECODERS else JSON,
                retry_after=1.0,
                close=True,
            )
        if self._in_flight >= self.settings.max_concurrent_requests:
            reply = _media_type(request.headers.get("Content-Type", ""))
            return _status(
                429,
                "too many concurrent requests",
                reply if reply in _DECODERS else JSON,
                retry_after=1.0,
                close=True,
            )
        self._in_flight += 1
        self._idle.clear()
        try:
            return await self._handle(request, codec)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def _handle(self, request: web.Request, codec: SignalCodec) -> web.StreamResponse:
        media = _media_type(request.headers.get("Content-Type", ""))
        reply = media if media in _DECODERS else JSON

        tenant = self.settings.default_tenant
        if self.authenticator is not None:
            try:
                principal = self.authenticator.authenticate(
                    authorization(request.headers), self.settings.required_role
                )
            except AuthError as exc:
                metrics.auth_failures.labels(self.settings.component, exc.cause).inc()
                log.info(
                    "request refused",
                    component=self.settings.component,
                    status=exc.status,
                    cause=exc.cause,
                    remote=request.remote,
                )
                return _status(exc.status, exc.reason, reply, close=True)
            tenant = principal.org

        if media not in _DECODERS:
            return _status(
                415,
                f"unsupported Content-Type {media or '(none)'!r}: use {PROTOBUF} or {JSON}",
                JSON,
                close=True,
            )
        encoding = request.headers.get("Content-Encoding", "").strip().lower()
        if encoding not in _ENCODINGS:
            return _status(
                400,
                f"unsupported Content-Encoding {encoding!r}: use gzip, deflate, zlib, zstd, "
                "snappy, x-snappy-framed, lz4 or none",
                reply,
                close=True,
            )
        limit = self.settings.max_body
        if request.content_length is not None and request.content_length > limit:
            return _too_large(limit, reply)

        try:
            async with asyncio.timeout(self.settings.read_timeout):
                raw = await _read_body(request, limit)
        except BodyTooLarge:
            return _too_large(limit, reply)
        except TimeoutError:
            return _status(408, "timed out reading the request body", reply, close=True)
        try:
            if encoding in ("", "identity"):
                body = raw
            elif len(raw) > OFFLOAD_BYTES or encoding in _BUFFERED:
                body = await asyncio.to_thread(decompress, raw, encoding, limit)
            else:
                body = decompress(raw, encoding, limit)
            decode = DECODERS[(codec.signal, _DECODERS[media])]
            limits = self.settings.limits
            if len(body) > OFFLOAD_BYTES:  # keep the event loop serving while it decodes
                records = await asyncio.to_thread(decode, body, limits)
            else:
                records = decode(body, limits)
        except BodyTooLarge:
            return _too_large(limit, reply)
        except TooMuchInRequest as exc:
            return _status(413, f"{exc.message} ({exc.setting})", reply, close=True)
        except DecodeError as exc:
            return _status(400, exc.message, reply)

        if records:
            component = self.settings.component
            accepted = metrics.of_signal(metrics.receiver_accepted, codec.signal).labels(
                component, "http"
            )
            refused = metrics.of_signal(metrics.receiver_refused, codec.signal).labels(
                component, "http"
            )
            try:
                await self.consumer.consume(batch_of(codec.signal, tenant, records))
            except PartialRejection as exc:
                accepted.inc(len(records) - exc.rejected)
                refused.inc(exc.rejected)
                return _success(reply, codec, exc.rejected, exc.message)
            except PermanentError as exc:
                refused.inc(len(records))
                return _status(400, exc.message, reply)
            except RetryableError as exc:
                refused.inc(len(records))
                status = 429 if isinstance(exc, OverloadError) else 503
                log.warning(
                    "pipeline refused a batch, asked the client to retry",
                    component=self.settings.component,
                    status=status,
                    error=str(exc),
                )
                return _status(status, exc.message, reply, retry_after=exc.retry_after)
            except ConsumerError as exc:  # pragma: no cover - every kind is handled above
                refused.inc(len(records))
                return _status(503, exc.message, reply, retry_after=1.0)
            except Exception:
                refused.inc(len(records))
                log.exception("pipeline failed on a batch", component=self.settings.component)
                return _status(500, "internal error while processing the request", reply)
            accepted.inc(len(records))
        return _success(reply, codec, 0, "")


async def _read_body(request: web.Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    content = request.content
    while True:
        chunk = await content.readany()
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def decompress(data: bytes, encoding: str, limit: int) -> bytes:
    """Decompress ``data``; :class:`BodyTooLarge` once the output passes ``limit`` bytes."""
    if encoding == "zstd":
        try:
            reader = zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True)
            out = reader.read(limit + 1)
        except zstandard.ZstdError as exc:
            raise DecodeError(f"invalid zstd body: {exc}") from None
        if len(out) > limit:
            raise BodyTooLarge
        return out
    if encoding in ("gzip", "x-gzip"):
        return _inflate(data, 16 + zlib.MAX_WBITS, limit, "gzip")
    if encoding == "zlib":
        return _inflate(data, zlib.MAX_WBITS, limit, "zlib")
    if encoding == "snappy":
        try:
            size = cramjam.snappy.decompress_raw_len(data)  # the block declares its size
        except cramjam.DecompressionError as exc:
            raise DecodeError(f"invalid snappy body: {exc}") from None
        if size > limit:
            raise BodyTooLarge
        try:
            return bytes(cramjam.snappy.decompress_raw(data))
        except cramjam.DecompressionError as exc:
            raise DecodeError(f"invalid snappy body: {exc}") from None
    if encoding in ("x-snappy-framed", "lz4"):
        return _into_bounded(data, encoding, limit)
    try:
        return _inflate(data, zlib.MAX_WBITS, limit, "deflate")
    except DecodeError:
        return _inflate(data, -zlib.MAX_WBITS, limit, "deflate")  # raw deflate, no zlib header


def _into_bounded(data: bytes, encoding: str, limit: int) -> bytes:
    """Decompress a snappy-framed or lz4-frame body into a buffer one byte larger than
    ``limit``: decompression stops where the buffer ends, so a bomb costs that much memory
    and no more. Filling the buffer, or failing, is refused: both encodings only tell a
    truncated output from a corrupt input by the error's text, so the answer is one 400
    that names both causes (the OpenTelemetry Collector also answers 400)."""
    codec = cramjam.snappy if encoding == "x-snappy-framed" else cramjam.lz4
    buffer = bytearray(limit + 1)
    try:
        size = codec.decompress_into(data, buffer)
    except cramjam.DecompressionError:
        raise DecodeError(
            f"invalid {encoding} body, or larger than max_request_body_size ({limit} bytes) "
            "once decompressed"
        ) from None
    if size > limit:
        raise BodyTooLarge
    return bytes(memoryview(buffer)[:size])


def _inflate(data: bytes, wbits: int, limit: int, name: str) -> bytes:
    """Inflate ``data`` (gzip may hold several members). Input goes to zlib in slices that
    start small and double within a member, so the unused tail zlib copies when a member ends
    is never longer than about that member: linear in the body, however many members."""
    view = memoryview(data)
    parts: list[bytes] = []
    size = pos = 0
    while pos < len(view):
        d = zlib.decompressobj(wbits)
        step = 256
        while not d.eof:
            if pos >= len(view):
                raise DecodeError(f"invalid {name} body: truncated")
            chunk = view[pos : pos + step]
            pos += len(chunk)
            step = min(step * 2, 1 << 20)
            try:
                part = d.decompress(chunk, limit + 1 - size)
            except zlib.error as exc:
                raise DecodeError(f"invalid {name} body: {exc}") from None
            size += len(part)
            if size > limit or d.unconsumed_tail:
                raise BodyTooLarge
            parts.append(part)
        pos -= len(d.unused_data)
        if wbits < 16:  # zlib or raw deflate: one stream, anything after it is ignored
            break
    return b"".join(parts)


def _media_type(header: str) -> str:
    return header.partition(";")[0].strip().lower()


def _too_large(limit: int, reply: str) -> web.Response:
    return _status(
        413, f"request body larger than max_request_body_size ({limit} bytes)", reply, close=True
    )


def _success(reply: str, codec: SignalCodec, rejected: int, message: str) -> web.Response:
    if reply == PROTOBUF:
        body = codec.response_bytes(rejected, message)
        return web.Response(status=200, body=body, content_type=PROTOBUF)
    doc: dict[str, object] = {}
    if rejected or message:
        doc["partialSuccess"] = {codec.json_rejected: str(rejected), "errorMessage": message}
    return web.Response(status=200, body=orjson.dumps(doc), content_type=JSON)


def _status(
    status: int,
    message: str,
    reply: str,
    *,
    retry_after: float | None = None,
    close: bool = False,
) -> web.Response:
    code = _GRPC_CODE.get(status, code_pb2.UNKNOWN)
    if reply == PROTOBUF:
        body = status_pb2.Status(code=code, message=message).SerializeToString()
    else:
        body = orjson.dumps({"code": code, "message": message})
    resp = web.Response(status=status, body=body, content_type=reply)
    if retry_after is not None:
        resp.headers["Retry-After"] = str(max(1, round(retry_after)))
    if close:
        resp.force_close()
    return resp


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def status_middleware(component: str) -> Middleware:
    """Answer unknown paths (404) and methods (405) with a ``google.rpc.Status`` too, and
    count every answer by path and status."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            resp = await handler(request)
        except web.HTTPException as exc:
            if exc.status not in (404, 405):
                raise
            resp = _status(exc.status, exc.reason, JSON)
            if "Allow" in exc.headers:
                resp.headers["Allow"] = exc.headers["Allow"]
        resource = request.match_info.route.resource
        path = resource.canonical if resource is not None else "unmatched"
        metrics.http_requests.labels(component, path, str(resp.status)).inc()
        return resp

    return middleware
