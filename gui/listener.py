"""The push connection: follows the daemon on a thread of its own and keeps the GUI's picture fresh.

One dedicated `Client` subscribes to pushed events and meters and, after every push that can have
changed them, reloads the caller's jobs; all of it is blocking I/O, so it runs off the GUI thread and
reports through signals. When the daemon stops answering (the connection drops, or a call times out
because it hangs) the listener says so, waits with backoff, reconnects by itself and replays what it
missed from its event cursor.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QThread, Signal

from fairscribe.gui.format import is_live
from fairscribe.gui.status import Link, LinkStatus
from fairscribe.shared.client import Client
from fairscribe.shared.config import ClientSettings
from fairscribe.shared.errors import FairscribeError, RemoteError

log = logging.getLogger(__name__)

BACKOFF = (0.5, 1.0, 2.0, 3.0)
"""Seconds between reconnection attempts; the last one repeats. Short, because the common cause is
a daemon restarting, which takes about a second."""
CALL_TIMEOUT = 5.0
"""A daemon that takes longer than this to answer a call is not responding."""
PUSH_WAIT = 0.5
"""How long one read waits for a push, which bounds how late a stop or a new target is noticed."""
SILENCE = 3.0
"""Meters are pushed every second; after this long without a push the listener pings, so a hung
daemon is told apart from a quiet one."""


class Listener(QThread):
    status = Signal(object)
    """A LinkStatus."""
    jobs = Signal(list)
    """The caller's whole job list."""
    meters = Signal(dict)
    """A meters snapshot: {users, pools, workers, waiting}."""
    events = Signal(list)
    """Events in id order, pushed or replayed after a reconnect."""

    def __init__(self, target: ClientSettings, backoff: Sequence[float] = BACKOFF) -> None:
        super().__init__()
        self.setObjectName("fairscribe-listener")
        self._backoff = tuple(backoff)
        self._lock = threading.Lock()
        self._target = target
        self._retargeted = False
        self._cursor: int | None = None
        self._stopping = threading.Event()
        self._wake = threading.Event()

    def retarget(self, target: ClientSettings) -> None:
        """Drop the current daemon and follow another; its events are another history, so the
        cursor starts afresh (in `_take_target`, on this thread, which alone touches it)."""
        with self._lock:
            self._target = target
            self._retargeted = True
        self._wake.set()

    def reconnect_now(self) -> None:
        """Cut a backoff wait short (say, right after a local daemon was started)."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self.wait()

    def run(self) -> None:
        failures = 0
        ever_connected = False
        while not self._stopping.is_set():
            target = self._take_target()
            where = target.describe()
            self._wake.clear()  # a wake-up asked for an attempt: this is it
            self.status.emit(LinkStatus(Link.CONNECTING, where, ever_connected=ever_connected))
            try:
                with Client(target, timeout=CALL_TIMEOUT, client_name="fairscribe-gui") as client:
                    ever_connected = True
                    failures = 0
                    self._follow(client, where)
                continue
            except RemoteError as exc:
                # The daemon answered with an error (a wrong token, most likely): retrying goes on
                # in case it is being fixed, but the window must not call this silence.
                reason, refused = exc.message, True
            except (FairscribeError, OSError) as exc:
                reason, refused = str(exc), False
            except (KeyError, TypeError, ValueError) as exc:
                # An answer of an unexpected shape (a daemon of another version, say). Dying here
                # would freeze the window on stale numbers while it claims to be connected, which
                # is worse than retrying and saying why.
                log.exception("unexpected answer from the daemon at %s", where)
                reason, refused = f"unexpected answer from the daemon: {exc!r}", False
            if self._stopping.is_set() or self._retarget_pending():
                continue
            delay = self._backoff[min(failures, len(self._backoff) - 1)]
            failures += 1
            self.status.emit(
                LinkStatus(
                    Link.NOT_RESPONDING,
                    where,
                    retry_in=delay,
                    reason=reason,
                    refused=refused,
                    ever_connected=ever_connected,
                )
            )
            self._wake.wait(delay)

    def _follow(self, client: Client, where: str) -> None:
        """Subscribe (replaying from the cursor), load the full picture, then follow pushes until
        stopped, retargeted, or the daemon stops answering (which raises)."""
        params: dict[str, Any] = {"meters": True}
        if self._cursor is not None:
            params["since"] = self._cursor
        answer = client.call("subscribe", params)
        self._cursor = int(answer["cursor"])
        self.status.emit(LinkStatus(Link.RESPONDING, where, user=client.user, ever_connected=True))
        if answer["events"]:
            self.events.emit(list(answer["events"]))
        if answer.get("refetch"):
            log.info("events after %s are no longer kept; reloading everything", params.get("since"))
        # The job list is reloaded on every (re)connect, whether or not the daemon says `refetch`:
        # progress counts change without events, so a replay alone never brings a table up to date.
        live = self._reload_jobs(client)
        self.meters.emit(client.meters())
        last_push = time.monotonic()
        while not self._stopping.is_set() and not self._retarget_pending():
            push = client.next_push(PUSH_WAIT)
            if push is None:
                if time.monotonic() - last_push > SILENCE:
                    client.ping()
                    last_push = time.monotonic()
                continue
            last_push = time.monotonic()
            if "cursor" in push:
                self._cursor = max(self._cursor, int(push["cursor"]))
            if push["events"]:
                self.events.emit(push["events"])
            # Counts move with every file, and files finishing are not events: while a job is live,
            # each meters push (one a second) is the cue to reload; otherwise only events are. An
            # event (a batch ended, say) also brings fresh meters, so panel and table agree at once.
            if push["events"] or (live and "meters" in push):
                live = self._reload_jobs(client)
            if "meters" in push:
                self.meters.emit(push["meters"])
            elif push["events"]:
                self.meters.emit(client.meters())

    def _reload_jobs(self, client: Client) -> bool:
        """Emit the job list; whether any job is still live."""
        jobs = client.jobs()
        self.jobs.emit(jobs)
        return any(is_live(job) for job in jobs)

    def _take_target(self) -> ClientSettings:
        with self._lock:
            if self._retargeted:
                self._retargeted = False
                self._cursor = None
            return self._target

    def _retarget_pending(self) -> bool:
        with self._lock:
            return self._retargeted
