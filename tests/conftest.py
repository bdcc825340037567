from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon import DaemonProcess


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[type[DaemonProcess] | object]:
    """Start daemons in the test's own folder; every one is stopped at the end."""
    started: list[DaemonProcess] = []

    def start(name: str = "home", **env: str) -> DaemonProcess:
        daemon = DaemonProcess(tmp_path / name, env=dict(env)).start()
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()
