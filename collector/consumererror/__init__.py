"""The errors that cross component boundaries, and what the caller should do about each
(the OpenTelemetry Collector's ``consumererror``): permanent or retryable, partial
rejections, decode errors and the bounds of a request.

Imports nothing of the collector at run time: every other package may use it.
"""

from collector.consumererror.errors import (
    ConsumerError,
    DecodeError,
    OverloadError,
    PartialRejection,
    PermanentError,
    RetryableError,
    TooMuchInRequest,
)

__all__ = [
    "ConsumerError",
    "DecodeError",
    "OverloadError",
    "PartialRejection",
    "PermanentError",
    "RetryableError",
    "TooMuchInRequest",
]
