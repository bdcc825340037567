"""The fake AssemblyAI service's request handling, without sockets: authentication, the
per-account rate limit, injected faults, then the v2 endpoints and their JSON."""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

from .assemblyai_model import (
    KNOWN_SPEECH_MODELS,
    AccountConfig,
    RequestRecord,
    ServiceState,
    Transcript,
    text_for,
)

AUTH_ERROR = "Authentication error, API token missing/invalid"
NOT_FOUND_ERROR = "Transcript lookup error, transcript id not found"
SERVER_ERROR = "Server error, developers have been alerted."
FAULT_KINDS = ("429", "500", "503", "drop", "drop_after")


@dataclass(frozen=True)
class Faults:
    """What goes wrong, per authenticated request (or per transcript), with these probabilities.

    `drop` closes the connection before handling the request (nothing happened); `drop_after`
    handles it and then closes without replying (it happened, but the client cannot know)."""

    p429: float = 0.0
    p500: float = 0.0
    p503: float = 0.0
    p_drop: float = 0.0
    p_drop_after: float = 0.0
    p_slow: float = 0.0
    slow_seconds: float = 0.5
    retry_after: float = 1.0  # the Retry-After of an injected 429
    p_transcript_error: float = 0.0
    transcript_error: str = "Transcoding failed. File does not appear to contain audio."
    # Audio bytes -> the error its transcripts end with (None: no error); decided at upload.
    error_for: Callable[[bytes], str | None] | None = None
    # (method, path) -> whether the request-level faults above apply to it (default: all).
    applies_to: Callable[[str, str], bool] | None = None


@dataclass(frozen=True)
class ServerConfig:
    accounts: tuple[AccountConfig, ...] = (AccountConfig("default", ("test-key",)),)
    # Seconds a transcript spends processing, or a function of the uploaded size in bytes.
    processing_seconds: float | Callable[[int], float] = 0.1
    faults: Faults = Faults()
    seed: int = 0
    upload_ttl_seconds: float | None = None
    max_upload_bytes: int = 2_200_000_000
    speech_models: frozenset[str] = KNOWN_SPEECH_MODELS


@dataclass
class Reply:
    status: int
    body: dict[str, Any] | str
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    delay: float = 0.0


@dataclass
class _Scripted:
    kind: str
    method: str
    path_prefix: str
    times: int
    retry_after: float | None


