"""Which daemon the GUI talks to, remembered in QSettings.

The target is the client library's own `ClientSettings`, so the GUI reaches a daemon exactly as the
command line does. Nothing saved means the environment decides (FAIRSCRIBE_SOCKET, _LISTEN, _TOKEN),
which is also what a first start on a fresh machine gets: the local socket.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from fairscribe.shared.config import ClientSettings, parse_host_port, socket_path
from fairscribe.shared.errors import ConfigError

_MODE = "connection/mode"
_SOCKET = "connection/socket"
_ADDRESS = "connection/address"
_TOKEN = "connection/token"  # noqa: S105 - a settings key, not a secret


def load_target(store: QSettings) -> ClientSettings:
    """The saved target, or the environment's when none is saved or the saved one is unreadable."""
    mode = store.value(_MODE)
    if mode not in ("local", "tcp"):
        return ClientSettings.from_env()
    socket = Path(str(store.value(_SOCKET) or socket_path()))
    token = str(store.value(_TOKEN) or "") or None
    if mode == "local":
        return ClientSettings(socket=socket, address=None, token=None)
    try:
        address = parse_host_port(str(store.value(_ADDRESS) or ""), "the saved daemon address")
    except ConfigError:
        return ClientSettings.from_env()
    return ClientSettings(socket=socket, address=address, token=token)


def save_target(store: QSettings, target: ClientSettings) -> None:
    store.setValue(_MODE, "local" if target.address is None else "tcp")
    store.setValue(_SOCKET, str(target.socket))
    if target.address is None:
        store.remove(_ADDRESS)
        store.remove(_TOKEN)
    else:
        store.setValue(_ADDRESS, f"{target.address[0]}:{target.address[1]}")
        # QSettings keeps the token in the user's own config file, where FAIRSCRIBE_TOKEN would
        # otherwise sit in their shell profile: the same exposure, no new one.
        store.setValue(_TOKEN, target.token or "")
    store.sync()


def is_local(target: ClientSettings) -> bool:
    """Whether a daemon for this target could be started from here (a remote one cannot)."""
    return target.address is None
