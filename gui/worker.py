"""The command worker: runs what the person asks for (submit, pause, …) on a worker thread.

Commands are blocking calls, so they run on a QThread of their own, one after another, over one
`Client` that is opened when first needed and dropped when the daemon stops answering (the next
command opens a fresh one). Each command is a function of a `connect` callable, which returns that
client; a command that needs no daemon (starting one) simply does not call it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from fairscribe.gui.listener import CALL_TIMEOUT
from fairscribe.shared.client import Client
from fairscribe.shared.config import ClientSettings
from fairscribe.shared.errors import FairscribeError, RemoteError

Connect = Callable[[], Client]
Command = Callable[[Connect], Any]


class CommandWorker(QObject):
    """Lives on the command thread; talks to the GUI thread only through its signals."""

    succeeded = Signal(int, object)
    """ticket, the command's result"""
    failed = Signal(int, str)
    """ticket, why, in words for the person who asked"""

    def __init__(self, target: ClientSettings) -> None:
        super().__init__()
        self._target = target
        self._client: Client | None = None

    @Slot(int, object)
    def run(self, ticket: int, command: Command) -> None:
        try:
            result = command(self._connect)
        except RemoteError as exc:
            # The daemon answered (say, "job 3 has already ended"): the connection is still good.
            self.failed.emit(ticket, exc.message)
        except (FairscribeError, OSError) as exc:
            self._drop()
            self.failed.emit(ticket, str(exc))
        else:
            self.succeeded.emit(ticket, result)

    @Slot(object)
    def retarget(self, target: ClientSettings) -> None:
        self._drop()
        self._target = target

    @Slot()
    def close(self) -> None:
        self._drop()

    def _connect(self) -> Client:
        if self._client is None:
            self._client = Client(self._target, timeout=CALL_TIMEOUT, client_name="fairscribe-gui")
        return self._client

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
