"""The state behind the fake AssemblyAI service: accounts, uploads, transcripts, the account-wide
FIFO queue, and what a test reads back. No HTTP here: `assemblyai_server` maps requests onto it.

Time is simulated lazily: a transcript's start and finish times are worked out, under the lock,
whenever anyone looks at the account, so a transcript finishes on time even if nobody polls it and
the account's concurrency limit holds exactly (FIFO across all keys of the account)."""

from __future__ import annotations

import hashlib
import io
import itertools
import random
import threading
import time
import wave
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

# What the service accepts in `speech_models` (a test may narrow it to provoke a 400).
KNOWN_SPEECH_MODELS = frozenset({"universal", "universal-2", "universal-3-pro", "slam-1", "best", "nano"})
# Echoed back in the transcript object when the request set them.
_CONFIG_FIELDS = ("language_code", "punctuate", "format_text", "speaker_labels", "speech_models")


@dataclass(frozen=True)
class AccountConfig:
    """One AssemblyAI account; all its keys share its concurrency and its rate limit."""

    name: str
    keys: tuple[str, ...]
    concurrency: int = 5
    requests_per_window: int = 20_000
    window_seconds: float = 300.0


@dataclass
class Upload:
    url: str
    account: str
    digest: str
    size: int
    audio_seconds: float
    created_at: float
    content_error: str | None


@dataclass
class Transcript:
    id: str
    seq: int
    account: str
    upload: Upload
    config: dict[str, Any]
    created_at: float
    created_wall: datetime
    processing_seconds: float
    error: str | None
    started_at: float | None = None
    finished_at: float | None = None

    def status(self, now: float) -> str:
        if self.started_at is None:
            return "queued"
        assert self.finished_at is not None
        if self.finished_at > now:
            return "processing"
        return "error" if self.error else "completed"

    def finished_wall(self) -> datetime | None:
        if self.finished_at is None:
            return None
        return self.created_wall + timedelta(seconds=self.finished_at - self.created_at)


@dataclass
class _AccountState:
    config: AccountConfig
    waiting: deque[Transcript] = field(default_factory=deque)
    running: list[Transcript] = field(default_factory=list)
    clock: float = 0.0  # the time of the last slot freed, in the lazy simulation
    window: deque[float] = field(default_factory=deque)
    max_in_flight: int = 0
    created: int = 0


@dataclass(frozen=True)
class RequestRecord:
    at: float  # time.monotonic() when the request arrived
    account: str | None  # None when it failed authentication
    method: str
    path: str
    status: int  # 0 when the connection was dropped without a reply


@dataclass(frozen=True)
class ServerStats:
    """What the service received, for a test's assertions or a benchmark's figures."""

    uploads_by_digest: dict[str, int]
    transcripts_by_digest: dict[str, int]
    max_in_flight: dict[str, int]  # account -> most transcripts queued or processing at once
    transcripts_created: dict[str, int]
    replies_by_status: dict[int, int]  # 0 = dropped connection
    rate_limited: int  # 429s from the rate limit (the rest of the 429s were injected)
    requests: tuple[RequestRecord, ...]

    @property
    def requests_total(self) -> int:
        return len(self.requests)

    @property
    def sent_429(self) -> int:
        return self.replies_by_status.get(429, 0)

    @property
    def duplicates(self) -> dict[str, int]:
        """Content digests with more than one transcript created."""
        return {d: n for d, n in self.transcripts_by_digest.items() if n > 1}

    def per_second(self, account: str | None = None) -> list[int]:
        """Requests that arrived in each whole second since the first one."""
        times = [r.at for r in self.requests if account is None or r.account == account]
        if not times:
            return []
        start = min(times)
        counts = Counter(int(t - start) for t in times)
        return [counts.get(i, 0) for i in range(max(counts) + 1)]


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def text_for(digest: str) -> str:
    """The transcript text of content with this digest: a test can check outputs against files."""
    return f"transcript of {digest[:16]}"


def audio_seconds_of(data: bytes) -> float:
    """Duration of a WAV; for anything else, as if it were 128 kbit/s audio."""
    try:
        with wave.open(io.BytesIO(data)) as wav:
            frames: int = wav.getnframes()
            rate: int = wav.getframerate()
            return frames / rate
    except (wave.Error, EOFError):
        return len(data) / 16_000


