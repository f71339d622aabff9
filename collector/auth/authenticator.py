"""The contract between server components and authenticating extensions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Principal:
    """Who sent a request: the key's id and org (the tenant), and its roles."""

    key_id: str
    org: str
    roles: frozenset[str]


class AuthError(Exception):
    """Authentication failed: ``status`` is 401 (who are you?), 403 (not allowed) or 400
    (the request's credentials are ambiguous)."""

    def __init__(self, status: int, reason: str, *, cause: str) -> None:
        self.status = status
        self.reason = reason
        #: a short machine label for logs and metrics: missing, malformed, unknown, ...
        self.cause = cause
        super().__init__(reason)


def authorization(headers: Mapping[str, str]) -> str | None:
    """The request's one ``Authorization`` header. Several are ambiguous (which would a
    proxy in front have checked?), so they are refused with 400 rather than one chosen."""
    getall = getattr(headers, "getall", None)
    values = getall("Authorization", []) if getall is not None else []
    if len(values) > 1:
        raise AuthError(400, "more than one Authorization header", cause="duplicate")
    return headers.get("Authorization")


@runtime_checkable
class Authenticator(Protocol):
    """Checks the ``Authorization`` header of a request against a role."""

    def authenticate(self, authorization: str | None, required_role: str) -> Principal: ...
