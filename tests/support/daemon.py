"""Real daemon processes for tests and benchmarks: start, talk to, kill -9, restart."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fairscribe.shared.client import Client
from fairscribe.shared.config import ClientSettings
from fairscribe.shared.errors import DaemonNotRunning

WAV_HEADER = b"RIFF" + struct.pack("<I", 36) + b"WAVEfmt " + b"\0" * 24


def make_fake_audio(folder: Path, count: int, *, prefix: str = "f", directive: bytes = b"") -> list[Path]:
    """Files the simulated engine accepts: a WAV header, then optional `sim:` directives."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = folder / f"{prefix}{index:05d}.wav"
        path.write_bytes(WAV_HEADER + directive + f" {index}".encode())
        paths.append(path)
    return paths


@dataclass
class DaemonProcess:
    """One `fairscribed` in its own FAIRSCRIBE_HOME."""

    home: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def socket(self) -> Path:
        return self.home / "fairscribed.sock"

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FAIRSCRIBE_", "ASSEMBLYAI_"))}
        env.update({"FAIRSCRIBE_HOME": str(self.home), "FAIRSCRIBE_ENGINE": "simulated"})
        env.update(self.env)
        return env

    def start(self, timeout: float = 30.0) -> DaemonProcess:
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_path = self.home / f"daemon-{int(time.time() * 1000)}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "fairscribe.daemon.main"],
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"fairscribed exited with {self.process.returncode}:\n{self.log()}")
            try:
                with self.client() as client:
                    client.ping()
                return self
            except DaemonNotRunning:
                time.sleep(0.05)
        raise RuntimeError(f"fairscribed did not answer within {timeout}s:\n{self.log()}")

    def client(self, token: str | None = None, **kwargs: Any) -> Client:
        settings = ClientSettings(socket=self.socket, address=None, token=token)
        return Client(settings, **kwargs)

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def log(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.home.glob("daemon-*.log")))

    def add_token_user(self, name: str, roots: list[str], **options: Any) -> str:
        with self.client() as admin:
            admin.add_user(name, roots=roots, **options)
            return admin.create_token(name)


def wait_for_job(client: Client, job_id: int, timeout: float = 120.0, poll: float = 0.1) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.job(job_id)
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(poll)
    raise AssertionError(f"job {job_id} did not end within {timeout}s: {client.job(job_id)}")


@contextmanager
def running_daemon(home: Path, **env: str) -> Iterator[DaemonProcess]:
    daemon = DaemonProcess(home, env=dict(env)).start()
    try:
        yield daemon
    finally:
        daemon.stop()
