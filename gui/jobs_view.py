"""The jobs table: one row per batch, with a progress bar that counts every file that has ended."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHeaderView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QTableView,
    QWidget,
)

from fairscribe.gui import format as fmt
from fairscribe.gui.models import JOB_ROLE, Column, Index, QueueOrder

EMPTY_HINT = "No jobs yet.\nSubmit folder… sends a folder of audio to the daemon; its progress shows here."


class ProgressDelegate(QStyledItemDelegate):
    """Draws done + failed + cancelled of total as the platform's own progress bar."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        job: dict[str, Any] = index.data(JOB_ROLE)
        # Draw the cell's background first so that selection and alternating rows look as elsewhere.
        widget = option.widget
        style = widget.style() if widget is not None else QApplication.style()
        background = QStyleOptionViewItem(option)
        self.initStyleOption(background, index)
        background.text = ""
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, background, painter, widget)
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(4, 3, -4, -3)
        bar.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Horizontal
        bar.direction = option.direction
        bar.fontMetrics = option.fontMetrics
        bar.palette = option.palette
        bar.minimum = 0
        bar.maximum = max(int(job.get("total", 0)), 1)
        bar.progress = min(fmt.finished_count(job), bar.maximum)
        bar.text = fmt.progress(job)
        bar.textVisible = True
        bar.textAlignment = Qt.AlignmentFlag.AlignCenter
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, widget)

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        hint = super().sizeHint(option, index)
        return QSize(max(hint.width(), 170), hint.height())


class JobsView(QTableView):
    """The table of the caller's jobs, in queue order, one selected at a time."""

    job_activated = Signal(int)
    """A job id, double-clicked."""

    def __init__(self, model: QueueOrder, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setModel(model)
        self.setItemDelegateForColumn(Column.PROGRESS, ProgressDelegate(self))
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # a folder's end names it best
        self.verticalHeader().hide()
        header = self.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(Column.FOLDER, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(Column.PROGRESS, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(Column.PROGRESS, 180)
        header.setMinimumSectionSize(56)
        self.doubleClicked.connect(self._on_double_click)

    def selected_job(self) -> dict[str, Any] | None:
        rows = self.selectionModel().selectedRows()
        return rows[0].data(JOB_ROLE) if rows else None

    def select_job(self, job_id: int) -> None:
        model = self.model()
        for row in range(model.rowCount()):
            index = model.index(row, 0)
            if index.data(JOB_ROLE)["id"] == job_id:
                self.selectRow(row)
                return

    def _on_double_click(self, index: QModelIndex) -> None:
        self.job_activated.emit(int(index.data(JOB_ROLE)["id"]))

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if self.model().rowCount() == 0:
            # An empty table says nothing; a hint says what would fill it.
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().placeholderText().color())
            painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter, EMPTY_HINT)
            painter.end()
