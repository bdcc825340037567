"""The socket server: JSON-RPC 2.0, one object per line, at most 1 MiB per message.

Unix socket by default (identity from the peer's OS credentials), TCP when FAIRSCRIBE_LISTEN is set
(identity from a bearer token in `hello`). A connection gets a thread; pushes go through a bounded
per-connection outbox written by its own thread, so a slow or stuck client can never stall the
daemon or anyone else — it is dropped when its outbox overflows.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Any

from fairscribe.daemon import eventlog
from fairscribe.daemon.access import Caller, os_caller
from fairscribe.daemon.service import RpcError, Service, event_dict
from fairscribe.daemon.settings import Settings
from fairscribe.shared import framing, protocol
from fairscribe.shared.errors import ProtocolError
from fairscribe.shared.protocol import ErrorCode

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 512
OUTBOX_LIMIT = 256
PUSH_INTERVAL = 0.25
METERS_INTERVAL = 1.0


class Connection:
    def __init__(self, server: Server, sock: socket.socket, caller: Caller | None, transport: str) -> None:
        self.server = server
        self.sock = sock
        self.base_caller = caller
        self.caller = caller
        self.transport = transport
        self.subscribed = False
        self.wants_meters = False
        self.cursor = 0
        self.user_id: int | None = None
        self.outbox: queue.Queue[bytes | None] = queue.Queue(OUTBOX_LIMIT)
        self.closed = threading.Event()

    # Outgoing -------------------------------------------------------------------------------

    def send(self, message: dict[str, Any]) -> None:
        try:
            self.outbox.put_nowait(framing.encode(message))
        except queue.Full:
            log.warning("dropping a %s client that does not read its messages", self.transport)
            self.close()
        except ProtocolError:
            log.exception("an answer exceeded the message limit")

    def _write_loop(self) -> None:
        # Blocking writes from this thread only; a client that stops reading fills its outbox and
        # is closed by `send`, whose shutdown() also releases a write blocked here.
        try:
            while not self.closed.is_set():
                data = self.outbox.get()
                if data is None:
                    break
                self.sock.sendall(data)
        except OSError:
            self.close()

    def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.outbox.put_nowait(None)
        except queue.Full:
            pass

    # Incoming -------------------------------------------------------------------------------

    def serve(self) -> None:
        writer = threading.Thread(target=self._write_loop, name="conn-writer", daemon=True)
        writer.start()
        reader = framing.LineReader(self.sock)
        try:
            while not self.closed.is_set():
                try:
                    line = reader.read_line()
                except framing.MessageTooLarge as exc:
                    self.send(protocol.error(None, ErrorCode.INVALID_REQUEST, str(exc)))
                    break
                if line is None:
                    break
                if line.strip():
                    self._handle_line(line)
        except OSError:
            pass
        finally:
            # Let the last answers (such as the error that ends the connection) reach the peer first.
            try:
                self.outbox.put(None, timeout=1.0)
            except queue.Full:
                pass
            writer.join(timeout=5.0)
            self.close()
            self.server.forget(self)
            self.sock.close()

    def _handle_line(self, line: bytes) -> None:
        try:
            message = framing.decode(line)
        except ProtocolError as exc:
            self.send(protocol.error(None, ErrorCode.PARSE_ERROR, str(exc)))
            return
        request_id = message.get("id")
        method = message.get("method")
        params = message.get("params", {})
        if message.get("jsonrpc") != "2.0" or not isinstance(method, str) or not isinstance(params, dict):
            self.send(
                protocol.error(
                    request_id,
                    ErrorCode.INVALID_REQUEST,
                    "expected a JSON-RPC 2.0 request with a 'method' and object 'params'",
                )
            )
            return
        try:
            answer = self._dispatch(method, params)
        except RpcError as exc:
            self.send(protocol.error(request_id, exc.code, exc.message))
            return
        except Exception:
            user = self.caller.name if self.caller else "?"
            log.exception("user=%s method=%s failed", user, method)
            self.send(
                protocol.error(
                    request_id, ErrorCode.INTERNAL_ERROR, f"internal error in {method}; see the daemon's log"
                )
            )
            return
        if request_id is not None:
            self.send(protocol.result(request_id, answer))

    def _dispatch(self, method: str, params: dict[str, Any]) -> Any:
        if method == "hello":
            return self._hello(params)
        if self.caller is None:
            raise RpcError(ErrorCode.UNAUTHORIZED, "say hello with a valid token first")
        if self.user_id is None:
            self.user_id = self.server.service.account(self.caller).id
        if method == "subscribe":
            answer = self.server.service.handle(self.caller, method, params)
            self.cursor = int(answer["cursor"])
            self.subscribed = True
            self.wants_meters = bool(params.get("meters"))
            return answer
        return self.server.service.handle(self.caller, method, params)

    def _hello(self, params: dict[str, Any]) -> Any:
        caller = self.base_caller
        token = params.get("token")
        if token is not None:
            account = self.server.service.accounts.by_token(str(token)) if isinstance(token, str) else None
            if account is None:
                raise RpcError(
                    ErrorCode.UNAUTHORIZED, "the token is not valid (create one with `fairscribe token create NAME`)"
                )
            caller = Caller(name=account.name, roots=account.roots)
        if caller is None:
            raise RpcError(ErrorCode.UNAUTHORIZED, "a token is required on TCP connections (FAIRSCRIBE_TOKEN)")
        impersonate = params.get("as")
        if impersonate:
            if not caller.admin:
                raise RpcError(ErrorCode.FORBIDDEN, "--as is for admins (the daemon's own OS user or root)")
            caller = Caller(name=str(impersonate), admin=True, uid=caller.uid, gids=caller.gids)
        self.caller = caller
        account = self.server.service.account(caller)
        self.user_id = account.id
        with self.server.service.store.db.read() as conn:
            _, newest = eventlog.bounds(conn)
        return {"user": account.name, "admin": caller.admin, "version": protocol.VERSION, "cursor": newest}


class Server:
    def __init__(self, settings: Settings, service: Service) -> None:
        self.settings = settings
        self.service = service
        self.connections: set[Connection] = set()
        self._lock = threading.Lock()
        self._listeners: list[socket.socket] = []
        self._stopping = threading.Event()
        self._last_pushed = 0
        self._last_meters = 0.0

    def start(self) -> None:
        self._listeners.append(self._unix_listener(self.settings.socket))
        if self.settings.listen is not None:
            host, port = self.settings.listen
            tcp = socket.create_server((host, port), reuse_port=False, backlog=128)
            self._listeners.append(tcp)
            log.info("listening on TCP %s:%d (token auth)", host, tcp.getsockname()[1])
        with self.service.store.db.read() as conn:
            self._last_pushed = eventlog.bounds(conn)[1]
        for listener in self._listeners:
            threading.Thread(target=self._accept_loop, args=(listener,), name="accept", daemon=True).start()
        threading.Thread(target=self._push_loop, name="pusher", daemon=True).start()

    def _unix_listener(self, path: Path) -> socket.socket:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() or path.is_symlink():
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(path))
            except OSError:
                path.unlink()  # a stale socket left by a daemon that died
            else:
                raise RuntimeError(f"another fairscribed already answers on {path}")
            finally:
                probe.close()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o117)
        try:
            listener.bind(str(path))
        finally:
            os.umask(old_umask)
        os.chmod(path, 0o660)
        group = os.environ.get("FAIRSCRIBE_SOCKET_GROUP")
        if group:
            import grp

            os.chown(path, -1, grp.getgrnam(group).gr_gid)
        listener.listen(128)
        log.info("listening on %s", path)
        return listener

    def _accept_loop(self, listener: socket.socket) -> None:
        is_unix = listener.family == socket.AF_UNIX
        while not self._stopping.is_set():
            try:
                sock, _ = listener.accept()
            except OSError:
                if self._stopping.is_set():
                    return
                time.sleep(0.05)
                continue
            with self._lock:
                crowded = len(self.connections) >= MAX_CONNECTIONS
            if crowded:
                log.warning("refusing a connection: %d already open", MAX_CONNECTIONS)
                sock.close()
                continue
            caller = None
            if is_unix:
                creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
                _pid, uid, gid = struct.unpack("3i", creds)
                caller = os_caller(uid, gid)
            connection = Connection(self, sock, caller, "unix" if is_unix else "tcp")
            with self._lock:
                self.connections.add(connection)
            threading.Thread(target=connection.serve, name="connection", daemon=True).start()

    def forget(self, connection: Connection) -> None:
        with self._lock:
            self.connections.discard(connection)

    def _push_loop(self) -> None:
        """Coalesce what happened into at most a few pushes per second per subscriber."""
        while not self._stopping.wait(PUSH_INTERVAL):
            try:
                self._push_once()
            except Exception:
                log.exception("pushing events failed; will try again")

    def _push_once(self) -> None:
        with self._lock:
            subscribers = [c for c in self.connections if c.subscribed and not c.closed.is_set()]
        if not subscribers:
            with self.service.store.db.read() as conn:
                self._last_pushed = eventlog.bounds(conn)[1]
            return
        with self.service.store.db.read() as conn:
            fresh = eventlog.since(conn, self._last_pushed, None, limit=5000)
        accounts = self.service.accounts.all() if fresh else {}
        meters = None
        now = time.monotonic()
        if now - self._last_meters >= METERS_INTERVAL and any(c.wants_meters for c in subscribers):
            meters = self.service.meters_snapshot()
            self._last_meters = now
        if fresh:
            self._last_pushed = fresh[-1].id
        for connection in subscribers:
            assert connection.caller is not None
            own_id = None if connection.caller.admin else connection.user_id
            visible = [
                event_dict(e, accounts)
                for e in fresh
                if e.id > connection.cursor and (own_id is None or e.user_id in (own_id, None))
            ]
            if visible:
                connection.cursor = visible[-1]["id"]
            params: dict[str, Any] = {"events": visible, "cursor": max(connection.cursor, self._last_pushed)}
            if meters is not None and connection.wants_meters:
                params["meters"] = meters
            if visible or "meters" in params:
                connection.send(protocol.notification("events", params))

    def stop(self) -> None:
        self._stopping.set()
        for listener in self._listeners:
            try:
                listener.close()
            except OSError:
                pass
        with self._lock:
            connections = list(self.connections)
        for connection in connections:
            connection.close()
        try:
            self.settings.socket.unlink()
        except OSError:
            pass
