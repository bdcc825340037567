"""The GUI's one connection object: every exchange with the daemon goes through a `Session`.

Widgets call its methods and listen to its signals; none of them touches a socket or blocks. Inside,
two threads do the blocking work: the listener follows pushes and keeps the picture (status, jobs,
meters, events) fresh, and the command worker runs what the person asks for, one command at a time.
Results come back as signals on the GUI thread.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from fairscribe.gui.listener import BACKOFF, Listener
from fairscribe.gui.status import Link, LinkStatus
from fairscribe.gui.worker import Command, CommandWorker
from fairscribe.shared.autostart import start_local_daemon
from fairscribe.shared.config import ClientSettings

Done = Callable[[Any], None]


def _shown_by_listener(_job: object) -> None:
    """A command's answer is not shown: the event the command causes makes the listener reload the
    job list, the one source of the table. Applying the answer as well would race with a list
    fetched just before the command but delivered after it, and briefly undo the change."""


class Session(QObject):
    status_changed = Signal(object)
    """A LinkStatus: responding, not responding (and when the next attempt is), reconnecting."""
    jobs_changed = Signal(list)
    """The caller's whole job list."""
    submitted = Signal(dict)
    """A job just made by `submit`."""
    meters_changed = Signal(dict)
    events_arrived = Signal(list)
    failed_files_loaded = Signal(int, list)
    """A job id and its failed files: {path, state, attempts, error, …}."""
    command_failed = Signal(str)
    """A sentence saying what could not be done and why."""
    daemon_started = Signal(str)
    """What `start_local_daemon` says it started."""

    _dispatch = Signal(int, object)
    _retarget = Signal(object)

    def __init__(
        self, target: ClientSettings, *, backoff: Sequence[float] = BACKOFF, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._target = target
        self._status = LinkStatus(Link.CONNECTING, target.describe())
        self._user: str | None = None
        self._tickets = itertools.count(1)
        self._pending: dict[int, tuple[str, Done]] = {}

        self._listener = Listener(target, backoff)
        self._listener.status.connect(self._on_status)
        self._listener.jobs.connect(self.jobs_changed)
        self._listener.meters.connect(self.meters_changed)
        self._listener.events.connect(self.events_arrived)

        self._thread = QThread()
        self._thread.setObjectName("fairscribe-commands")
        self._worker = CommandWorker(target)
        self._worker.moveToThread(self._thread)
        self._dispatch.connect(self._worker.run)
        self._retarget.connect(self._worker.retarget)
        self._worker.succeeded.connect(self._on_succeeded)
        self._worker.failed.connect(self._on_failed)

    # Life cycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        self._listener.start()

    def stop(self) -> None:
        self._listener.stop()
        self._thread.quit()
        self._thread.wait()
        self._worker.close()  # the thread is over, so its client can be closed from here

    @property
    def target(self) -> ClientSettings:
        return self._target

    @property
    def status(self) -> LinkStatus:
        return self._status

    @property
    def user(self) -> str | None:
        """Who the daemon last said we are (kept while it does not answer); None before it first did."""
        return self._user

    def set_target(self, target: ClientSettings) -> None:
        self._target = target
        self._user = None
        self._listener.retarget(target)
        self._retarget.emit(target)

    def reconnect_now(self) -> None:
        self._listener.reconnect_now()

    # Commands --------------------------------------------------------------------------------

    def submit(self, directory: str, *, out: str | None = None, formats: list[str] | None = None) -> None:
        self._run(
            f"submit {directory}",
            lambda connect: connect().submit(directory, out=out, formats=formats),
            self.submitted.emit,
        )

    def control(self, action: str, job_id: int) -> None:
        """pause, resume, cancel or retry (the failed files of) one of the caller's jobs."""
        self._run(f"{action} job {job_id}", lambda connect: connect().control(action, job_id), _shown_by_listener)

    def move(self, job_id: int, to: str) -> None:
        self._run(f"move job {job_id} {to}", lambda connect: connect().move(job_id, to), _shown_by_listener)

    def load_failed_files(self, job_id: int) -> None:
        self._run(
            f"list the failed files of job {job_id}",
            lambda connect: connect().files(job_id, state="failed"),
            lambda answer: self.failed_files_loaded.emit(job_id, answer[1]),
        )

    def start_local_daemon(self) -> None:
        target = self._target
        self._run("start a local daemon", lambda _connect: start_local_daemon(target), self._on_daemon_started)

    def _run(self, what: str, command: Command, done: Done) -> None:
        ticket = next(self._tickets)
        self._pending[ticket] = (what, done)
        self._dispatch.emit(ticket, command)

    # Answers, on the GUI thread --------------------------------------------------------------

    @Slot(object)
    def _on_status(self, status: LinkStatus) -> None:
        self._status = status
        if status.user is not None:
            self._user = status.user
        self.status_changed.emit(status)

    @Slot(int, object)
    def _on_succeeded(self, ticket: int, result: object) -> None:
        _, done = self._pending.pop(ticket)
        done(result)

    @Slot(int, str)
    def _on_failed(self, ticket: int, reason: str) -> None:
        what, _ = self._pending.pop(ticket)
        self.command_failed.emit(f"Could not {what}: {reason}")

    def _on_daemon_started(self, message: object) -> None:
        self.daemon_started.emit(str(message))
        self._listener.reconnect_now()
