"""The window and tray always have an icon: the packaged SVG, or the same drawing painted."""

from __future__ import annotations

from fairscribe.gui.icon import SVG, app_icon, painted_icon


def test_the_icon_is_the_svg_in_a_checkout_and_painted_otherwise(qtbot) -> None:
    assert SVG.is_file()
    assert not app_icon().pixmap(32, 32).isNull()
    painted = painted_icon().pixmap(32, 32).toImage()
    assert painted.pixelColor(16, 4).blue() > 150  # the blue tile …
    assert painted.pixelColor(0, 0).alpha() == 0  # … with rounded corners
