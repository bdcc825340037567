"""In-window notices: banners above the table for what needs a person's attention or a choice.

Each notice has a key, so a situation that recurs (the daemon still not answering) updates its one
banner instead of stacking copies. They carry their own buttons ("Start a local daemon") and a close
button; the area takes no room when empty.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QVBoxLayout, QWidget

Action = tuple[str, Callable[[], None]]


class Kind(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


_COLOURS = {  # background, border, text: light tints that read on light and dark themes alike
    Kind.INFO: ("#e8f0fe", "#9bb7ee", "#173a80"),
    Kind.WARNING: ("#fff4e0", "#f0c27a", "#6b3d00"),
    Kind.ERROR: ("#fdecea", "#eaa39b", "#7f1d1d"),
}


class Notice(QFrame):
    def __init__(self, text: str, kind: Kind, actions: Sequence[Action], on_close: Callable[[], None]) -> None:
        super().__init__()
        self.setObjectName("notice")
        self.kind = kind
        background, border, ink = _COLOURS[kind]
        self.setStyleSheet(
            f"QFrame#notice {{ background: {background}; border: 1px solid {border}; border-radius: 4px; }}"
            f" QFrame#notice QLabel {{ color: {ink}; }}"
        )
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        self.label = QLabel(text)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.label, 1)
        for caption, callback in actions:
            button = QPushButton(caption)
            button.clicked.connect(callback)
            layout.addWidget(button)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(on_close)
        layout.addWidget(close)

    @property
    def text(self) -> str:
        return self.label.text()


class NoticeArea(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(6, 6, 6, 0)
        self._notices: dict[str, Notice] = {}
        self.hide()

    def show_notice(self, key: str, text: str, kind: Kind = Kind.INFO, actions: Sequence[Action] = ()) -> None:
        """Show `text` under `key`, replacing what that key showed before. A key keeps its buttons,
        so a notice repeated with new words is updated in place rather than rebuilt (no flicker)."""
        current = self._notices.get(key)
        if current is not None and current.kind == kind:
            current.label.setText(text)
            return
        self.dismiss(key)
        notice = Notice(text, kind, actions, lambda: self.dismiss(key))
        self._notices[key] = notice
        self._layout.addWidget(notice)
        self.show()

    def dismiss(self, key: str) -> None:
        notice = self._notices.pop(key, None)
        if notice is not None:
            notice.hide()
            notice.deleteLater()
        if not self._notices:
            self.hide()

    def text(self, key: str) -> str | None:
        notice = self._notices.get(key)
        return notice.text if notice is not None else None
