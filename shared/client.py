"""The client library: one connection to the daemon with one typed call per protocol method.

The CLI and the GUI both use `Client`. A call sends one JSON-RPC request and waits for its answer;
pushed event notifications that arrive meanwhile are queued for `next_events()` / `next_push()`.
"""

from __future__ import annotations

import collections
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fairscribe.shared import framing, protocol
from fairscribe.shared.config import ClientSettings
from fairscribe.shared.errors import DaemonNotRunning, ProtocolError, RemoteError

START_HINT = (
    "start one with `fairscribed` (or `docker compose up -d`), "
    "or point FAIRSCRIBE_SOCKET / FAIRSCRIBE_LISTEN at a running one"
)


class Client:
    """A connection to a fairscribe daemon over its Unix socket or TCP address."""

    def __init__(
        self,
        settings: ClientSettings | None = None,
        *,
        as_user: str | None = None,
        timeout: float | None = 30.0,
        client_name: str = "fairscribe",
    ) -> None:
        self.settings = settings or ClientSettings.from_env()
        self._sock = self._connect(timeout)
        self._reader = framing.LineReader(self._sock)
        self._lock = threading.Lock()
        self._next_id = 0
        self._pending_events: collections.deque[dict[str, Any]] = collections.deque()
        params: dict[str, Any] = {"client": client_name, "pid": os.getpid()}
        if self.settings.token:
            params["token"] = self.settings.token
        if as_user:
            params["as"] = as_user
        self.identity: dict[str, Any] = self.call("hello", params)

    def _connect(self, timeout: float | None) -> socket.socket:
        where = self.settings.describe()
        try:
            if not self.settings.prefers_socket() and self.settings.address is not None:
                sock = socket.create_connection(self.settings.address, timeout=timeout)
            else:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(timeout)
                sock.connect(str(self.settings.socket))
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise DaemonNotRunning(f"no fairscribe daemon answers at {where}: {START_HINT}") from exc
        except OSError as exc:
            raise DaemonNotRunning(
                f"cannot reach the fairscribe daemon at {where} ({exc.strerror or exc}): {START_HINT}"
            ) from exc
        return sock

    @property
    def user(self) -> str:
        return str(self.identity["user"])

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def set_timeout(self, seconds: float | None) -> None:
        self._sock.settimeout(seconds)

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Send one request and return its result; raise RemoteError for an error answer."""
        with self._lock:
            self._next_id += 1
            request_id = self._next_id
            try:
                self._sock.sendall(framing.encode(protocol.request(method, params or {}, request_id)))
                while True:
                    message = self._read()
                    if message.get("id") == request_id:
                        break
                    if "method" in message:
                        self._pending_events.append(message)
            except TimeoutError:
                raise DaemonNotRunning(
                    f"the fairscribe daemon at {self.settings.describe()} did not answer `{method}` in time"
                ) from None
            except (ConnectionError, BrokenPipeError) as exc:
                raise DaemonNotRunning(f"the connection to the fairscribe daemon was lost: {exc}") from exc
        if "error" in message:
            error = message["error"]
            raise RemoteError(int(error.get("code", 0)), str(error.get("message", "")), error.get("data"))
        return message.get("result")

    def _read(self) -> dict[str, Any]:
        line = self._reader.read_line()
        if line is None:
            raise ConnectionError("the daemon closed the connection")
        return framing.decode(line)

    def next_events(self, timeout: float | None = None) -> list[dict[str, Any]]:
        """Pushed events, waiting up to `timeout` seconds for the next push when none are queued."""
        push = self.next_push(timeout)
        return list(push["events"]) if push else []

    def next_push(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The pushes queued so far merged into one `{events, cursor, meters?}`, waiting up to
        `timeout` seconds for the next push when none are queued; None when none came. Only the
        newest meters are kept: they are a snapshot, not a history."""
        with self._lock:
            if not self._pending_events:
                previous = self._sock.gettimeout()
                self._sock.settimeout(timeout)
                try:
                    self._pending_events.append(self._read())
                except TimeoutError:
                    return None
                except (ConnectionError, ProtocolError) as exc:
                    raise DaemonNotRunning(f"the connection to the fairscribe daemon was lost: {exc}") from exc
                finally:
                    self._sock.settimeout(previous)
            merged: dict[str, Any] = {"events": []}
            while self._pending_events:
                message = self._pending_events.popleft()
                if message.get("method") != "events":
                    continue
                params = message.get("params", {})
                merged["events"].extend(params.get("events", []))
                for key in ("cursor", "meters"):
                    if key in params:
                        merged[key] = params[key]
            return merged

    # Typed calls, one per protocol method.

    def ping(self) -> dict[str, Any]:
        return dict(self.call("ping"))

    def submit(
        self,
        directory: str,
        *,
        out: str | None = None,
        formats: list[str] | None = None,
        language: str | None = None,
        engine: str | None = None,
        force: bool = False,
        options: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"dir": directory, "force": force}
        if options:
            params["options"] = options
        for key, value in (("out", out), ("formats", formats), ("language", language), ("engine", engine)):
            if value is not None:
                params[key] = value
        return dict(self.call("submit", params)["job"])

    def jobs(self, *, all_users: bool = False) -> list[dict[str, Any]]:
        return list(self.call("status", {"all": all_users})["jobs"])

    def job(self, job_id: int) -> dict[str, Any]:
        return dict(self.call("status", {"job": job_id})["job"])

    def files(
        self, job_id: int, *, state: str | None = None, limit: int | None = None
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """A job and its files (at most 5,000 per answer, to stay inside the message limit)."""
        params: dict[str, Any] = {"job": job_id, "files": True}
        if state is not None:
            params["state"] = state
        if limit is not None:
            params["limit"] = limit
        answer = self.call("status", params)
        return dict(answer["job"]), list(answer["files"])

    def control(self, action: str, job_id: int) -> dict[str, Any]:
        """cancel, pause, resume or retry one of the caller's jobs."""
        if action not in ("cancel", "pause", "resume", "retry"):
            raise ValueError(f"unknown job action {action!r}")
        return dict(self.call(action, {"job": job_id})["job"])

    def move(self, job_id: int, to: str) -> dict[str, Any]:
        return dict(self.call("move", {"job": job_id, "to": to})["job"])

    def meters(self) -> dict[str, Any]:
        return dict(self.call("meters"))

    def subscribe(self, since: int | None = None) -> dict[str, Any]:
        return dict(self.call("subscribe", {} if since is None else {"since": since}))

    def add_user(
        self, name: str, *, weight: float | None = None, max_workers: int | None = None, roots: list[str] | None = None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"name": name}
        for key, value in (("weight", weight), ("max_workers", max_workers), ("roots", roots)):
            if value is not None:
                params[key] = value
        return dict(self.call("user.add", params)["user"])

    def set_user_key(self, name: str, key: str, *, max_workers: int | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"name": name, "key": key}
        if max_workers is not None:
            params["max_workers"] = max_workers
        return dict(self.call("user.set_key", params)["user"])

    def create_token(self, name: str) -> str:
        return str(self.call("token.create", {"name": name})["token"])

    def add_schedule(self, directory: str, **options: Any) -> dict[str, Any]:
        params = {"dir": directory, **{k: v for k, v in options.items() if v is not None}}
        return dict(self.call("schedule.add", params)["schedule"])

    def schedules(self) -> list[dict[str, Any]]:
        return list(self.call("schedule.list")["schedules"])

    def remove_schedule(self, schedule_id: str) -> None:
        self.call("schedule.remove", {"id": schedule_id})


TERMINAL_JOB_STATES = frozenset({"done", "failed", "cancelled"})


@contextmanager
def connect(**kwargs: Any) -> Iterator[Client]:
    client = Client(**kwargs)
    try:
        yield client
    finally:
        client.close()
