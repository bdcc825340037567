"""Helpers for bench/spine.py (and any benchmark that drives a real daemon): a real daemon in a
temporary home, token users with fake audio, meter sampling, the store read directly (read-only)
for ground truth, fairness and memory figures.

The benchmarks run the real `fairscribed` as a subprocess (through `tests/support/daemon.py`) and
talk to it only through the client library, except for the read-only look at its SQLite store
that gives per-task timestamps the protocol does not expose.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import psutil  # noqa: E402

from fairscribe.shared.client import Client  # noqa: E402
from tests.support.daemon import DaemonProcess, make_fake_audio  # noqa: E402

TERMINAL = ("done", "failed", "cancelled")


def jain(values: Sequence[float]) -> float:
    """Jain's fairness index: (sum x)^2 / (n * sum x^2); 1.0 is perfectly even, 1/n is one takes all."""
    values = list(values)
    squares = sum(v * v for v in values)
    if not values or squares == 0:
        return 1.0
    return sum(values) ** 2 / (len(values) * squares)


def best_integer_jain(slots: int, users: int) -> float:
    """The highest Jain index any instantaneous split of `slots` whole workers among `users` can reach."""
    base, extra = divmod(slots, users)
    return jain([base + 1] * extra + [base] * (users - extra))


def parse_time(text: str | None) -> float | None:
    """A daemon timestamp (ISO from the protocol, or SQLite's naive UTC text) as epoch seconds."""
    if text is None:
        return None
    moment = dt.datetime.fromisoformat(str(text))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def fmt_check(value: float, target: float, *, at_most: bool) -> str:
    ok = value <= target if at_most else value >= target
    return "PASS" if ok else "MISS"


@dataclass
class Workspace:
    """A temporary folder for daemon homes and fake audio, removed at the end."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="fairscribe-bench-")))

    def folder(self, *parts: str) -> Path:
        path = self.root.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def daemon_running(ws: Workspace, name: str, **env: str) -> Iterator[DaemonProcess]:
    daemon = DaemonProcess(ws.root / name, env=dict(env)).start()
    try:
        yield daemon
    except BaseException:
        alive = daemon.process is not None and daemon.process.poll() is None
        print(
            f"!! failure with the daemon {'still running' if alive else f'exited ({daemon.process.returncode})'}; "
            f"last lines of its log:\n{daemon.log()[-4000:]}",
            file=sys.stderr,
            flush=True,
        )
        raise
    finally:
        daemon.stop()


@dataclass
class BenchUser:
    name: str
    token: str
    source: Path
    out: Path
    files: int

    def client(self, daemon: DaemonProcess) -> Client:
        return daemon.client(token=self.token, timeout=120.0)


def make_users(
    daemon: DaemonProcess, ws: Workspace, names: Sequence[str], files: int, tag: str = ""
) -> list[BenchUser]:
    """Token users, each with `files` fake audio files in a folder of their own (under their root)."""
    users = []
    for name in names:
        root = ws.folder(f"audio{tag}", name)
        source = root / "in"
        make_fake_audio(source, files)
        token = daemon.add_token_user(name, roots=[str(root)])
        users.append(BenchUser(name, token, source, root / "out", files))
    return users


def submit_together(daemon: DaemonProcess, users: Sequence[BenchUser]) -> tuple[float, dict[str, int]]:
    """Every user submits from a thread of their own, released at the same moment by a barrier.

    Returns (monotonic time of the release, job id per user)."""
    clients = {u.name: u.client(daemon) for u in users}
    barrier = threading.Barrier(len(users) + 1)
    jobs: dict[str, int] = {}
    errors: list[BaseException] = []

    def submit(user: BenchUser) -> None:
        barrier.wait()
        try:
            jobs[user.name] = int(clients[user.name].submit(str(user.source), out=str(user.out))["id"])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(u,)) for u in users]
    for thread in threads:
        thread.start()
    barrier.wait()
    released = time.monotonic()
    for thread in threads:
        thread.join()
    for client in clients.values():
        client.close()
    if errors:
        raise errors[0]
    return released, jobs


def wait_jobs(
    daemon: DaemonProcess, users: Sequence[BenchUser], jobs: dict[str, int], timeout: float, poll: float = 0.1
) -> tuple[float, dict[str, dict[str, Any]]]:
    """Poll until every job is terminal; returns (monotonic time it was seen, final job dicts)."""
    clients = {u.name: u.client(daemon) for u in users}
    deadline = time.monotonic() + timeout
    final: dict[str, dict[str, Any]] = {}
    try:
        while time.monotonic() < deadline:
            for user in users:
                if user.name not in final:
                    job = clients[user.name].job(jobs[user.name])
                    if job["state"] in TERMINAL:
                        final[user.name] = job
            if len(final) == len(users):
                return time.monotonic(), final
            time.sleep(poll)
    finally:
        for client in clients.values():
            client.close()
    raise TimeoutError(f"jobs not finished within {timeout:.0f}s: {sorted(set(jobs) - set(final))} still running")


class StoreReader:
    """Read-only look at the daemon's SQLite store (ground truth the meters summarise)."""

    def __init__(self, daemon: DaemonProcess) -> None:
        path = daemon.home / "fairscribe.db"
        self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30, check_same_thread=False)

    def names(self) -> dict[int, str]:
        return dict(self.conn.execute("SELECT id, name FROM users"))

    def held_slots(self) -> dict[int, int]:
        """Worker slots held per user id: one claim (of one or more tasks) holds one slot."""
        return dict(
            self.conn.execute(
                "SELECT user_id, COUNT(DISTINCT claim_id) FROM tasks WHERE state='running' GROUP BY user_id"
            )
        )

    def started(self, job_id: int) -> bool:
        """Whether any task of the job has left the queue (claimed, finished or failed)."""
        row = self.conn.execute("SELECT 1 FROM tasks WHERE job_id=? AND state!='queued' LIMIT 1", (job_id,))
        return row.fetchone() is not None

    def task_times(self, job_id: int) -> list[tuple[float | None, float | None]]:
        """(started_at, finished_at) of each task of a job, as epoch seconds."""
        rows = self.conn.execute("SELECT started_at, finished_at FROM tasks WHERE job_id=?", (job_id,))
        return [(parse_time(s), parse_time(f)) for s, f in rows]

    def close(self) -> None:
        self.conn.close()