class ServiceState:
    """All mutable state of one fake service, guarded by one lock."""

    def __init__(
        self,
        accounts: tuple[AccountConfig, ...],
        processing_seconds: float | Callable[[int], float],
        seed: int,
        upload_ttl_seconds: float | None,
    ) -> None:
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self._accounts = {a.name: _AccountState(a) for a in accounts}
        self._by_key = {key: a.name for a in accounts for key in a.keys}
        self._processing = processing_seconds
        self._upload_ttl = upload_ttl_seconds
        self._uploads: dict[str, Upload] = {}
        self._transcripts: dict[str, Transcript] = {}
        self._order: list[Transcript] = []  # creation order, for the list endpoint
        self._seq = itertools.count(1)
        self._uploads_by_digest: Counter[str] = Counter()
        self._transcripts_by_digest: Counter[str] = Counter()
        self._replies: Counter[int] = Counter()
        self._rate_limited = 0
        self._requests: list[RequestRecord] = []

    # --- authentication and limits (callers hold the lock) ---

    def account_for(self, authorization: str | None) -> str | None:
        # The raw key, no "Bearer" prefix: that is how AssemblyAI authenticates.
        return self._by_key.get(authorization or "")

    def rate_limit(self, account: str, now: float) -> float | None:
        """Admit one request, or return the seconds until the account's window has room."""
        state = self._accounts[account]
        window = state.window
        while window and window[0] <= now - state.config.window_seconds:
            window.popleft()
        if len(window) >= state.config.requests_per_window:
            self._rate_limited += 1
            return window[0] + state.config.window_seconds - now
        window.append(now)
        return None

    def record(self, rec: RequestRecord) -> None:
        self._requests.append(rec)
        self._replies[rec.status] += 1

    # --- uploads and transcripts (callers hold the lock) ---

    def add_upload(self, account: str, data: bytes, url: str, content_error: str | None) -> None:
        digest = digest_of(data)
        self._uploads_by_digest[digest] += 1
        self._uploads[url] = Upload(
            url, account, digest, len(data), audio_seconds_of(data), time.monotonic(), content_error
        )

    def find_upload(self, account: str, url: str, now: float) -> Upload | None:
        upload = self._uploads.get(url)
        if upload is None or upload.account != account:
            return None
        if self._upload_ttl is not None and now - upload.created_at > self._upload_ttl:
            return None
        return upload

    def expire_uploads(self) -> None:
        """Make every upload URL issued so far unknown, as if they had all expired."""
        with self.lock:
            self._uploads.clear()

    def create(self, account: str, upload: Upload, config: dict[str, Any], error: str | None) -> Transcript:
        now = time.monotonic()
        self._advance(account, now)
        processing = self._processing
        seconds = processing(upload.size) if callable(processing) else processing
        transcript = Transcript(
            id=_uuid(self.rng),
            seq=next(self._seq),
            account=account,
            upload=upload,
            config={k: config[k] for k in _CONFIG_FIELDS if k in config},
            created_at=now,
            created_wall=datetime.now(UTC),
            processing_seconds=seconds,
            error=error,
        )
        state = self._accounts[account]
        state.waiting.append(transcript)
        state.created += 1
        self._advance(account, now)
        state.max_in_flight = max(state.max_in_flight, len(state.waiting) + len(state.running))
        self._transcripts[transcript.id] = transcript
        self._order.append(transcript)
        self._transcripts_by_digest[upload.digest] += 1
        return transcript

    def transcript(self, account: str, transcript_id: str) -> Transcript | None:
        found = self._transcripts.get(transcript_id)
        if found is None or found.account != account:
            return None
        self._advance(account, time.monotonic())
        return found

    def listing(self, account: str) -> list[Transcript]:
        """The account's transcripts, newest first."""
        self._advance(account, time.monotonic())
        return [t for t in reversed(self._order) if t.account == account]

    def _advance(self, account: str, now: float) -> None:
        """Start queued transcripts as slots free up and retire finished ones, up to `now`."""
        state = self._accounts[account]
        while True:
            while state.waiting and len(state.running) < state.config.concurrency:
                started = state.waiting.popleft()
                started.started_at = max(started.created_at, state.clock)
                started.finished_at = started.started_at + started.processing_seconds
                state.running.append(started)
            if not state.running:
                return
            first = min(state.running, key=lambda t: t.finished_at or 0.0)
            assert first.finished_at is not None
            if first.finished_at > now:
                return
            state.running.remove(first)
            state.clock = max(state.clock, first.finished_at)

    def stats(self) -> ServerStats:
        with self.lock:
            return ServerStats(
                uploads_by_digest=dict(self._uploads_by_digest),
                transcripts_by_digest=dict(self._transcripts_by_digest),
                max_in_flight={n: s.max_in_flight for n, s in self._accounts.items()},
                transcripts_created={n: s.created for n, s in self._accounts.items()},
                replies_by_status=dict(self._replies),
                rate_limited=self._rate_limited,
                requests=tuple(self._requests),
            )


def _uuid(rng: random.Random) -> str:
    raw = f"{rng.getrandbits(128):032x}"
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"
