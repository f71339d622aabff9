"""Errors that cross component boundaries, grouped by what the caller should do.

::

    ConsumerError               a consumer did not take a batch
    ├── PermanentError          the data is bad: do not retry it (HTTP 400)
    │   ├── PartialRejection    some records were refused, the rest were accepted
    │   └── DecodeError         not a valid OTLP message (400)
    │       └── TooMuchInRequest  more records or attributes than allowed (413)
    └── RetryableError          try the same data again later (HTTP 503)
        └── OverloadError       the collector is saturated (HTTP 429)

A bad configuration is a ``collector.confmap.ConfigError``.

Each ``ConsumerError`` says whether it is retryable through the ``retryable`` class flag,
so retry loops read the flag instead of matching types; receivers map the kinds onto their
protocol (the OTLP receiver: 400, ``partial_success``, 503 or 429 with ``Retry-After``).
"""

from __future__ import annotations

from typing import Any


class ConsumerError(Exception):
    """A consumer refused a batch. ``component`` names the component that refused it."""

    retryable: bool = False

    def __init__(self, message: str, *, component: str = "") -> None:
        self.message = message
        self.component = component
        super().__init__(f"{component}: {message}" if component else message)


class PermanentError(ConsumerError):
    """The data itself is wrong: retrying it will fail the same way."""

    retryable = False


class PartialRejection(PermanentError):
    """``rejected`` records of the batch were refused for good; all the others were accepted.
    ``records``, when known, are the refused records themselves (the very objects of the
    batch), so that whoever regrouped records can tell whose they were and a dead-letter path
    can keep them."""

    def __init__(
        self,
        rejected: int,
        message: str,
        *,
        component: str = "",
        records: list[Any] | None = None,
    ) -> None:
        self.rejected = rejected
        self.records = records
        super().__init__(message, component=component)


class RetryableError(ConsumerError):
    """A downstream is unavailable or full; the same data may succeed later."""

    retryable = True

    def __init__(self, message: str, *, component: str = "", retry_after: float = 1.0) -> None:
        self.retry_after = retry_after
        super().__init__(message, component=component)


class OverloadError(RetryableError):
    """The collector itself is saturated; the client should slow down."""


class DecodeError(PermanentError):
    """A payload is not a valid OTLP message; ``message`` says where and why."""


class TooMuchInRequest(DecodeError):
    """A request holds more records (or resource and scope entries), or more attributes,
    than allowed: refused before they are built (HTTP 413). ``setting`` names the bound."""

    def __init__(self, message: str, setting: str) -> None:
        self.setting = setting
        super().__init__(message)
