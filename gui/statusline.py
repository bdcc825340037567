"""The status bar's account of the daemon: responding, not responding (retrying in N s), reconnecting."""

from __future__ import annotations

import html
import math
import time

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QWidget

from fairscribe.gui.status import Link, LinkStatus

_DOTS = {Link.RESPONDING: "#2e7d32", Link.CONNECTING: "#b26a00", Link.NOT_RESPONDING: "#c62828"}


def describe(status: LinkStatus, retry_in: float | None = None) -> str:
    """The sentence for `status`; `retry_in` overrides its countdown with what is left of it."""
    if status.link is Link.RESPONDING:
        who = f" as {status.user}" if status.user else ""
        return f"connected to {status.where}{who} · responding"
    if status.link is Link.CONNECTING:
        return f"{'reconnecting' if status.ever_connected else 'connecting'} to {status.where}…"
    left = status.retry_in if retry_in is None else retry_in
    when = f"retrying in {max(1, math.ceil(left))} s" if left is not None else "retrying"
    if status.refused:
        return f"{status.where} refused the connection — {when}"
    return f"{status.where} not responding — {when}"


class StatusLine(QLabel):
    """Counts the retry down each second, so "retrying in 3 s" never sits there stale."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._status: LinkStatus | None = None
        self._retry_at = 0.0
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._render)

    def show_status(self, status: LinkStatus) -> None:
        self._status = status
        if status.retry_in is not None:
            self._retry_at = time.monotonic() + status.retry_in
            self._tick.start()
        else:
            self._tick.stop()
        self.setToolTip(status.reason)
        self._render()

    def _render(self) -> None:
        status = self._status
        if status is None:
            return
        left = max(0.0, self._retry_at - time.monotonic()) if status.retry_in is not None else None
        dot = _DOTS[status.link]
        self.setText(f'<span style="color:{dot}">●</span> {html.escape(describe(status, left))}')
