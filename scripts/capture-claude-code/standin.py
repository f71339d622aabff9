"""A stand-in of the Anthropic Messages API (streaming and not) and an OTLP capture server
(HTTP paths and any gRPC method), saving every export's raw bytes to OUTDIR as
``logs|metrics|traces.pb|json`` (the signal read from the path, or for gRPC the method;
a second export of a signal is ``logs-2.pb`` and so on).

    standin.py OUTDIR API_PORT OTLP_HTTP_PORT OTLP_GRPC_PORT PROJECT_DIR

A request whose messages ask to "write hello" gets one Write tool call (PROJECT_DIR/hello.txt)
then, once the tool's result comes back, text. Every answer counts 1,200 input, 42 output,
900 cache-read and 300 cache-creation tokens.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import grpc
from aiohttp import web

OUT = Path(sys.argv[1])
API_PORT, OTLP_HTTP, OTLP_GRPC = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
PROJECT = sys.argv[5]
USAGE = {"input_tokens": 1200, "output_tokens": 42, "cache_read_input_tokens": 900,
         "cache_creation_input_tokens": 300}  # fmt: skip


def _save(name: str, data: bytes) -> None:
    """``name`` in OUTDIR, or ``stem-2.ext``, ... when an earlier export took it."""
    path, n = OUT / name, 1
    while path.exists():
        n += 1
        stem, _, ext = name.partition(".")
        path = OUT / f"{stem}-{n}.{ext}"
    path.write_bytes(data)


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


async def messages(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    model = body.get("model", "claude-opus-4-8")
    last = body.get("messages", [{}])[-1].get("content")
    answered = isinstance(last, list) and any(
        isinstance(c, dict) and c.get("type") == "tool_result" for c in last
    )
    tool = "write hello" in json.dumps(body.get("messages")) and not answered and body.get("tools")
    text = "Done. hello.txt has two lines." if answered else "Hi."
    if not body.get("stream"):
        return web.json_response(
            {"id": "msg_1", "type": "message", "role": "assistant", "model": model,
             "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
             "stop_sequence": None, "usage": USAGE},
            headers={"request-id": "req_standin"},
        )  # fmt: skip
    resp = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "request-id": "req_standin"}
    )
    await resp.prepare(request)
    start = {"id": "msg_1", "type": "message", "role": "assistant", "model": model,
             "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": {**USAGE, "output_tokens": 1}}  # fmt: skip
    await resp.write(_event("message_start", {"type": "message_start", "message": start}))
    if tool:
        block = {"type": "tool_use", "id": "toolu_standin0001", "name": "Write", "input": {}}
        arguments = json.dumps({"file_path": f"{PROJECT}/hello.txt", "content": "hello\nworld\n"})
        delta = {"type": "input_json_delta", "partial_json": arguments}
        stop = "tool_use"
    else:
        block = {"type": "text", "text": ""}
        delta = {"type": "text_delta", "text": text}
        stop = "end_turn"
    opening = {"type": "content_block_start", "index": 0, "content_block": block}
    await resp.write(_event("content_block_start", opening))
    growing = {"type": "content_block_delta", "index": 0, "delta": delta}
    await resp.write(_event("content_block_delta", growing))
    await resp.write(_event("content_block_stop", {"type": "content_block_stop", "index": 0}))
    await resp.write(_event("message_delta", {
        "type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
        "usage": {"output_tokens": 42}}))  # fmt: skip
    await resp.write(_event("message_stop", {"type": "message_stop"}))
    await resp.write_eof()
    return resp


async def anything(request: web.Request) -> web.Response:
    return web.json_response({})


async def otlp_http(request: web.Request) -> web.Response:
    data = await request.read()
    signal = request.match_info["signal"]
    json_body = "json" in request.headers.get("Content-Type", "")
    encoding = request.headers.get("Content-Encoding", "")
    name = f"{signal}.{'json' if json_body else 'pb'}" + (f".{encoding}" if encoding else "")
    _save(name, data)
    if json_body:
        return web.json_response({})
    return web.Response(body=b"", content_type="application/x-protobuf")


class Capture(grpc.GenericRpcHandler):
    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        service = details.method.split("/")[1].rsplit(".", 1)[1]  # LogsService, ...
        signal = {"LogsService": "logs", "MetricsService": "metrics"}.get(service, "traces")

        async def handle(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            _save(f"{signal}.pb", request)
            return b""

        return grpc.unary_unary_rpc_method_handler(
            handle, request_deserializer=lambda b: b, response_serializer=lambda b: b
        )


async def main() -> None:
    api = web.Application(client_max_size=64 * 2**20)
    api.router.add_post("/v1/messages", messages)
    api.router.add_route("*", "/{tail:.*}", anything)
    otlp = web.Application(client_max_size=64 * 2**20)
    otlp.router.add_post("/v1/{signal}", otlp_http)
    for app, port in ((api, API_PORT), (otlp, OTLP_HTTP)):
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
    server = grpc.aio.server(handlers=[Capture()])
    server.add_insecure_port(f"127.0.0.1:{OTLP_GRPC}")
    await server.start()
    await asyncio.sleep(3600)


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    asyncio.run(main())
