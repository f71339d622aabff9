"""The API keys file: organization and personal keys with roles, stored as hashes only.

A key reads ``sck_<id>_<secret>``. The file keeps the id, the owner, the roles and a
SHA-256 hash of the whole key (the secret is 256 random bits, so a fast hash is the right
one); the secret itself is shown once, when the key is made. Writes are atomic (a
temporary file, fsync, rename) under a lock, and the file is mode 0600.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import orjson

PREFIX = "sck_"
#: the roles the built-in components ask for, by default, and what each lets a key do
KNOWN_ROLES = {
    "mcp_watch_scan": "send telemetry (the otlp receiver's required_role)",
    "sessions_read": "read sessions and prompts (the sessions_api extension and the console)",
}
FORMAT_VERSION = 1


class KeyStoreError(Exception):
    """The keys file cannot be read or written, or names no such key."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    org: str
    name: str
    roles: tuple[str, ...]
    hash: str
    created_at: str
    personal: bool = False
    user: str | None = None
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def public(self) -> dict[str, object]:
        """Everything but the hash, for listings."""
        data = asdict(self)
        del data["hash"]
        data["roles"] = list(self.roles)
        return data


def hash_key(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def key_id_of(key: str) -> str | None:
    """The id part of a presented key, or ``None`` when it is not shaped like one of ours."""
    if not key.startswith(PREFIX):
        return None
    key_id, sep, secret = key[len(PREFIX) :].partition("_")
    if not sep or len(key_id) != 16 or not secret:
        return None
    return key_id


# A hash to compare against when the id is unknown, so both paths cost the same.
_DUMMY_HASH = hash_key(PREFIX + "0" * 16 + "_dummy")


def verify(keys: dict[str, ApiKey], presented: str) -> ApiKey | None:
    """The stored key matching ``presented`` (compared in constant time), or ``None``."""
    key_id = key_id_of(presented)
    stored = keys.get(key_id) if key_id else None
    expected = stored.hash if stored else _DUMMY_HASH
    if hmac.compare_digest(hash_key(presented), expected) and stored is not None:
        return stored
    return None


def load(path: str | os.PathLike[str]) -> dict[str, ApiKey]:
    """Read a keys file into a dict by id; a missing file holds no keys."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise KeyStoreError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not raw.strip():
        return {}
    try:
        doc = orjson.loads(raw)
        keys = {}
        for item in doc["keys"]:
            key = ApiKey(**{**item, "roles": tuple(item.get("roles", ()))})
            keys[key.id] = key
        return keys
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise KeyStoreError(f"{path}: not a valid keys file: {exc}") from None


def create(
    path: str | os.PathLike[str],
    *,
    org: str,
    name: str,
    roles: list[str],
    personal: bool = False,
    user: str | None = None,
) -> tuple[ApiKey, str]:
    """Add a new key to the file; returns it and its secret (shown only this once)."""
    if not org.strip():
        raise KeyStoreError("the org must not be empty")
    if personal and not user:
        raise KeyStoreError("a personal key needs --user EMAIL")
    key_id = secrets.token_hex(8)
    secret = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        id=key_id,
        org=org,
        name=name,
        roles=tuple(dict.fromkeys(roles)),
        hash=hash_key(secret),
        created_at=_now(),
        personal=personal,
        user=user,
    )
    with _locked(path):
        keys = load(path)
        keys[key.id] = key
        _write(path, keys)
    return key, secret


def revoke(path: str | os.PathLike[str], key_id: str) -> ApiKey:
    """Mark a key revoked (it stays listed); :class:`KeyStoreError` if there is no such key."""
    with _locked(path):
        keys = load(path)
        if key_id not in keys:
            raise KeyStoreError(f"no key with id {key_id!r} in {path}")
        if keys[key_id].active:
            keys[key_id] = replace(keys[key_id], revoked_at=_now())
            _write(path, keys)
        return keys[key_id]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@contextlib.contextmanager
def _locked(path: str | os.PathLike[str]) -> Iterator[None]:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    lock_fd = os.open(f"{target}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(lock_fd)


def _write(path: str | os.PathLike[str], keys: dict[str, ApiKey]) -> None:
    target = Path(path)
    doc = {"version": FORMAT_VERSION, "keys": [asdict(k) for k in keys.values()]}
    data = orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, target)
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
