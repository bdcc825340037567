"""The jobs table's model: the caller's jobs, updated in place from the daemon's job list.

A fresh job list arrives about once a second while work runs. Rebuilding the model each time would
reset the selection and repaint every row, so `update` compares what each row shows (and where it
stands in the queue) and emits one `dataChanged` per contiguous span of changed rows; new jobs are
inserted, vanished ones removed.
Rows stay in arrival order here; `QueueOrder` presents them in the order the daemon works on them.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)

from fairscribe.gui import format as fmt

Index = QModelIndex | QPersistentModelIndex

JOB_ROLE = Qt.ItemDataRole.UserRole + 1
"""The whole job dict, for the progress delegate and the actions."""


class Column(IntEnum):
    ID = 0
    FOLDER = 1
    STATE = 2
    PROGRESS = 3
    DONE = 4
    FAILED = 5
    ETA = 6


HEADERS = {
    Column.ID: "Job",
    Column.FOLDER: "Folder",
    Column.STATE: "State",
    Column.PROGRESS: "Progress",
    Column.DONE: "Done",
    Column.FAILED: "Failed",
    Column.ETA: "ETA",
}
NUMERIC = frozenset({Column.ID, Column.DONE, Column.FAILED, Column.ETA})


def cells(job: dict[str, Any]) -> tuple[str, ...]:
    """What a row shows, column by column."""
    return (
        str(job["id"]),
        fmt.folder(str(job.get("dir", ""))),
        fmt.state(job),
        fmt.progress(job),
        fmt.number(int(job.get("done", 0))),
        fmt.number(int(job.get("failed", 0))),
        fmt.eta(job),
    )


def queue_key(job: dict[str, Any]) -> tuple[int, float, int]:
    """Live jobs first, in the order the daemon works on them (which Move up/down changes), then
    ended ones, newest first."""
    if fmt.is_live(job):
        return (0, float(job.get("position") or 0.0), int(job["id"]))
    return (1, -float(job["id"]), 0)


class JobTableModel(QAbstractTableModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._jobs: list[dict[str, Any]] = []
        self._cells: list[tuple[str, ...]] = []
        self._keys: list[tuple[int, float, int]] = []
        """Each row's queue_key: a job that moved in the queue changed, though it shows the same."""

    # Updates ---------------------------------------------------------------------------------

    def update(self, jobs: list[dict[str, Any]]) -> None:
        """Take the daemon's whole job list for this user."""
        fresh = {int(job["id"]): job for job in jobs}
        for row in reversed(range(len(self._jobs))):
            if int(self._jobs[row]["id"]) not in fresh:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._jobs[row], self._cells[row], self._keys[row]
                self.endRemoveRows()
        changed: list[int] = []
        for row, job in enumerate(self._jobs):
            new = fresh.pop(int(job["id"]))
            self._jobs[row] = new
            new_cells, new_key = cells(new), queue_key(new)
            if (new_cells, new_key) != (self._cells[row], self._keys[row]):
                self._cells[row], self._keys[row] = new_cells, new_key
                changed.append(row)
        self._emit_spans(changed)
        if fresh:
            first = len(self._jobs)
            self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
            for job in sorted(fresh.values(), key=lambda j: int(j["id"])):
                self._jobs.append(job)
                self._cells.append(cells(job))
                self._keys.append(queue_key(job))
            self.endInsertRows()

    def _emit_spans(self, rows: list[int]) -> None:
        """One dataChanged per run of consecutive rows: few signals, and only changed rows repaint."""
        spans: list[list[int]] = []
        for row in rows:
            if spans and row == spans[-1][1] + 1:
                spans[-1][1] = row
            else:
                spans.append([row, row])
        for first, last in spans:
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(Column) - 1))

    # Reading ---------------------------------------------------------------------------------

    def job_at(self, row: int) -> dict[str, Any]:
        return self._jobs[row]

    def job(self, job_id: int) -> dict[str, Any] | None:
        return next((job for job in self._jobs if job["id"] == job_id), None)

    def jobs(self) -> list[dict[str, Any]]:
        return list(self._jobs)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's own signature
        return 0 if parent.isValid() else len(self._jobs)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        job = self._jobs[index.row()]
        column = Column(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return self._cells[index.row()][column]
        if role == JOB_ROLE:
            return job
        if role == Qt.ItemDataRole.TextAlignmentRole and column in NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(job, column)
        return None

    def _tooltip(self, job: dict[str, Any], column: Column) -> str | None:
        if column == Column.FOLDER:
            out = job.get("out")
            return f"{job.get('dir')}\ntranscripts → {out}" if out else str(job.get("dir"))
        if column == Column.STATE and job.get("error"):
            return str(job["error"])
        if column == Column.FAILED and job.get("failed"):
            return "Failed files… shows each file's reason"
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[Column(section)]
        if role == Qt.ItemDataRole.TextAlignmentRole:  # a header sits over its numbers
            side = Qt.AlignmentFlag.AlignRight if section in NUMERIC else Qt.AlignmentFlag.AlignLeft
            return int(side | Qt.AlignmentFlag.AlignVCenter)
        return None


class QueueOrder(QSortFilterProxyModel):
    """Presents the jobs in queue order and re-sorts as they move or end, keeping the selection."""

    def __init__(self, source: JobTableModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._source = source
        self.setSourceModel(source)
        self.setDynamicSortFilter(True)
        self.sort(0)

    def lessThan(self, left: Index, right: Index) -> bool:
        return queue_key(self._source.job_at(left.row())) < queue_key(self._source.job_at(right.row()))
