"""The GUI's commands as QActions, made once and shared by the toolbar, the menus and the tray.

One QAction per command means one place that decides when it is enabled: the toolbar button, the
context menu entry and the tray entry grey out together. What each action does is wired by the
window; this module only knows which job states allow what.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import QStyle, QWidget

from fairscribe.gui import format as fmt


class Actions:
    def __init__(self, parent: QWidget) -> None:
        icon = parent.style().standardIcon
        pixmap = QStyle.StandardPixmap

        def make(
            text: str,
            tip: str,
            standard: QStyle.StandardPixmap | None = None,
            shortcut: QKeySequence.StandardKey | str | None = None,
        ) -> QAction:
            action = QAction(icon(standard) if standard is not None else QIcon(), text, parent)
            # A tooltip, not a status tip: a status tip would cover the daemon's status in the status bar.
            action.setToolTip(tip)
            if shortcut is not None:
                action.setShortcut(QKeySequence(shortcut))
            return action

        self.submit = make(
            "Submit folder…",
            "Transcribe every audio file in a folder",
            pixmap.SP_DirOpenIcon,
            QKeySequence.StandardKey.Open,
        )
        self.pause = make(
            "Pause", "Stop starting files of the selected job (running ones finish)", pixmap.SP_MediaPause
        )
        self.resume = make("Resume", "Carry on with the selected job", pixmap.SP_MediaPlay)
        self.cancel = make(
            "Cancel", "Cancel the files of the selected job that have not ended", pixmap.SP_DialogCancelButton
        )
        self.retry = make(
            "Retry failed", "Queue the selected job's failed and cancelled files again", pixmap.SP_BrowserReload
        )
        self.move_up = make(
            "Move up", "Work on the selected job before your previous one", pixmap.SP_ArrowUp, "Ctrl+Up"
        )
        self.move_down = make(
            "Move down", "Work on the selected job after your next one", pixmap.SP_ArrowDown, "Ctrl+Down"
        )
        self.failed_files = make(
            "Failed files…", "List the selected job's failed files with their reasons", pixmap.SP_FileDialogDetailedView
        )
        self.connection = make(
            "Connection…", "Choose the daemon: this computer's, or one in a container", pixmap.SP_DriveNetIcon
        )
        self.show_window = make("Show fairscribe", "Bring the window to the front")
        self.quit = make(
            "Quit", "Close the window and the tray icon (the daemon keeps working)", None, QKeySequence.StandardKey.Quit
        )
        self.follow(None, responding=False)

    def job_actions(self) -> list[QAction]:
        """The actions on the selected job, in toolbar order."""
        return [self.pause, self.resume, self.cancel, self.retry, self.move_up, self.move_down, self.failed_files]

    def follow(self, job: dict[str, Any] | None, *, responding: bool) -> None:
        """Enable what makes sense for `job` (the selected one) while the daemon answers."""
        live = job is not None and fmt.is_live(job)
        state = job.get("state") if job is not None else None
        self.submit.setEnabled(responding)
        self.pause.setEnabled(responding and state == "active")
        self.resume.setEnabled(responding and state == "paused")
        self.cancel.setEnabled(responding and live)
        self.retry.setEnabled(responding and job is not None and bool(job.get("failed") or job.get("cancelled")))
        self.move_up.setEnabled(responding and live)
        self.move_down.setEnabled(responding and live)
        self.failed_files.setEnabled(responding and job is not None and bool(job.get("failed")))
