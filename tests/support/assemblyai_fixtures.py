"""Real daemons on the AssemblyAI engine against the fake AssemblyAI service: their environment,
a client that keeps every protocol answer (to search them for secrets afterwards), meter sampling,
and the two-users-at-once run that both the end-to-end tests and the benchmark drive.

    with AssemblyAIServer(config) as server:
        daemon = DaemonProcess(home, env=daemon_env(server, KEY, max_workers=5)).start()
        answers = Answers()
        with recording_client(daemon, answers, token=...) as client:
            ...
        assert_no_secret([daemon.log(), *answers.texts], [KEY])
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fairscribe.shared.client import TERMINAL_JOB_STATES, Client
from fairscribe.shared.config import ClientSettings
from fairscribe.shared.errors import RemoteError

from .assemblyai_server import AssemblyAIServer
from .daemon import DaemonProcess

# Fast enough for a fake service that takes 0.05–0.2 s per transcript (the default is 1 s).
FAST_POLL_SECONDS = 0.05


def daemon_env(
    server: AssemblyAIServer | str,
    key: str,
    max_workers: int,
    *,
    poll_seconds: float = FAST_POLL_SECONDS,
    **extra: str,
) -> dict[str, str]:
    """The environment of a daemon whose engine is AssemblyAI at `server` (or a base URL)."""
    base_url = server if isinstance(server, str) else server.base_url
    return {
        "FAIRSCRIBE_ENGINE": "assemblyai",
        "ASSEMBLYAI_API_KEY": key,
        "ASSEMBLYAI_BASE_URL": base_url,
        "ASSEMBLYAI_MAX_WORKERS": str(max_workers),
        "ASSEMBLYAI_POLL_SECONDS": str(poll_seconds),
        **extra,
    }


def closed_port_url() -> str:
    """A loopback URL that nothing listens on (the port was bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


class Answers:
    """Every protocol answer and error message a test's clients received, as JSON text."""

    def __init__(self) -> None:
        self._texts: list[str] = []
        self._lock = threading.Lock()

    def add(self, text: str) -> None:
        with self._lock:
            self._texts.append(text)

    @property
    def texts(self) -> list[str]:
        with self._lock:
            return list(self._texts)


class RecordingClient(Client):
    """A `Client` that files each answer (and each error answer) with its `Answers`."""

    def __init__(self, settings: ClientSettings, answers: Answers, **kwargs: Any) -> None:
        self._answers = answers
        super().__init__(settings, **kwargs)

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        try:
            result = super().call(method, params)
        except RemoteError as exc:
            self._answers.add(
                json.dumps({"method": method, "code": exc.code, "message": exc.message, "data": exc.data}, default=str)
            )
            raise
        self._answers.add(json.dumps({"method": method, "result": result}, default=str))
        return result


def recording_client(daemon: DaemonProcess, answers: Answers, token: str | None = None) -> RecordingClient:
    return RecordingClient(ClientSettings(socket=daemon.socket, address=None, token=token), answers)


def assert_no_secret(texts: Iterable[str], secrets: Iterable[str]) -> None:
    """No secret, nor its first 8 characters or last 8 (a truncated or masked key), in any text."""
    texts = list(texts)
    assert texts, "nothing was collected to search"
    for secret in secrets:
        for needle in {secret, secret[:8], secret[-8:]}:
            found = [t for t in texts if needle in t]
            assert not found, f"a secret ({needle[:3]}…) appears in: {found[0][:300]!r}"


@dataclass
class MeterSamples:
    """Meters read every `interval` seconds while a run lasts."""

    samples: list[dict[str, Any]] = field(default_factory=list)

    def users(self, sample: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {row["user"]: row for row in sample["users"]}

    def pools(self, sample: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {row["name"]: row for row in sample["pools"]}


@dataclass
class UserRun:
    user: str
    folder: Path
    token: str
    job_id: int = 0
    seconds: float = 0.0  # from the common submit moment to the job's end
    job: dict[str, Any] = field(default_factory=dict)


def run_users_at_once(
    daemon: DaemonProcess,
    folders: dict[str, Path],
    answers: Answers,
    *,
    own_keys: dict[str, tuple[str, int]] | None = None,
    timeout: float = 600.0,
    meters: MeterSamples | None = None,
    poll: float = 0.1,
) -> dict[str, UserRun]:
    """Make each folder's owner a token user (with their own key if `own_keys` names one), submit
    every folder at the same moment, and wait for every job to end; each user's completion time
    is measured from that moment to the first status read that shows their job ended."""
    runs: dict[str, UserRun] = {}
    with recording_client(daemon, answers) as admin:
        for user, folder in folders.items():
            admin.add_user(user, roots=[str(folder)])
            if own_keys and user in own_keys:
                key, workers = own_keys[user]
                admin.set_user_key(user, key, max_workers=workers)
            runs[user] = UserRun(user, folder, admin.create_token(user))
    clients = {u: recording_client(daemon, answers, token=r.token) for u, r in runs.items()}
    try:
        barrier = threading.Barrier(len(runs) + 1)
        errors: list[BaseException] = []

        def submit(user: str) -> None:
            try:
                barrier.wait()
                runs[user].job_id = clients[user].submit(str(runs[user].folder))["id"]
            except BaseException as exc:  # reported below, in the caller's thread
                errors.append(exc)

        threads = [threading.Thread(target=submit, args=(u,)) for u in runs]
        for thread in threads:
            thread.start()
        barrier.wait()
        began = time.monotonic()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        pending = set(runs)
        deadline = began + timeout
        with recording_client(daemon, answers) as admin:
            while pending:
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"jobs did not end within {timeout}s: {[clients[u].job(runs[u].job_id) for u in pending]}"
                    )
                if meters is not None:
                    meters.samples.append(admin.meters())
                for user in sorted(pending):
                    job = clients[user].job(runs[user].job_id)
                    if job["state"] in TERMINAL_JOB_STATES:
                        runs[user].seconds = time.monotonic() - began
                        runs[user].job = job
                        pending.discard(user)
                time.sleep(poll)
    finally:
        for client in clients.values():
            client.close()
    return runs


def transcript_texts(out_dir: Path) -> list[str]:
    """The text of every `.txt` transcript under `out_dir`."""
    return [p.read_text().strip() for p in sorted(out_dir.rglob("*.txt"))]
