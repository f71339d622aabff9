"""``apikeys`` extension: authenticates requests against the API keys file.

Server components use it through ``auth: apikeys``. The file is watched (size, mtime,
inode) every ``reload_interval`` and re-read off the event loop when it changes, so a key
created or revoked with ``session-collector keys`` takes effect without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from datetime import timedelta

import structlog
from pydantic import Field

from collector.auth import AuthError, Principal, keystore
from collector.component import ComponentConfig, ComponentID, Factory, Host, Kind
from collector.confmap.units import Duration

TYPE = "apikeys"
log = structlog.get_logger(__name__)


class ApiKeysConfig(ComponentConfig):
    keys_file: str = Field(min_length=1)
    reload_interval: Duration = Field(timedelta(seconds=1), gt=timedelta(0))


def create(component_id: ComponentID, config: ApiKeysConfig) -> ApiKeysExtension:
    return ApiKeysExtension(component_id, config)


FACTORY = Factory(
    Kind.EXTENSION,
    TYPE,
    ApiKeysConfig,
    create,
    "authenticates requests with organization API keys from a keys file",
)


class ApiKeysExtension:
    def __init__(self, component_id: ComponentID, config: ApiKeysConfig) -> None:
        self.id = component_id
        self.config = config
        self._keys: dict[str, keystore.ApiKey] = {}
        self._stamp: tuple[int, int, int] | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, host: Host) -> None:
        await self._reload_if_changed()
        if not self._keys:
            log.warning(
                "no API keys yet: every request will get 401 until one is created",
                component=str(self.id),
                keys_file=self.config.keys_file,
            )
        self._task = asyncio.create_task(self._watch(), name=f"{self.id}-watch")

    async def shutdown(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def authenticate(self, authorization: str | None, required_role: str) -> Principal:
        if not authorization:
            raise AuthError(
                401, "missing API key: send Authorization: Bearer <key>", cause="missing"
            )
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthError(
                401, "malformed Authorization header: expected Bearer <key>", cause="malformed"
            )
        key = keystore.verify(self._keys, token)
        if key is None:
            raise AuthError(401, "invalid API key", cause="unknown")
        if not key.active:
            raise AuthError(401, "invalid API key", cause="revoked")
        if key.personal:
            raise AuthError(
                403,
                "personal keys are not accepted here: use an organization key",
                cause="personal",
            )
        if required_role not in key.roles:
            raise AuthError(403, f"API key lacks the role {required_role}", cause="role")
        return Principal(key.id, key.org, frozenset(key.roles))

    async def reload(self) -> None:
        """Re-read the keys file now if it changed since the last read."""
        await self._reload_if_changed()

    async def _watch(self) -> None:
        interval = self.config.reload_interval.total_seconds()
        while True:
            await asyncio.sleep(interval)
            try:
                await self._reload_if_changed()
            except keystore.KeyStoreError as exc:
                log.error("keys file unreadable; keeping the previous keys", error=str(exc))

    async def _reload_if_changed(self) -> None:
        stamp = await asyncio.to_thread(_stat, self.config.keys_file)
        if stamp == self._stamp:
            return
        keys = await asyncio.to_thread(keystore.load, self.config.keys_file)
        self._keys, self._stamp = keys, stamp
        log.info(
            "API keys loaded",
            component=str(self.id),
            keys=sum(1 for k in keys.values() if k.active),
        )


def _stat(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)
