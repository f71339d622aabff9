"""The apikeys extension: verdicts on the Authorization header, and reloading its file."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

import pytest
import structlog

from collector.auth import AuthError, keystore
from collector.component import ComponentID
from extensions.apikeys import ApiKeysConfig, ApiKeysExtension


class NoHost:
    def get_extension(self, component_id: ComponentID) -> object | None:
        return None


def extension(keys_file: Path, interval: float = 0.05) -> ApiKeysExtension:
    config = ApiKeysConfig(keys_file=str(keys_file), reload_interval=timedelta(seconds=interval))
    return ApiKeysExtension(ComponentID("apikeys"), config)


async def verdict_within(ext: ApiKeysExtension, header: str, expected: int | None) -> int | None:
    """Poll the extension until its verdict is ``expected`` (None = accepted) or 3 s pass."""
    status: int | None = -1
    for _ in range(60):
        try:
            ext.authenticate(header, "mcp_watch_scan")
            status = None
        except AuthError as exc:
            status = exc.status
        if status == expected:
            break
        await asyncio.sleep(0.05)
    return status


async def test_keys_created_and_revoked_while_running_apply_without_restart(
    keys_file: Path,
) -> None:
    """The file is watched: a new key starts working, a revoked one stops."""
    ext = extension(keys_file)
    await ext.start(NoHost())
    try:
        key, secret = keystore.create(keys_file, org="acme", name="n", roles=["mcp_watch_scan"])
        assert await verdict_within(ext, f"Bearer {secret}", None) is None
        keystore.revoke(keys_file, key.id)
        assert await verdict_within(ext, f"Bearer {secret}", 401) == 401
    finally:
        await ext.shutdown()


async def test_a_corrupt_keys_file_keeps_the_previous_keys(keys_file: Path) -> None:
    """A half-written or broken file is logged and ignored; known keys keep working."""
    _, secret = keystore.create(keys_file, org="acme", name="n", roles=["mcp_watch_scan"])
    ext = extension(keys_file)
    await ext.start(NoHost())
    try:
        with structlog.testing.capture_logs() as logs:
            keys_file.write_text("{not json")
            await asyncio.sleep(0.3)
        assert await verdict_within(ext, f"Bearer {secret}", None) is None
        assert any(entry["log_level"] == "error" for entry in logs)
    finally:
        await ext.shutdown()


@pytest.mark.parametrize(
    ("header", "status", "cause"),
    [
        (None, 401, "missing"),
        ("", 401, "missing"),
        ("Bearer", 401, "malformed"),
        ("Token abc", 401, "malformed"),
        ("Bearer sck_nothex_nope", 401, "unknown"),
        ("Bearer something-else", 401, "unknown"),
    ],
)
async def test_bad_headers_are_refused_with_their_cause(
    keys_file: Path, header: str | None, status: int, cause: str
) -> None:
    """Each way a header can be wrong has its status and its cause label."""
    ext = extension(keys_file)
    with pytest.raises(AuthError) as info:
        ext.authenticate(header, "mcp_watch_scan")
    assert (info.value.status, info.value.cause) == (status, cause)


async def test_the_presented_key_is_never_logged(
    keys_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Refusals log their cause, not the key."""
    _, secret = keystore.create(keys_file, org="acme", name="n", roles=["other"])
    ext = extension(keys_file)
    with structlog.testing.capture_logs() as logs, caplog.at_level(logging.DEBUG):
        await ext.start(NoHost())
        with pytest.raises(AuthError):
            ext.authenticate(f"Bearer {secret}", "mcp_watch_scan")
        await ext.shutdown()
    assert secret not in repr(logs) + caplog.text
