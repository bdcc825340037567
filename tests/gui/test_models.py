"""The jobs model on its own: changed rows only, one dataChanged per span, queue order; and wording."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex

from fairscribe.gui import format as fmt
from fairscribe.gui.jobs_view import JobsView
from fairscribe.gui.models import JOB_ROLE, Column, JobTableModel, QueueOrder


def job(job_id: int, **fields: Any) -> dict[str, Any]:
    base = {
        "id": job_id,
        "state": "active",
        "dir": f"/audio/batch{job_id}",
        "total": 10,
        "done": 0,
        "failed": 0,
        "cancelled": 0,
        "running": 0,
        "queued": 10,
        "position": float(job_id),
        "eta_seconds": 30.0,
    }
    return {**base, **fields}


def test_only_changed_rows_are_signalled_one_span_at_a_time(qtbot) -> None:
    model = JobTableModel()
    model.update([job(i) for i in range(1, 7)])
    spans: list[tuple[int, int]] = []
    model.dataChanged.connect(lambda first, last, _roles=(): spans.append((first.row(), last.row())))

    model.update([job(i) for i in range(1, 7)])
    assert spans == []  # nothing shown changed: nothing repaints

    model.update([job(1), job(2, done=3), job(3, done=1), job(4), job(5, failed=1), job(6, eta_seconds=30.3)])
    assert spans == [(1, 2), (4, 4)]  # job 6's ETA still reads "30 s": not a change a person could see


def test_new_jobs_are_inserted_and_vanished_ones_removed(qtbot) -> None:
    model = JobTableModel()
    model.update([job(1), job(2)])
    inserted: list[tuple[int, int]] = []
    removed: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _parent, first, last: inserted.append((first, last)))
    model.rowsRemoved.connect(lambda _parent, first, last: removed.append((first, last)))
    model.update([job(2), job(3), job(4)])
    assert removed == [(0, 0)] and inserted == [(1, 2)]
    assert [model.index(row, Column.ID).data() for row in range(model.rowCount())] == ["2", "3", "4"]
    assert model.index(0, Column.PROGRESS).data(JOB_ROLE)["id"] == 2


def test_the_view_shows_live_jobs_in_queue_order_then_ended_ones_newest_first(qtbot) -> None:
    model = JobTableModel()
    queue = QueueOrder(model)
    model.update(
        [
            job(1, state="done", done=10, queued=0),
            job(2, position=5.0),
            job(3, position=1.0),
            job(4, state="cancelled", cancelled=10, queued=0),
        ]
    )

    def order() -> list[str]:
        return [queue.index(row, Column.ID).data() for row in range(queue.rowCount(QModelIndex()))]

    assert order() == ["3", "2", "4", "1"]
    ended = [job(1, state="done", done=10, queued=0), job(4, state="cancelled", cancelled=10, queued=0)]
    model.update([*ended, job(2, position=0.5), job(3, position=1.0)])  # job 2 moved up
    assert order() == ["2", "3", "4", "1"]
    model.update([*ended, job(2, state="done", done=10, queued=0), job(3)])  # job 2 ended: newest ended first
    assert order() == ["3", "4", "2", "1"]


def test_the_selection_follows_its_job_when_the_queue_reorders(qtbot) -> None:
    model = JobTableModel()
    view = JobsView(QueueOrder(model))
    qtbot.addWidget(view)
    model.update([job(1), job(2)])
    view.select_job(2)
    model.update([job(1, position=2.0), job(2, position=1.0)])  # job 2 moved up: now the first row
    assert view.model().index(0, Column.ID).data() == "2"
    assert view.selected_job()["id"] == 2


def test_wording() -> None:
    assert fmt.finished_message(7, {"state": "failed", "total": 1000, "done": 998, "failed": 2}) == (
        "job 7 done: 998 of 1,000, 2 failed"
    )
    assert fmt.finished_message(8, {"state": "cancelled", "total": 50, "done": 20, "cancelled": 30}) == (
        "job 8 cancelled: 20 of 50 done, 30 cancelled"
    )
    assert [fmt.duration(s) for s in (None, 0.4, 45, 200, 7500)] == ["—", "1 s", "45 s", "3 min 20 s", "2 h 05 min"]
    assert fmt.state(job(1, running=2)) == "running"
    assert fmt.state(job(1, state="failed", done=9, failed=1)) == "done with failures"
    assert fmt.progress(job(1, done=3, failed=1, cancelled=1)) == "5 of 10"
