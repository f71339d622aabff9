"""Which store errors are the data's fault, decided by error type and ClickHouse error code,
never by message text.

- **Retryable** (the same data may succeed later): transport failures (refused, reset,
  timeout; no server code), and the server codes of :data:`RETRYABLE_CODES`: overload,
  read-only, out of memory or disk, too many parts, replicas or Keeper away, the schema not
  there yet, credentials refused.
- **The data's fault** (:class:`DataRefused`): the client could not serialize a value
  (clickhouse-connect's ``DataError`` without a server code, or a Python ``ValueError``,
  ``TypeError``, ``OverflowError`` or ``struct.error`` from serializing), or the server
  answered with any other code (a value it cannot parse or convert, a type mismatch, ...).
  The exporter then isolates the records at fault.
"""

from __future__ import annotations

import struct

from clickhouse_connect.driver import exceptions as ch

#: server conditions, not the data's fault (ClickHouse's ErrorCodes.cpp)
RETRYABLE_CODES = frozenset({
    3,    # UNEXPECTED_END_OF_FILE
    32,   # ATTEMPT_TO_READ_AFTER_EOF
    60,   # UNKNOWN_TABLE (the schema is being created)
    81,   # UNKNOWN_DATABASE
    159,  # TIMEOUT_EXCEEDED
    160,  # TOO_SLOW
    164,  # READONLY
    173,  # CANNOT_ALLOCATE_MEMORY
    192,  # UNKNOWN_USER
    193,  # WRONG_PASSWORD
    194,  # REQUIRED_PASSWORD
    198,  # DNS_ERROR
    202,  # TOO_MANY_SIMULTANEOUS_QUERIES
    203,  # NO_FREE_CONNECTION
    209,  # SOCKET_TIMEOUT
    210,  # NETWORK_ERROR
    236,  # ABORTED
    241,  # MEMORY_LIMIT_EXCEEDED
    242,  # TABLE_IS_READ_ONLY
    243,  # NOT_ENOUGH_SPACE
    252,  # TOO_MANY_PARTS
    279,  # ALL_CONNECTION_TRIES_FAILED
    285,  # TOO_FEW_LIVE_REPLICAS
    286,  # UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE
    319,  # UNKNOWN_STATUS_OF_INSERT
    394,  # QUERY_WAS_CANCELLED
    425,  # SYSTEM_ERROR
    439,  # CANNOT_SCHEDULE_TASK
    473,  # DEADLOCK_AVOIDED
    497,  # ACCESS_DENIED
    516,  # AUTHENTICATION_FAILED
    733,  # TABLE_IS_BEING_RESTARTED
    999,  # KEEPER_EXCEPTION
    1000,  # POCO_EXCEPTION (network)
})  # fmt: skip


class DataRefused(Exception):
    """ClickHouse, or the client serializing for it, refused the data of an insert."""

    def __init__(self, reason: str, code: int | None) -> None:
        self.reason = reason
        self.code = code
        super().__init__(reason)


def is_data_error(exc: BaseException) -> bool:
    """Whether an insert failed because of what it held (retrying it fails the same way)."""
    if isinstance(exc, ch.Error) and exc.code is not None:
        return exc.code not in RETRYABLE_CODES
    if isinstance(exc, ch.DataError):
        return True  # raised by the client serializing a value, before anything was sent
    if isinstance(exc, ch.Error):
        return False  # the client's other errors: transport, or a fault of this program
    return isinstance(exc, ValueError | TypeError | OverflowError | struct.error)


def code_of(exc: BaseException) -> int | None:
    return exc.code if isinstance(exc, ch.Error) else None
