"""The contract between server components and authenticating extensions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Principal:
    """Who sent a request: the key's id and org (the tenant), and its roles."""

    key_id: str
    org: str
    roles: frozenset[str]


class AuthError(Exception):
    """Authentication failed: ``status`` is 401 (who are you?) or 403 (not allowed)."""

    def __init__(self, status: int, reason: str, *, cause: str) -> None:
        self.status = status
        self.reason = reason
        #: a short machine label for logs and metrics: missing, malformed, unknown, ...
        self.cause = cause
        super().__init__(reason)


@runtime_checkable
class Authenticator(Protocol):
    """Checks the ``Authorization`` header of a request against a role."""

    def authenticate(self, authorization: str | None, required_role: str) -> Principal: ...
