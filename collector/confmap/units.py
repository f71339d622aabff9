"""Config value types written the way OpenTelemetry Collector users write them."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_duration(value: object) -> timedelta:
    """A Go-style duration (``200ms``, ``1m30s``), or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 200ms, 5s or 1m")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration must not be negative")
        return timedelta(seconds=value)
    if not isinstance(value, str):
        raise ValueError("expected a duration such as 200ms, 5s or 1m")
    text = value.strip()
    try:  # a number of seconds, as text (what an environment variable expands to)
        return parse_duration(float(text))
    except ValueError:
        pass
    pos, seconds = 0, 0.0
    for match in _DURATION_RE.finditer(text):
        if match.start() != pos:
            break
        seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"invalid duration {value!r}: expected e.g. 200ms, 5s, 1m30s")
    return timedelta(seconds=seconds)


def _format_duration(value: timedelta) -> str:
    return f"{value.total_seconds():g}s"


#: A duration config field: ``200ms``, ``5s``, ``1m30s``, or a number of seconds.
Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(_format_duration)]
