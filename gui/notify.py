"""One notification when a batch ends, from the daemon's `job.finished` event.

It goes to the tray where the desktop has one, and to an in-window notice where it has not. Events
are replayed after a reconnect, so the notifier remembers the newest event it acted on and never
announces the same ending twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from fairscribe.gui import format as fmt
from fairscribe.gui.notices import Kind, NoticeArea
from fairscribe.gui.tray import Tray


class Notifier(QObject):
    notified = Signal(int, str)
    """The job id and the sentence shown, once per batch that ended."""

    def __init__(
        self,
        tray: Tray,
        notices: NoticeArea,
        me: Callable[[], str | None],
        show_failed: Callable[[int], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._tray = tray
        self._notices = notices
        self._me = me
        self._show_failed = show_failed
        self._newest = 0

    def forget(self) -> None:
        """Another daemon, another numbering of events: start afresh."""
        self._newest = 0

    def take(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            event_id = int(event.get("id", 0))
            if event_id <= self._newest:
                continue
            self._newest = event_id
            # An admin's subscription carries everyone's events; only the caller's own batches are news.
            if event.get("kind") == "job.finished" and event.get("user") == self._me():
                self._announce(event.get("job"), dict(event.get("data") or {}))

    def _announce(self, job_id: int | None, data: dict[str, Any]) -> None:
        text = fmt.finished_message(job_id, data)
        failed = int(data.get("failed", 0))
        if self._tray.available:
            self._tray.notify("fairscribe", text, warning=failed > 0)
        else:
            actions = [("Failed files…", lambda: self._show_failed(int(job_id or 0)))] if failed else []
            self._notices.show_notice(
                f"finished-{job_id}", text[0].upper() + text[1:] + ".", Kind.WARNING if failed else Kind.INFO, actions
            )
        self.notified.emit(int(job_id or 0), text)
