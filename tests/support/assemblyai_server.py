"""An AssemblyAI-compatible HTTP server on loopback, for tests and benchmarks.

It speaks the documented v2 wire protocol (raw-key `Authorization`; `POST /v2/upload`;
`POST /v2/transcript`, which requires `speech_models`; `GET /v2/transcript/{id}` going
queued → processing → completed | error; `…/srt` and `…/vtt`; the paged list `GET /v2/transcript`),
queues each account's transcripts beyond its concurrency FIFO across all its keys, rate-limits each
account (429 with `Retry-After`), and injects faults on demand from a seeded RNG. The transcript of
some audio is `text_for(sha256(audio))`, so a test can check that every output belongs to its file.

    with AssemblyAIServer(ServerConfig(processing_seconds=0.05)) as server:
        client = aai.Client(settings=aai.Settings(api_key="test-key", base_url=server.base_url))
        ...
        assert not server.stats().duplicates
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from .assemblyai_api import AUTH_ERROR, FakeAssemblyAI, Faults, ServerConfig
from .assemblyai_model import AccountConfig, ServerStats, Transcript, text_for

__all__ = [
    "AUTH_ERROR",
    "AccountConfig",
    "AssemblyAIServer",
    "Faults",
    "ServerConfig",
    "ServerStats",
    "text_for",
]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's httpx client expects
    server: _Server
    timeout = 60

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        body = self._read_body()
        reply = self.server.service.handle(method, self.path, self.headers.get("Authorization"), body)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.drop:
            self.close_connection = True
            return
        if isinstance(reply.body, str):
            payload, ctype = reply.body.encode(), "text/plain; charset=utf-8"
        else:
            payload, ctype = json.dumps(reply.body).encode(), "application/json"
        self.send_response(reply.status)
        for name, value in {**reply.headers, "Content-Type": ctype}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers end at a blank line
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def log_message(self, format: str, *args: Any) -> None:
        del format, args  # the service's own records replace the access log


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # hundreds of pollers connect at once

    def __init__(self, service: FakeAssemblyAI) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.service = service


class AssemblyAIServer:
    """The fake service on an ephemeral loopback port; a context manager."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.service = FakeAssemblyAI(config or ServerConfig())
        self._http: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return self.service.base_url

    @property
    def faults(self) -> Faults:
        return self.service.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self.service.faults = faults

    def script(
        self, kind: str, method: str = "", path_prefix: str = "", times: int = 1, retry_after: float | None = None
    ) -> None:
        self.service.script(kind, method, path_prefix, times, retry_after)

    def expire_uploads(self) -> None:
        self.service.state.expire_uploads()

    def stats(self) -> ServerStats:
        return self.service.state.stats()

    def transcripts(self, account: str) -> list[Transcript]:
        """The account's transcripts as the service keeps them (with their request), newest first."""
        state = self.service.state
        with state.lock:
            return state.listing(account)

    def start(self) -> Self:
        self._http = _Server(self.service)
        host, port = self._http.server_address[:2]
        self.service.base_url = f"http://{host!s}:{port}"
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
