"""The systemd unit, the desktop entry, the icon and packaging/README.md."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path, PurePosixPath

import pytest

from tests.packaging import files
from tests.packaging.files import PACKAGING

SVG = "{http://www.w3.org/2000/svg}"


# systemd unit -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def unit() -> dict[str, list[tuple[str, str]]]:
    return files.parse_ini(files.SERVICE_UNIT.read_text())


def unit_environment(service: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for key, value in service:
        if key == "Environment":
            for word in re.findall(r'"[^"]*"|\S+', value):
                name, _, setting = word.strip('"').partition("=")
                env[name] = setting
    return env


def test_unit_starts_the_daemons_console_script(unit: dict[str, list[tuple[str, str]]]) -> None:
    service = unit["Service"]
    exec_start = files.first(service, "ExecStart")
    assert exec_start, "no ExecStart"
    program = PurePosixPath(exec_start.split()[0].lstrip("@-:+!"))
    assert program.name == "fairscribed" and program.name in files.console_scripts()
    assert program.is_absolute()
    assert files.first(service, "Type") in (None, "simple", "exec")
    assert files.first(service, "Restart") in ("on-failure", "always", "on-abnormal")
    assert files.first(unit["Install"], "WantedBy") == "multi-user.target"


def test_unit_runs_as_a_dedicated_user_with_its_own_directories(unit: dict[str, list[tuple[str, str]]]) -> None:
    service = unit["Service"]
    assert files.first(service, "User") not in (None, "root", "0")
    env = unit_environment(service)
    state, runtime = files.first(service, "StateDirectory"), files.first(service, "RuntimeDirectory")
    assert state and env["FAIRSCRIBE_HOME"] == f"/var/lib/{state}"
    assert runtime and PurePosixPath(env["FAIRSCRIBE_SOCKET"]).parent == PurePosixPath(f"/run/{runtime}")
    assert env.get("FAIRSCRIBE_SOCKET_GROUP") == files.first(service, "Group")
    assert "ProtectHome" not in dict(service), "the daemon writes transcripts into people's folders"
    read = files.daemon_env_vars()
    assert set(env) <= read, f"Environment= sets {sorted(set(env) - read)}, which the daemon never reads"


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    # ExecStart must name an executable that exists: point it at this checkout's fairscribed.
    installed = Path(sys.executable).parent / "fairscribed"
    if not installed.exists():
        pytest.skip("fairscribed is not installed next to this Python")
    text = re.sub(r"(?m)^ExecStart=\S+", f"ExecStart={installed}", files.SERVICE_UNIT.read_text())
    copy = tmp_path / files.SERVICE_UNIT.name
    copy.write_text(text)
    result = subprocess.run([tool, "verify", str(copy)], capture_output=True, text=True, check=False, timeout=60)
    problems = [line for line in (result.stdout + result.stderr).splitlines() if copy.name in line or "Unknown" in line]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr


# desktop entry ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def entry() -> dict[str, str]:
    groups = files.parse_ini(files.DESKTOP_FILE.read_text())
    assert next(iter(groups)) == "Desktop Entry"
    pairs = groups["Desktop Entry"]
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), "a key appears twice"
    return dict(pairs)


def test_desktop_entry_keys(entry: dict[str, str]) -> None:
    assert entry["Type"] == "Application"
    assert entry["Name"]
    assert entry["Exec"].split()[0] == "fairscribe-gui"
    assert entry.get("TryExec", "fairscribe-gui") == "fairscribe-gui"
    assert entry["Icon"] == files.ICON.stem, "Icon names the icon installed from packaging/"
    assert entry.get("Terminal", "false") == "false"
    categories = entry["Categories"]
    assert categories.endswith(";")
    main = {
        "AudioVideo",
        "Audio",
        "Video",
        "Development",
        "Education",
        "Game",
        "Graphics",
        "Network",
        "Office",
        "Science",
        "Settings",
        "System",
        "Utility",
    }
    assert main & set(categories.split(";")), categories
    if "Version" in entry:
        assert entry["Version"] in ("1.0", "1.1", "1.2", "1.3", "1.4", "1.5")


def test_desktop_entry_passes_desktop_file_validate() -> None:
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        pytest.skip("desktop-file-validate is not installed (apt package desktop-file-utils)")
    result = subprocess.run([tool, str(files.DESKTOP_FILE)], capture_output=True, text=True, check=False, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in (result.stdout + result.stderr).lower(), result.stdout + result.stderr


def test_the_gui_command_of_the_desktop_entry_is_packaged(entry: dict[str, str]) -> None:
    command = entry["Exec"].split()[0]
    scripts = files.console_scripts()
    if command not in scripts:
        pytest.skip(f"pyproject.toml declares no {command!r} script yet (the GUI is not packaged)")
    pytest.importorskip("PySide6", reason="the gui extra is not installed")
    assert callable(files.resolve_entry_point(scripts[command]))


# icon -------------------------------------------------------------------------------------------------


def test_icon_is_a_self_contained_square_svg() -> None:
    root = ET.parse(files.ICON).getroot()
    assert root.tag == f"{SVG}svg"
    box = [float(v) for v in re.split(r"[\s,]+", root.get("viewBox", "").strip())]
    assert len(box) == 4 and box[2] > 0 and box[2] == box[3], f"viewBox {root.get('viewBox')!r}"
    for element in root.iter():
        assert element.tag not in (f"{SVG}script", f"{SVG}image", f"{SVG}foreignObject"), element.tag
        for name, value in element.attrib.items():
            if name.endswith("href"):
                assert value.startswith("#"), f"{element.tag} refers outside the file: {value}"
    drawn = [
        e for e in root.iter() if e.tag in (f"{SVG}path", f"{SVG}line", f"{SVG}rect", f"{SVG}circle", f"{SVG}polyline")
    ]
    assert len(drawn) >= 3


def test_icon_renders_at_32_px() -> None:
    QtSvg = pytest.importorskip("PySide6.QtSvg", reason="PySide6 (the gui extra) renders the icon")
    from PySide6.QtCore import QRectF
    from PySide6.QtGui import QColor, QImage, QPainter

    renderer = QtSvg.QSvgRenderer(str(files.ICON))
    assert renderer.isValid()
    image = QImage(32, 32, QImage.Format.Format_ARGB32)
    image.fill(QColor(0, 0, 0, 0))
    painter = QPainter(image)
    renderer.render(painter, QRectF(0, 0, 32, 32))
    painter.end()
    colours = {image.pixel(x, y) for x in range(32) for y in range(32)}
    opaque = sum(1 for x in range(32) for y in range(32) if image.pixelColor(x, y).alpha() == 255)
    assert opaque > 32 * 32 // 2 and len(colours) > 3, "the icon draws little or nothing at 32 px"


# README -----------------------------------------------------------------------------------------------


def test_readme_describes_every_packaging_file() -> None:
    readme = (PACKAGING / "README.md").read_text()
    for path in sorted(PACKAGING.iterdir()):
        if path.name != "README.md" and not path.name.startswith("."):
            assert path.name in readme, f"packaging/README.md does not mention {path.name}"
    for name in ("docker-compose.yml", ".dockerignore"):
        assert name in readme
