"""The sessions console of the ``sessions_api`` extension: the web page admins open at ``/``
of its endpoint, and the sign-in sessions it runs on.

- ``GET /`` and ``GET /sessions/{id}`` answer the page (one HTML shell; the script draws the
  list or a session's timeline from the JSON API); ``GET /console/{file}`` its script and
  style, shipped in this package (``extensions/console/``), nothing from the internet.
- ``POST /console/sign-in`` with ``{"key": "<org API key>"}`` exchanges a key holding the
  API's role for a random session token in an ``HttpOnly``, ``SameSite=Strict`` cookie
  (``Secure`` over TLS) that expires after ``console_session_ttl``; ``POST
  /console/sign-out`` ends it. The key stays in this process's memory, never in the page:
  every request authenticates it again, so a key revoked in the keys file ends its console
  sessions at the next reload of the file.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).parent / "console"
#: the files ``/console/{file}`` serves, and their types
ASSETS = {"console.js": "text/javascript", "console.css": "text/css"}
COOKIE = "session_collector_console"
#: no script, style or request but the console's own; no framing
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass(slots=True)
class _Signed:
    authorization: str
    expires: float


class ConsoleSessions:
    """Signed-in console sessions by token, each with the key it was opened with."""

    def __init__(self, ttl_seconds: float, max_sessions: int = 10_000) -> None:
        self.ttl = ttl_seconds
        self.max_sessions = max_sessions
        self._by_token: dict[str, _Signed] = {}

    def open(self, authorization: str) -> str:
        now = time.monotonic()
        if len(self._by_token) >= self.max_sessions:
            self._by_token = {t: s for t, s in self._by_token.items() if s.expires > now}
            while len(self._by_token) >= self.max_sessions:  # the oldest go first
                del self._by_token[next(iter(self._by_token))]
        token = secrets.token_urlsafe(32)
        self._by_token[token] = _Signed(authorization, now + self.ttl)
        return token

    def authorization(self, token: str | None) -> str | None:
        """The ``Authorization`` a live session stands for, else ``None``."""
        signed = self._by_token.get(token) if token else None
        if signed is None:
            return None
        if signed.expires <= time.monotonic():
            del self._by_token[token]  # type: ignore[arg-type]
            return None
        return signed.authorization

    def close(self, token: str | None) -> None:
        if token:
            self._by_token.pop(token, None)


@cache
def _file(name: str) -> bytes:
    """A shipped file's bytes, read once (they do not change while the process runs)."""
    return (STATIC / name).read_bytes()


def page() -> web.Response:
    """The console's HTML shell."""
    resp = web.Response(body=_file("index.html"), content_type="text/html", charset="utf-8")
    resp.headers.update(SECURITY_HEADERS)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def asset(name: str) -> web.Response:
    content_type = ASSETS.get(name)
    if content_type is None:
        raise web.HTTPNotFound()
    resp = web.Response(body=_file(name), content_type=content_type, charset="utf-8")
    resp.headers.update(SECURITY_HEADERS)
    resp.headers["Cache-Control"] = "no-cache"
    return resp


def set_cookie(resp: web.StreamResponse, token: str, *, ttl: float, secure: bool) -> None:
    resp.set_cookie(
        COOKIE, token, max_age=int(ttl), path="/", httponly=True, samesite="Strict",
        secure=secure,
    )  # fmt: skip


def clear_cookie(resp: web.StreamResponse, *, secure: bool) -> None:
    resp.del_cookie(COOKIE, path="/", httponly=True, samesite="Strict", secure=secure)
