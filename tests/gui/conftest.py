"""The desktop client against a real daemon, on Qt's offscreen platform (no display needed)."""

from __future__ import annotations

import os

# Before anything creates the QApplication: a CI machine has no display, and a developer's own
# desktop should not flash windows at them while the tests run.
os.environ["QT_QPA_PLATFORM"] = "offscreen"

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QWidget

from fairscribe.gui.app import Gui, assemble
from fairscribe.gui.target import save_target
from fairscribe.shared.config import ClientSettings
from tests.support.daemon import DaemonProcess

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    """A daemon whose simulated files take long enough (0.15 s, 4 workers) to watch a batch run."""
    process = DaemonProcess(tmp_path / "home", env={"FAIRSCRIBE_SIMULATED_SECONDS": "0.15", "FAIRSCRIBE_WORKERS": "4"})
    process.start()
    yield process
    process.stop()


@pytest.fixture
def store(tmp_path: Path) -> QSettings:
    """The GUI's settings in the test's own file, never the developer's real ones."""
    return QSettings(str(tmp_path / "fairscribe-gui.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def open_gui(qtbot, store: QSettings) -> Iterator[Callable[..., Gui]]:
    """Open the whole client (session, window, tray, notifier) on a socket; closed at the end."""
    opened: list[Gui] = []

    def open_on(socket: Path, **options: object) -> Gui:
        save_target(store, ClientSettings(socket=socket, address=None, token=None))
        gui = assemble(store, **options)  # type: ignore[arg-type]
        qtbot.addWidget(gui.window)
        gui.window.show()
        opened.append(gui)
        return gui

    yield open_on
    for gui in opened:
        gui.close()


@pytest.fixture
def shoot(qtbot) -> Callable[[QWidget, str], Path]:
    """Save a screenshot into tests/artifacts/ for a person to look at."""

    def save(widget: QWidget, name: str) -> Path:
        qtbot.wait(50)  # let pending layout requests run, as the next frame on a screen would
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        assert widget.grab().save(str(path))
        return path

    return save
