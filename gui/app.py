"""`fairscribe-gui`: the desktop client's entry point, and the one place its parts are put together."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from fairscribe.gui.icon import app_icon
from fairscribe.gui.listener import BACKOFF
from fairscribe.gui.notify import Notifier
from fairscribe.gui.session import Session
from fairscribe.gui.target import load_target
from fairscribe.gui.tray import Tray
from fairscribe.gui.window import MainWindow
from fairscribe.shared.config import APP_NAME


@dataclass
class Gui:
    session: Session
    window: MainWindow
    tray: Tray
    notifier: Notifier

    def close(self) -> None:
        self.tray.hide()
        self.session.stop()


def assemble(store: QSettings, *, backoff: Sequence[float] = BACKOFF) -> Gui:
    """Session, window, tray and notifier, wired; the session is started, the window not shown."""
    icon = app_icon()
    session = Session(load_target(store), backoff=backoff)
    window = MainWindow(session, icon, store)
    tray = Tray(icon, window.commands, window)
    window.hide_on_close = tray.available
    notifier = Notifier(tray, window.notices, lambda: session.user, window.show_failed_files, window)
    session.events_arrived.connect(notifier.take)
    window.target_changed.connect(notifier.forget)
    session.status_changed.connect(lambda status: tray.set_tooltip(f"fairscribe — {status.link}"))
    session.start()
    return Gui(session, window, tray, notifier)


def main(argv: Sequence[str] | None = None) -> int:
    app = QApplication(list(argv) if argv is not None else sys.argv)
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setDesktopFileName(APP_NAME)  # matches packaging/fairscribe.desktop, so Wayland finds the icon
    gui = assemble(QSettings())
    # With a tray icon, closing the window leaves the client running there; Quit ends it.
    app.setQuitOnLastWindowClosed(not gui.tray.available)
    gui.window.show()
    try:
        return app.exec()
    finally:
        gui.close()


if __name__ == "__main__":
    sys.exit(main())
