"""Where the ClickHouse store is, as written in config."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from pydantic import Field, SecretStr, field_validator

from collector.component import ComponentConfig

CHDB = "chdb://"


class ClickHouseSettings(ComponentConfig):
    """``endpoint`` is ``chdb://PATH`` (embedded chDB in this process, PATH relative to the
    working folder unless absolute) or ``http(s)://host:port`` of a ClickHouse server."""

    endpoint: str = "chdb://./data/clickhouse"
    username: str = "default"
    password: SecretStr = SecretStr("")
    database: str = Field("default", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        if value.startswith(CHDB):
            if not value[len(CHDB) :].strip():
                raise ValueError("chdb:// needs a path, e.g. chdb://./data/clickhouse")
            return value
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"invalid endpoint {value!r}: use chdb://PATH or http(s)://host:port")
        return value

    @property
    def embedded(self) -> bool:
        return self.endpoint.startswith(CHDB)

    @property
    def chdb_path(self) -> Path:
        """The absolute folder of an embedded store."""
        return Path(self.endpoint[len(CHDB) :]).expanduser().resolve()

    @property
    def local_socket(self) -> Path:
        """Where an embedded store's sessions API listens for local readers (the CLI)."""
        return self.chdb_path / "sessions_api.sock"

    def describe(self) -> str:
        """The endpoint without credentials, for logs."""
        return f"chdb://{self.chdb_path}" if self.embedded else self.endpoint
