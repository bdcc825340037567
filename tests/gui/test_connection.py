"""The window's account of its daemon: it notices losing it, reconnects by itself and catches up on
what it missed, and offers to start a local one when none answers at all."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton, QWidget

from fairscribe.gui.app import Gui
from fairscribe.shared import autostart
from tests.support.daemon import DaemonProcess, make_fake_audio, wait_for_job


def only_job(gui: Gui) -> dict[str, Any]:
    jobs = gui.window.model.jobs()
    assert len(jobs) == 1
    return jobs[0]


def test_a_lost_daemon_is_shown_and_the_window_catches_up_after_it_returns(
    qtbot, tmp_path: Path, daemon: DaemonProcess, open_gui: Callable[..., Gui], shoot: Callable[[QWidget, str], Path]
) -> None:
    folder = tmp_path / "lectures"
    make_fake_audio(folder, 24)
    # Quick first retries, then a long wait: long enough for the batch to end while the window is away.
    gui = open_gui(daemon.socket, backoff=(0.3, 0.6, 6.0))
    window = gui.window
    notified: list[str] = []
    gui.notifier.notified.connect(lambda _job_id, text: notified.append(text))
    qtbot.waitUntil(lambda: gui.session.status.responding, timeout=5000)
    window.submit_folder(str(folder))
    qtbot.waitUntil(lambda: len(window.model.jobs()) == 1 and only_job(gui)["done"] >= 4, timeout=5000)
    job_id = only_job(gui)["id"]

    daemon.kill9()
    qtbot.waitUntil(lambda: "not responding — retrying in" in window.status_line.text(), timeout=5000)
    assert not window.table.isEnabled() and not window.commands.pause.isEnabled()
    assert window.retry_now.isVisible()
    shoot(window, "daemon-not-responding")

    qtbot.waitUntil(lambda: gui.session.status.retry_in == 6.0, timeout=5000)
    daemon.start()
    with daemon.client() as client:
        assert wait_for_job(client, job_id, timeout=20)["state"] == "done"

    # By itself, at its next attempt: reconnected, replayed the batch's end, and caught up.
    qtbot.waitUntil(lambda: gui.session.status.responding, timeout=10000)
    qtbot.waitUntil(lambda: only_job(gui)["state"] == "done", timeout=5000)
    # The window repaints on a coalescing timer: wait for it rather than racing it.
    qtbot.waitUntil(lambda: window.table.isEnabled() and not window.retry_now.isVisible(), timeout=5000)
    assert "· responding" in window.status_line.text()
    qtbot.waitUntil(lambda: len(notified) == 1, timeout=5000)
    assert notified == [f"job {job_id} done: 24 of 24"]
    shoot(window, "reconnected")


def test_with_no_daemon_the_window_offers_to_start_a_local_one(
    qtbot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    open_gui: Callable[..., Gui],
    shoot: Callable[[QWidget, str], Path],
) -> None:
    home = tmp_path / "fresh-home"
    for name in (
        "FAIRSCRIBE_SOCKET",
        "FAIRSCRIBE_LISTEN",
        "FAIRSCRIBE_TOKEN",
        "FAIRSCRIBE_DATABASE_URL",
        "ASSEMBLYAI_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FAIRSCRIBE_HOME", str(home))
    monkeypatch.setenv("FAIRSCRIBE_ENGINE", "simulated")
    started: list[subprocess.Popen[bytes]] = []
    real_popen = subprocess.Popen

    def recording_popen(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        process = real_popen(*args, **kwargs)
        started.append(process)  # the daemon detaches from us; this is how the test stops it
        return process

    monkeypatch.setattr(autostart.subprocess, "Popen", recording_popen)
    gui = open_gui(home / "fairscribed.sock")
    window = gui.window
    qtbot.waitUntil(lambda: window.notices.text("daemon") is not None, timeout=5000)
    assert window.notices.text("daemon") == f"No fairscribe daemon answers at {home / 'fairscribed.sock'}."
    assert not window.commands.submit.isEnabled()
    shoot(window, "no-daemon")

    start = next(b for b in window.notices.findChildren(QPushButton) if b.text() == "Start a local daemon")
    try:
        qtbot.mouseClick(start, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: gui.session.status.responding, timeout=30000)
        qtbot.waitUntil(lambda: window.notices.text("daemon-started") is not None, timeout=5000)
        assert f"pid {started[0].pid}" in window.notices.text("daemon-started")
        assert window.notices.text("daemon") is None
        qtbot.waitUntil(window.commands.submit.isEnabled, timeout=5000)
    finally:
        for process in started:
            process.terminate()
            process.wait(15)
