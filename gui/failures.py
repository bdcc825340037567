"""The failed files of one job, each with its reason (the GUI's `fairscribe status JOB --files`)."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

HEADERS = ("File", "Attempts", "Reason")


def relative(path: str, folder: str) -> str:
    """A file's path below its job's folder: shorter, and the part that tells files apart."""
    try:
        return str(PurePath(path).relative_to(folder))
    except ValueError:
        return path


class FailedFilesDialog(QDialog):
    """Shows "Loading…" at once, then the list when the session delivers it (`show_files`)."""

    def __init__(self, job: dict[str, Any], retry: QAction, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job_id = int(job["id"])
        self._folder = str(job.get("dir", ""))
        self.setWindowTitle(f"Job {self.job_id} — failed files")
        self.resize(760, 380)
        self.summary = QLabel(f"Loading the failed files of job {self.job_id} ({self._folder})…")
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, len(HEADERS))
        self.table.setHorizontalHeaderLabels(HEADERS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(True)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = self.table.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.resizeSection(0, 240)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        # The window's own Retry action: it acts on the selected job, which is the one shown here.
        retry_button = buttons.addButton(retry.text(), QDialogButtonBox.ButtonRole.ActionRole)
        retry_button.clicked.connect(retry.trigger)
        retry_button.clicked.connect(self.accept)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)

    def show_files(self, files: list[dict[str, Any]]) -> None:
        if not files:
            self.summary.setText(f"Job {self.job_id} has no failed files (any were retried or the list changed).")
        else:
            count = "1 file" if len(files) == 1 else f"{len(files):,} files"
            self.summary.setText(
                f"{count} of {self._folder} failed. Retry failed queues them again; the rest of the job is not touched."
            )
        self.table.setRowCount(len(files))
        for row, entry in enumerate(files):
            path = str(entry.get("path", ""))
            reason = str(entry.get("error") or "no reason recorded")
            items = (
                QTableWidgetItem(relative(path, self._folder)),
                QTableWidgetItem(str(entry.get("attempts", ""))),
                QTableWidgetItem(reason),
            )
            items[0].setToolTip(path)
            items[1].setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            items[2].setToolTip(reason)
            for column, item in enumerate(items):
                self.table.setItem(row, column, item)
        self.table.resizeRowsToContents()
