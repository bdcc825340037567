"""The tray icon: the window's own actions in a menu, and the place notifications appear.

The menu holds the very QAction objects of the window's toolbar, so an entry is enabled exactly when
its button is. Where the desktop has no tray (`isSystemTrayAvailable()` is false), nothing is shown
and `available` tells the notifier to use the window instead.
"""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from fairscribe.gui.actions import Actions

NOTIFICATION_MS = 8000


class Tray(QObject):
    def __init__(self, icon: QIcon, actions: Actions, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.available = QSystemTrayIcon.isSystemTrayAvailable()
        self._icon: QSystemTrayIcon | None = None
        if not self.available:
            return
        menu = QMenu()
        menu.addAction(actions.show_window)
        menu.addAction(actions.submit)
        menu.addSeparator()
        for action in actions.job_actions():
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(actions.connection)
        menu.addAction(actions.quit)
        self._menu = menu  # a QMenu without a parent lives only as long as a reference to it
        self._icon = QSystemTrayIcon(icon, self)
        self._icon.setToolTip("fairscribe")
        self._icon.setContextMenu(menu)
        self._icon.activated.connect(self._on_activated)
        self._show_window = actions.show_window
        self._icon.show()

    def set_tooltip(self, text: str) -> None:
        if self._icon is not None:
            self._icon.setToolTip(text)

    def notify(self, title: str, text: str, *, warning: bool = False) -> None:
        if self._icon is not None:
            kind = QSystemTrayIcon.MessageIcon.Warning if warning else QSystemTrayIcon.MessageIcon.Information
            self._icon.showMessage(title, text, kind, NOTIFICATION_MS)

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self._show_window.trigger()

    def hide(self) -> None:
        if self._icon is not None:
            self._icon.hide()
