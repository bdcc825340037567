"""The application icon: the installed theme icon, else packaging/fairscribe.svg from a source
checkout, else the same drawing painted here, so the window and tray never go without one."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QLinearGradient, QPainter, QPen, QPixmap

SVG = Path(__file__).resolve().parent.parent / "packaging" / "fairscribe.svg"
"""Where the icon sits in a source checkout (an editable install runs from one). A wheel carries no
packaging/ folder: there the installed theme icon or the painted one stands in."""

_WAVE = ((12, 27, 37), (20, 17, 47), (28, 23, 41))
_TEXT = ((22, 52), (32, 52), (42, 47))


def app_icon() -> QIcon:
    themed = QIcon.fromTheme("fairscribe")
    if not themed.isNull():
        return themed
    if SVG.is_file():
        from_file = QIcon(str(SVG))
        if not from_file.pixmap(32, 32).isNull():  # an SVG needs Qt's svg plugin to render
            return from_file
    return painted_icon()


def painted_icon() -> QIcon:
    """packaging/fairscribe.svg redrawn with QPainter on its 64-unit grid, at the usual sizes."""
    icon = QIcon()
    for size in (16, 32, 64, 128):
        icon.addPixmap(_paint(size))
    return icon


def _paint(size: int) -> QPixmap:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.scale(size / 64, size / 64)
    gradient = QLinearGradient(0, 2, 0, 62)
    gradient.setColorAt(0, QColor("#3b6fe0"))
    gradient.setColorAt(1, QColor("#2448a8"))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(gradient)
    painter.drawRoundedRect(QRectF(2, 2, 60, 60), 14, 14)
    for colour, lines in (
        ("#ffffff", [((x, top), (x, bottom)) for x, top, bottom in _WAVE]),
        ("#ffd166", [((38, y), (end, y)) for y, end in _TEXT]),
    ):
        painter.setPen(QPen(QColor(colour), 4, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        for start, end in lines:
            painter.drawLine(QPointF(*start), QPointF(*end))
    painter.end()
    return pixmap