class FakeAssemblyAI:
    """Request handling without the sockets: auth, limits, faults, then the endpoint."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.faults = config.faults
        self.base_url = ""
        self.state = ServiceState(config.accounts, config.processing_seconds, config.seed, config.upload_ttl_seconds)
        self._script: list[_Scripted] = []

    def script(
        self,
        kind: str,
        method: str = "",
        path_prefix: str = "",
        times: int = 1,
        retry_after: float | None = None,
    ) -> None:
        """Inject `kind` (one of FAULT_KINDS) into the next `times` matching requests."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {FAULT_KINDS}")
        with self.state.lock:
            self._script.append(_Scripted(kind, method, path_prefix, times, retry_after))

    def handle(self, method: str, target: str, authorization: str | None, body: bytes) -> Reply:
        path, _, query = target.partition("?")
        now = time.monotonic()
        state = self.state
        with state.lock:
            account = state.account_for(authorization)
            reply = self._admit(account, now)
            if reply is None:
                assert account is not None
                kind, retry_after = self._fault(method, path)
                if kind in ("429", "500", "503"):
                    reply = _fault_reply(int(kind), retry_after or self.faults.retry_after)
                elif kind == "drop":
                    reply = Reply(0, "", drop=True)
                else:
                    reply = self._route(account, method, path, query, body, now)
                    reply.drop = kind == "drop_after"
                if self.faults.p_slow and state.rng.random() < self.faults.p_slow:
                    reply.delay = self.faults.slow_seconds
            status = 0 if reply.drop else reply.status
            state.record(RequestRecord(now, account, method, path, status))
        return reply

    def _admit(self, account: str | None, now: float) -> Reply | None:
        """Authentication, then the account's rate limit: both come before anything else."""
        if account is None:
            return Reply(401, {"error": AUTH_ERROR})
        wait = self.state.rate_limit(account, now)
        if wait is not None:
            return _fault_reply(429, max(1.0, math.ceil(wait)))
        return None

    def _fault(self, method: str, path: str) -> tuple[str | None, float | None]:
        for entry in self._script:
            if entry.times > 0 and method.startswith(entry.method) and path.startswith(entry.path_prefix):
                entry.times -= 1
                return entry.kind, entry.retry_after
        f = self.faults
        if f.applies_to is not None and not f.applies_to(method, path):
            return None, None
        draw = self.state.rng.random()
        for kind, p in (("429", f.p429), ("500", f.p500), ("503", f.p503), ("drop", f.p_drop)):
            if draw < p:
                return kind, None
            draw -= p
        if f.p_drop_after and self.state.rng.random() < f.p_drop_after:
            return "drop_after", None
        return None, None

    def _route(self, account: str, method: str, path: str, query: str, body: bytes, now: float) -> Reply:
        parts = path.strip("/").split("/")
        if method == "POST" and path == "/v2/upload":
            return self._upload(account, body)
        if method == "POST" and path == "/v2/transcript":
            return self._create(account, body, now)
        if method == "GET" and path == "/v2/transcript":
            return self._list(account, query, now)
        if method == "GET" and len(parts) in (3, 4) and parts[:2] == ["v2", "transcript"]:
            return self._get(account, parts[2], parts[3] if len(parts) == 4 else None, now)
        return Reply(404, {"error": "Not found"})

    def _get(self, account: str, transcript_id: str, export: str | None, now: float) -> Reply:
        transcript = self.state.transcript(account, transcript_id)
        if transcript is None:
            return Reply(400, {"error": NOT_FOUND_ERROR})
        if export is None:
            return Reply(200, self._transcript_json(transcript, now))
        if export in ("srt", "vtt"):
            return _subtitles(transcript, export, now)
        return Reply(404, {"error": "Not found"})

    def _upload(self, account: str, body: bytes) -> Reply:
        if not body:
            return Reply(400, {"error": "Upload failed: the request body is empty"})
        if len(body) > self.config.max_upload_bytes:
            return Reply(400, {"error": "Upload failed: the file is larger than 2.2 GB"})
        url = f"{self.base_url}/cdn/upload/{secrets.token_hex(16)}"
        error_for = self.faults.error_for
        self.state.add_upload(account, body, url, error_for(body) if error_for else None)
        return Reply(200, {"upload_url": url})

    def _create(self, account: str, body: bytes, now: float) -> Reply:
        try:
            request = json.loads(body or b"null")
        except ValueError:
            return Reply(400, {"error": "Invalid JSON in the request body"})
        if not isinstance(request, dict) or not isinstance(request.get("audio_url"), str):
            return Reply(400, {"error": "audio_url is required"})
        models = request.get("speech_models")
        if not isinstance(models, list) or not models:
            return Reply(
                400,
                {
                    "error": "speech_models is required: a non-empty list of speech models, "
                    'for example ["universal-3-pro", "universal-2"]'
                },
            )
        unknown = [m for m in models if m not in self.config.speech_models]
        if unknown:
            return Reply(400, {"error": f"Invalid speech_models: {', '.join(map(str, unknown))}"})
        upload = self.state.find_upload(account, request["audio_url"], now)
        if upload is None:
            return Reply(
                400, {"error": "Invalid audio_url: the upload was not found or has expired; upload the file again"}
            )
        error = upload.content_error
        f = self.faults
        if error is None and f.p_transcript_error and self.state.rng.random() < f.p_transcript_error:
            error = f.transcript_error
        transcript = self.state.create(account, upload, request, error)
        return Reply(200, self._transcript_json(transcript, now))

    def _list(self, account: str, query_string: str, now: float) -> Reply:
        query = parse_qs(query_string)

        def one(name: str) -> str | None:
            return query[name][0] if name in query else None

        try:
            limit = int(one("limit") or 10)
        except ValueError:
            limit = 0
        if not 1 <= limit <= 200:
            return Reply(400, {"error": "limit must be a whole number from 1 to 200"})
        items = self.state.listing(account)
        status, created_on = one("status"), one("created_on")
        if status:
            items = [t for t in items if t.status(now) == status]
        if created_on:
            items = [t for t in items if t.created_wall.date().isoformat() == created_on]
        ids = [t.id for t in items]
        before, after = one("before_id"), one("after_id")
        for anchor in (before, after):
            if anchor is not None and anchor not in ids:
                return Reply(400, {"error": NOT_FOUND_ERROR})
        if before is not None:
            page = items[ids.index(before) + 1 :][:limit]
        elif after is not None:
            page = items[: ids.index(after)][-limit:]
        else:
            page = items[:limit]
        older = bool(page) and page[-1] is not items[-1]
        newer = bool(page) and page[0] is not items[0]
        base = {"limit": str(limit), **({"status": status} if status else {})}
        url = f"{self.base_url}/v2/transcript?"
        details = {
            "limit": limit,
            "result_count": len(page),
            "current_url": url + (query_string or urlencode(base)),
            "prev_url": url + urlencode({**base, "before_id": page[-1].id}) if older else None,
            "next_url": url + urlencode({**base, "after_id": page[0].id}) if newer else None,
        }
        return Reply(
            200,
            {
                "page_details": details,
                "transcripts": [
                    {
                        "id": t.id,
                        "resource_url": f"{self.base_url}/v2/transcript/{t.id}",
                        "status": t.status(now),
                        "created": _wall(t.created_wall),
                        "completed": _wall(t.finished_wall()) if t.status(now) in ("completed", "error") else None,
                        "audio_url": t.upload.url,
                        "error": t.error if t.status(now) == "error" else None,
                    }
                    for t in page
                ],
            },
        )

    def _transcript_json(self, t: Transcript, now: float) -> dict[str, Any]:
        status = t.status(now)
        done = status == "completed"
        models = t.config.get("speech_models") or [None]
        return {
            "id": t.id,
            "status": status,
            "audio_url": t.upload.url,
            "language_code": t.config.get("language_code", "en_us"),
            **{k: v for k, v in t.config.items() if k != "language_code"},
            "text": text_for(t.upload.digest) if done else None,
            "words": _words(t) if done else None,
            "utterances": None,
            "confidence": 0.93 if done else None,
            "audio_duration": round(t.upload.audio_seconds) if done else None,
            "speech_model_used": models[0] if done else None,
            "error": t.error if status == "error" else None,
        }


