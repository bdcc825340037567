"""Start a local daemon for a client that finds none answering (the newcomer's first command)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

from fairscribe.shared.config import ClientSettings, home_dir
from fairscribe.shared.errors import DaemonNotRunning

START_TIMEOUT = 60.0


def start_local_daemon(settings: ClientSettings) -> str:
    """Launch `fairscribed` in the background, detached from this terminal, and wait until it
    answers. Returns a sentence saying what was started and where it logs."""
    from fairscribe.shared.client import Client

    if settings.address is not None:
        raise DaemonNotRunning(
            f"no fairscribe daemon answers at {settings.describe()}; a remote daemon is not started from here"
        )
    logs = home_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    output = logs / "fairscribed.out"
    command = [shutil.which("fairscribed") or "", "run"]
    if not command[0]:
        command = [sys.executable, "-m", "fairscribe.daemon.main", "run"]
    with open(output, "ab") as sink:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=os.environ.copy(),
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DaemonNotRunning(f"fairscribed exited at start-up with code {process.returncode}; see {output}")
        try:
            with Client(settings, timeout=5):
                return f"started a local fairscribed (pid {process.pid}); its log is {logs / 'fairscribed.log'}"
        except DaemonNotRunning:
            time.sleep(0.1)
    raise DaemonNotRunning(f"fairscribed did not answer within {START_TIMEOUT:.0f} s; see {output}")
