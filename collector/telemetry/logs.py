"""The collector's own logs: structlog, as console key=value lines or JSON lines, with the
standard library's loggers (aiokafka, aiohttp) rendered the same way."""

from __future__ import annotations

import logging
import sys

import orjson
import structlog

from collector.telemetry.library_logs import KafkaClientLogs

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
           "warning": logging.WARNING, "error": logging.ERROR}  # fmt: skip


def configure_logging(level_name: str, encoding: str) -> None:
    """Send every log line to stderr at ``level_name`` (``debug`` ... ``error``) in
    ``encoding`` (``console`` or ``json``), as ``service.telemetry.logs`` configures."""
    level = _LEVELS[level_name]
    shared: list[structlog.typing.Processor] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    renderer: structlog.typing.Processor
    if encoding == "json":
        renderer = structlog.processors.JSONRenderer()
        structlog.configure(
            processors=[structlog.contextvars.merge_contextvars, *shared,
                        structlog.processors.JSONRenderer(serializer=orjson.dumps)],
            wrapper_class=structlog.make_filtering_bound_logger(level),
            logger_factory=structlog.BytesLoggerFactory(sys.stderr.buffer),
            cache_logger_on_first_use=False,
        )  # fmt: skip
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
        structlog.configure(
            processors=[structlog.contextvars.merge_contextvars, *shared, renderer],
            wrapper_class=structlog.make_filtering_bound_logger(level),
            logger_factory=structlog.PrintLoggerFactory(sys.stderr),
            cache_logger_on_first_use=False,
        )
    # Libraries that log through the standard library: warnings and errors only.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=renderer,
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    # aiokafka's lines of retried conditions: at our levels, a few per minute (library_logs)
    handler.addFilter(KafkaClientLogs(max(level, logging.INFO)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(level, logging.WARNING))