def _fault_reply(status: int, retry_after: float) -> Reply:
    if status == 429:
        seconds = f"{retry_after:g}"
        return Reply(429, {"error": f"Too many requests; retry after {seconds} seconds"}, {"Retry-After": seconds})
    if status == 503:
        return Reply(503, {"error": "Service temporarily unavailable"})
    return Reply(500, {"error": SERVER_ERROR})


def _words(t: Transcript) -> list[dict[str, Any]]:
    texts = text_for(t.upload.digest).split()
    span = max(1, int(t.upload.audio_seconds * 1000)) // len(texts)
    speaker = "A" if t.config.get("speaker_labels") else None
    return [
        {"text": w, "start": i * span, "end": (i + 1) * span, "confidence": 0.9, "speaker": speaker}
        for i, w in enumerate(texts)
    ]


def _subtitles(t: Transcript, kind: str, now: float) -> Reply:
    if t.status(now) != "completed":
        return Reply(400, {"error": f"Transcript is {t.status(now)}; subtitles need it completed"})
    words = _words(t)
    sep = "," if kind == "srt" else "."
    stamp = f"{_clock(words[0]['start'], sep)} --> {_clock(words[-1]['end'], sep)}"
    text = text_for(t.upload.digest)
    if kind == "srt":
        return Reply(200, f"1\n{stamp}\n{text}\n")
    return Reply(200, f"WEBVTT\n\n{stamp}\n{text}\n")


def _clock(ms: int, sep: str) -> str:
    hours, minutes, seconds = ms // 3_600_000, ms // 60_000 % 60, ms // 1000 % 60
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{sep}{ms % 1000:03d}"


def _wall(moment: Any) -> str | None:
    # AssemblyAI lists times as naive ISO 8601 in UTC, with microseconds.
    return None if moment is None else str(moment.strftime("%Y-%m-%dT%H:%M:%S.%f"))