@dataclass
class Sample:
    at: float  # monotonic
    users: dict[str, dict[str, Any]]  # meters' per-user rows
    truth: dict[str, int] | None = None  # slots held per user, read from the store


class Background:
    """A sampling loop on its own thread for the length of a `with` block."""

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        raise NotImplementedError


class MeterSampler(Background):
    """Samples `meters` (and, optionally, the store's held slots) every `interval` seconds in a thread."""

    def __init__(self, daemon: DaemonProcess, interval: float = 0.05, store: StoreReader | None = None) -> None:
        self.daemon = daemon
        self.interval = interval
        self.store = store
        self.samples: list[Sample] = []
        self.latencies: list[float] = []
        super().__init__("meter-sampler")

    def _run(self) -> None:
        names = self.store.names() if self.store else {}
        with self.daemon.client(timeout=60.0) as client:
            next_tick = time.monotonic()
            while not self._stop.is_set():
                before = time.monotonic()
                meters = client.meters()
                after = time.monotonic()
                self.latencies.append(after - before)
                truth = None
                if self.store is not None:
                    held = self.store.held_slots()
                    if any(uid not in names for uid in held):
                        names = self.store.names()
                    truth = {names[uid]: n for uid, n in held.items()}
                self.samples.append(Sample((before + after) / 2, {u["user"]: u for u in meters["users"]}, truth))
                next_tick += self.interval
                delay = next_tick - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
                else:
                    next_tick = time.monotonic()


class RssWatcher(Background):
    """Tracks a process's resident memory: VmHWM (kernel's peak) and VmRSS sampled meanwhile."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak_sampled = 0
        super().__init__("rss-watcher")

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                self.peak_sampled = max(self.peak_sampled, self.process.memory_info().rss)
            self._stop.wait(self.interval)

    def status(self) -> dict[str, int]:
        """VmHWM, VmRSS (bytes) from /proc/PID/status."""
        values = {}
        with open(f"/proc/{self.process.pid}/status") as handle:
            for line in handle:
                key, _, rest = line.partition(":")
                if key in ("VmHWM", "VmRSS"):
                    values[key] = int(rest.split()[0]) * 1024
        return values

    def cpu_seconds(self) -> float:
        times = self.process.cpu_times()
        return times.user + times.system


class LoadMeter:
    """CPU used meanwhile by the daemon, by this benchmark, and by every other process on the machine
    (other people's tests on a shared machine make figures noisy; this says how noisy)."""

    def __init__(self, daemon_pid: int) -> None:
        self.daemon = psutil.Process(daemon_pid)
        self.me = psutil.Process()
        self.start = self._read()

    def _read(self) -> tuple[float, float, float, float]:
        system = psutil.cpu_times()
        busy = system.user + system.nice + system.system + getattr(system, "irq", 0.0) + getattr(system, "softirq", 0.0)
        daemon = sum(self.daemon.cpu_times()[:2])
        me = sum(self.me.cpu_times()[:2])
        return time.monotonic(), busy, daemon, me

    def report(self) -> dict[str, float]:
        now = self._read()
        wall = now[0] - self.start[0]
        busy, daemon, me = (now[i] - self.start[i] for i in (1, 2, 3))
        return {
            "wall": wall,
            "daemon": daemon,
            "bench": me,
            "others": max(0.0, busy - daemon - me),
            "cpus": float(os.cpu_count() or 1),
        }

    def describe(self) -> str:
        r = self.report()
        core = 100 * r["daemon"] / r["wall"]
        return (
            f"CPU over {r['wall']:.1f}s: daemon {r['daemon']:.1f}s ({core:.0f}% of a core), "
            f"benchmark {r['bench']:.1f}s, other processes {r['others']:.1f}s "
            f"({100 * r['others'] / (r['wall'] * r['cpus']):.0f}% of the machine)"
        )


@contextlib.contextmanager
def py_spy(daemon: DaemonProcess, folder: str | None, name: str, rate: int = 100) -> Iterator[None]:
    """With a folder: record the daemon with py-spy (every thread, idle ones too; raw collapsed stacks)."""
    if not folder:
        yield
        return
    binary = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    Path(folder).mkdir(parents=True, exist_ok=True)
    target = Path(folder) / f"{name}.txt"
    assert daemon.process is not None
    spy = subprocess.Popen(
        [
            binary,
            "record",
            "--pid",
            str(daemon.process.pid),
            "--idle",
            "--threads",
            "--format",
            "raw",
            "--rate",
            str(rate),
            "--output",
            str(target),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(60)
        except subprocess.TimeoutExpired:
            spy.kill()
        print(f"  (py-spy profile of the daemon: {target})", flush=True)


def mib(value: int) -> float:
    return value / (1024 * 1024)


def machine() -> str:
    memory = mib(psutil.virtual_memory().total) / 1024
    return f"{os.cpu_count()} CPUs, {memory:.1f} GiB RAM, Python {sys.version.split()[0]}"
