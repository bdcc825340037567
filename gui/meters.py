"""The meters panel: how the daemon's workers are shared right now, and how far the caller's work is.

The caller gets bars (running workers against their fair share; files ended against files
submitted); everyone else appears as counts only, which is all the daemon shares about other
people. Widgets are made once and only their texts and values change, so a panel refreshed every
second neither flickers nor loses its layout.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFrame, QLabel, QProgressBar, QSizePolicy, QVBoxLayout, QWidget

from fairscribe.gui import format as fmt


def _bar() -> QProgressBar:
    bar = QProgressBar()
    bar.setTextVisible(True)
    bar.setMinimumWidth(200)
    return bar


def _label(text: str = "", *, muted: bool = False, bold: bool = False) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    if muted:
        palette = label.palette()
        palette.setColor(QPalette.ColorRole.WindowText, palette.color(QPalette.ColorRole.PlaceholderText))
        label.setPalette(palette)
    if bold:
        font = label.font()
        font.setBold(True)
        label.setFont(font)
    return label


def pools_line(meters: dict[str, Any]) -> str:
    pools = meters.get("pools", [])
    busy = sum(int(p.get("running", 0)) for p in pools)
    parts = [f"{p['name']} {p.get('running', 0)} of {p.get('capacity', 0)}" for p in pools]
    return f"{busy} of {meters.get('workers', 0)} workers busy · " + " · ".join(parts) if parts else "no worker pools"


def other_line(user: dict[str, Any]) -> str:
    """One other person, in counts only."""
    if user.get("waiting"):
        doing = "waiting for a turn"
    else:
        doing = f"{user.get('running', 0)} running (fair share {fmt.share(float(user.get('share', 0)))})"
    ended = fmt.finished_count(user)
    return f"{user['user']} — {doing} · {fmt.number(ended)} of {fmt.number(int(user.get('total', 0)))} files"


class MetersPanel(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        layout = QVBoxLayout(self)
        layout.addWidget(_label("Workers", bold=True))
        self.pools = _label("Waiting for the daemon…", muted=True)
        layout.addWidget(self.pools)
        layout.addSpacing(8)

        self.you = _label("You", bold=True)
        layout.addWidget(self.you)
        self.workers = _bar()
        self.workers.setToolTip("Workers transcribing your files now, against your fair share of them")
        layout.addWidget(self.workers)
        self.completion = _bar()
        self.completion.setToolTip("Your files that have ended (done, failed or cancelled), of all you submitted")
        layout.addWidget(self.completion)
        self.your_note = _label(muted=True)
        layout.addWidget(self.your_note)
        layout.addSpacing(8)

        layout.addWidget(_label("Others", bold=True))
        self.others = _label(muted=True)
        layout.addWidget(self.others)
        layout.addStretch(1)
        self.clear()

    def clear(self) -> None:
        """Back to the state before any meters arrived (a new daemon was chosen)."""
        self.pools.setText("Waiting for the daemon…")
        self._show_you(None)
        self.others.setText("No one else is transcribing.")

    def show_meters(self, meters: dict[str, Any], me: str | None) -> None:
        users = meters.get("users", [])
        self.pools.setText(pools_line(meters))
        mine = next((u for u in users if u["user"] == me), None)
        self.you.setText(f"You ({me})" if me else "You")
        self._show_you(mine)
        others = [other_line(u) for u in users if u["user"] != me]
        self.others.setText("\n".join(others) if others else "No one else is transcribing.")

    def _show_you(self, mine: dict[str, Any] | None) -> None:
        active = mine is not None and int(mine.get("total", 0)) > 0
        self.workers.setVisible(active)
        self.completion.setVisible(active)
        if mine is None or not active:
            self.your_note.setText("Nothing of yours is queued. Submit folder… to start a batch.")
            self.your_note.show()
            return
        running = int(mine.get("running", 0))
        share = float(mine.get("share", 0.0))
        self.workers.setRange(0, max(math.ceil(share), running, 1))
        self.workers.setValue(running)
        cap = f" · cap {mine['cap']}" if mine.get("cap") else ""
        self.workers.setFormat(f"{running} running · fair share {fmt.share(share)}{cap}")
        total = int(mine.get("total", 0))
        ended = fmt.finished_count(mine)
        self.completion.setRange(0, total)
        self.completion.setValue(ended)
        remaining = int(mine.get("queued", 0)) + running
        eta = f" · ETA {fmt.duration(mine.get('eta_seconds'))}" if remaining else ""
        self.completion.setFormat(f"{fmt.number(ended)} of {fmt.number(total)} files{eta}")
        notes = []
        if mine.get("waiting"):
            notes.append("Waiting for a turn: the daemon serves a limited number of people at once.")
        if mine.get("failed"):
            notes.append(f"{fmt.number(int(mine['failed']))} failed — see Failed files…")
        self.your_note.setText("\n".join(notes))
        self.your_note.setVisible(bool(notes))
