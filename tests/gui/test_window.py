"""The window against a real daemon: a batch runs to its end in the table, the meters move, the job's
actions work, and the single notification is raised once."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QWidget

from fairscribe.gui.app import Gui
from fairscribe.gui.models import Column
from tests.support.daemon import WAV_HEADER, DaemonProcess, make_fake_audio


def only_job(gui: Gui) -> dict[str, Any]:
    jobs = gui.window.model.jobs()
    assert len(jobs) == 1
    return jobs[0]


def shown(gui: Gui, row: int, column: Column) -> str:
    """What the table shows in a cell, in the view's (queue) order."""
    return str(gui.window.table.model().index(row, column).data())


def test_a_submitted_batch_runs_to_done_with_meters_and_one_notification(
    qtbot, tmp_path: Path, daemon: DaemonProcess, open_gui: Callable[..., Gui], shoot: Callable[[QWidget, str], Path]
) -> None:
    folder = tmp_path / "interviews"
    make_fake_audio(folder, 12, directive=b"sim:seconds=0.4")  # slow enough to watch
    (folder / "broken.wav").write_bytes(WAV_HEADER + b"sim:raise")
    gui = open_gui(daemon.socket)
    window = gui.window
    qtbot.waitUntil(lambda: "responding" in window.status_line.text(), timeout=5000)
    notified: list[tuple[int, str]] = []
    gui.notifier.notified.connect(lambda job_id, text: notified.append((job_id, text)))

    window.submit_folder(str(folder), out=str(tmp_path / "out"), formats=["txt", "srt"])
    qtbot.waitUntil(lambda: len(window.model.jobs()) == 1, timeout=5000)
    assert shown(gui, 0, Column.FOLDER) == "interviews"
    qtbot.waitUntil(lambda: window.table.selected_job() is not None, timeout=5000)  # ready for its actions

    # While the batch runs, the meters show this user's running workers against their fair share.
    workers = window.meters.workers

    def running_shown() -> bool:
        match = re.fullmatch(r"(\d+) running · fair share \d+", workers.format())
        return workers.isVisible() and match is not None and int(match[1]) == workers.value() > 0

    qtbot.waitUntil(running_shown, timeout=5000)
    qtbot.waitUntil(lambda: shown(gui, 0, Column.STATE) == "running", timeout=5000)
    assert window.meters.you.text() == f"You ({gui.session.user})"
    shoot(window, "running-batch")

    qtbot.waitUntil(lambda: only_job(gui)["state"] == "failed", timeout=30000)
    assert (shown(gui, 0, Column.STATE), shown(gui, 0, Column.PROGRESS)) == ("done with failures", "13 of 13")
    assert (shown(gui, 0, Column.DONE), shown(gui, 0, Column.FAILED), shown(gui, 0, Column.ETA)) == ("12", "1", "")
    qtbot.waitUntil(lambda: len(notified) == 1, timeout=5000)
    job_id = only_job(gui)["id"]
    assert notified == [(job_id, f"job {job_id} done: 12 of 13, 1 failed")]
    # No tray offscreen: the notification is an in-window notice instead.
    assert window.notices.text(f"finished-{job_id}") == f"Job {job_id} done: 12 of 13, 1 failed."
    shoot(window, "finished-batch")

    window.commands.failed_files.trigger()
    qtbot.waitUntil(lambda: window._failures is not None and window._failures.table.rowCount() == 1, timeout=5000)
    dialog = window._failures
    assert dialog.table.item(0, 0).text() == "broken.wav"
    assert "told to fail" in dialog.table.item(0, 2).text()
    shoot(dialog, "failed-files")
    dialog.close()

    qtbot.wait(1500)  # more pushes arrive; none may announce the batch again
    assert len(notified) == 1


def test_pause_resume_cancel_retry_and_reorder_act_on_the_selected_job(
    qtbot, tmp_path: Path, daemon: DaemonProcess, open_gui: Callable[..., Gui]
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    make_fake_audio(first, 60)
    make_fake_audio(second, 60)
    gui = open_gui(daemon.socket)
    window, commands = gui.window, gui.window.commands
    qtbot.waitUntil(commands.submit.isEnabled, timeout=5000)
    window.submit_folder(str(first))
    qtbot.waitUntil(lambda: len(window.model.jobs()) == 1, timeout=5000)
    window.submit_folder(str(second))
    qtbot.waitUntil(lambda: len(window.model.jobs()) == 2, timeout=5000)
    qtbot.waitUntil(lambda: (window.table.selected_job() or {}).get("dir") == str(second), timeout=5000)

    def state_of(folder: Path) -> str:
        return next(j["state"] for j in window.model.jobs() if j["dir"] == str(folder))

    # The second job is selected (just submitted); Move up puts it first in the queue, and in the table.
    qtbot.waitUntil(commands.move_up.isEnabled, timeout=5000)
    commands.move_up.trigger()
    qtbot.waitUntil(lambda: shown(gui, 0, Column.FOLDER) == "second", timeout=5000)
    assert window.table.selected_job()["dir"] == str(second)  # the selection follows the row

    commands.pause.trigger()
    qtbot.waitUntil(lambda: state_of(second) == "paused" and commands.resume.isEnabled(), timeout=5000)
    assert not commands.pause.isEnabled()
    commands.resume.trigger()
    qtbot.waitUntil(lambda: state_of(second) == "active", timeout=5000)
    qtbot.waitUntil(commands.cancel.isEnabled, timeout=5000)
    commands.cancel.trigger()
    qtbot.waitUntil(lambda: state_of(second) == "cancelled", timeout=5000)
    assert shown(gui, 1, Column.FOLDER) == "second"  # an ended job sinks below the live one

    qtbot.waitUntil(commands.retry.isEnabled, timeout=5000)
    commands.retry.trigger()  # cancelled files are queued again
    qtbot.waitUntil(lambda: state_of(second) == "active", timeout=5000)

    # A refused command says why, in the window.
    window.submit_folder(str(tmp_path / "missing"))
    qtbot.waitUntil(lambda: window.notices.text("error") is not None, timeout=5000)
    assert str(tmp_path / "missing") in window.notices.text("error")
