"""``host:port`` endpoints as written in config files."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def parse_endpoint(text: str) -> tuple[str, int]:
    """Split ``host:port`` (``[v6]:port``; an empty host means every interface)."""
    text = text.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError(f"invalid endpoint {text!r}: expected [host]:port")
        port_text = rest[1:]
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise ValueError(f"invalid endpoint {text!r}: expected host:port")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"invalid endpoint {text!r}: port {port_text!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"invalid endpoint {text!r}: port {port} is out of range")
    return host or "0.0.0.0", port


def format_endpoint(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _checked(value: str) -> str:
    parse_endpoint(value)
    return value


#: A config field holding ``host:port``, checked when the config is validated.
Endpoint = Annotated[str, AfterValidator(_checked)]
