"""Where things live and how clients find the daemon, from the environment (DESIGN.md's table)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from fairscribe.shared.errors import ConfigError

APP_NAME = "fairscribe"


def home_dir() -> Path:
    """`FAIRSCRIBE_HOME`, else the platform's per-user data directory."""
    configured = os.environ.get("FAIRSCRIBE_HOME")
    if configured:
        return Path(configured).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def socket_path() -> Path:
    configured = os.environ.get("FAIRSCRIBE_SOCKET")
    if configured:
        return Path(configured).expanduser()
    return home_dir() / "fairscribed.sock"


def parse_host_port(text: str, variable: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{variable}={text!r} is not HOST:PORT (for example 127.0.0.1:8765)")
    return host.strip("[]") or "127.0.0.1", int(port)


def listen_address() -> tuple[str, int] | None:
    """`FAIRSCRIBE_LISTEN` as (host, port), or None when TCP is off."""
    configured = os.environ.get("FAIRSCRIBE_LISTEN")
    if not configured:
        return None
    return parse_host_port(configured, "FAIRSCRIBE_LISTEN")


@dataclass(frozen=True)
class ClientSettings:
    """How a client reaches the daemon: TCP with a token when a listen address is set, else the
    Unix socket (where a token, if given, acts as that token's user)."""

    socket: Path
    address: tuple[str, int] | None
    token: str | None

    @classmethod
    def from_env(cls) -> ClientSettings:
        return cls(
            socket=socket_path(),
            address=listen_address(),
            token=os.environ.get("FAIRSCRIBE_TOKEN") or None,
        )

    def prefers_socket(self) -> bool:
        """Without a token, a client on the daemon's own machine (or in its container) uses the Unix
        socket even when TCP is on: TCP needs a token, the socket needs none."""
        return self.address is None or (self.token is None and self.socket.exists())

    def describe(self) -> str:
        if self.prefers_socket() or self.address is None:
            return str(self.socket)
        return f"{self.address[0]}:{self.address[1]}"
