"""The AssemblyAI engine: upload, create, wait — through the official SDK — paying once per file.

A transcript is paid for when it is created, so the engine tells the daemon what it has started
before it waits (`request.remember`), and a task handed back in (after a stop, a crash or a dead
node) resumes the same remote work:

    no remote state   inspect the file → upload → remember(intent) → create →
                      remember(intent, id) → poll
    intent only       the crash may have come after AssemblyAI created the transcript but before
                      its id was stored: look for a transcript made from that upload URL (the list
                      endpoint) and resume it; else create one from the same upload (uploading again
                      only if AssemblyAI no longer accepts that URL)
    transcript id     poll

A create whose reply is lost (a dropped connection, a 5xx) is treated the same way before it is
retried: it may have happened. The intent is the upload URL with the time it was recorded as a
fragment (`…#fairscribe-intent-at=<unix seconds>`, read from AssemblyAI's own `Date` header so that
our clock's error does not matter), so the search stops at transcripts older than it.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import assemblyai as aai
from assemblyai.prerecorded.v2.api import get_transcript

from ...shared.errors import (
    ConfigError,
    EngineRejected,
    EngineUnavailable,
    FileRejected,
)
from ..audio import probe, sniff
from .assemblyai_budget import RequestBudget
from .assemblyai_calls import (
    Account,
    ApiError,
    RetryPolicy,
    Task,
    failure,
    fingerprint,
    log_retry,
)
from .base import EngineRequest, PoolSpec, RemoteState, Transcript, Word

logger = logging.getLogger(__name__)

# AssemblyAI's documented limits.
MAX_UPLOAD_BYTES = 2_200_000_000
MAX_AUDIO_SECONDS = 10 * 3600.0
MIN_AUDIO_SECONDS = 0.160
# A user's own key runs this many transcripts at once unless their credentials say otherwise.
DEFAULT_KEY_WORKERS = 5

_INTENT_MARK = "#fairscribe-intent-at="
# The intent's time comes from the upload reply's `Date` (whole seconds) and the list's `created`
# from AssemblyAI's database: allow this much between those two clocks.
_CLOCK_MARGIN_SECONDS = 60.0
_PROGRESS = {"queued": 0.1, "processing": 0.5, "completed": 1.0}
_SHARED_KEY = "the shared key, ASSEMBLYAI_API_KEY"
_OWN_KEY = "the user's own key"


class AssemblyAIEngine:
    """Transcribes through AssemblyAI. Thread-safe: one instance serves every worker thread."""

    name = "assemblyai"

    def __init__(
        self,
        api_key: str | None,
        base_url: str | None,
        capacity: int,
        speech_models: Sequence[str] = ("universal",),
        requests_per_window: int = 20_000,
        window_seconds: float = 300.0,
        *,
        budget_share: float = 0.5,
        max_attempts: int = 6,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        poll_initial: float = 1.0,
        poll_max: float = 15.0,
        poll_growth: float = 1.5,
        http_timeout: float = 30.0,
        list_page_size: int = 100,
        max_list_pages: int = 200,
    ) -> None:
        """`budget_share` of the account's rate limit is what this process may use: well inside
        it, so that other clients of the account (or other nodes) leave no 429s to pay for."""
        if capacity < 1:
            raise ConfigError(f"ASSEMBLYAI_MAX_WORKERS={capacity} must be at least 1")
        if not speech_models or not all(isinstance(m, str) and m for m in speech_models):
            raise ConfigError(f"speech_models={list(speech_models)!r} must name a model")
        self._api_key = api_key or None
        self._base_url = base_url or None
        self._pool = PoolSpec("assemblyai", capacity)
        self._speech_models = list(speech_models)
        self._rate = requests_per_window / window_seconds * budget_share
        # Bursts of up to a second's worth, but within half the headroom the share leaves, so
        # that even a window of a few seconds never sees more than the account's limit.
        headroom = requests_per_window * (1 - budget_share) / 2
        self._burst = max(1, min(round(self._rate), int(headroom)))
        self._policy = RetryPolicy(max_attempts, backoff_base, backoff_cap)
        self._poll_initial = poll_initial
        self._poll_max = poll_max
        self._poll_growth = poll_growth
        self._http_timeout = http_timeout
        self._list_page_size = list_page_size
        self._max_list_pages = max_list_pages
        self._accounts: dict[str, Account] = {}
        self._lock = threading.Lock()

    def pool_for(self, credentials: Mapping[str, str]) -> PoolSpec:
        """The shared account's pool, or the pool of the user's own key (named by its
        fingerprint) with the capacity in `assemblyai_max_workers`."""
        key = credentials.get("assemblyai_api_key")
        if not key or key == self._api_key:
            return self._pool
        raw = credentials.get("assemblyai_max_workers") or str(DEFAULT_KEY_WORKERS)
        try:
            capacity = int(raw)
        except ValueError:
            raise ConfigError(f"assemblyai_max_workers={raw!r} is not a whole number") from None
        if capacity < 1:
            raise ConfigError(f"assemblyai_max_workers={raw!r} must be at least 1")
        return PoolSpec(f"assemblyai:key:{fingerprint(key)}", capacity)

    def inspect(self, path: Path) -> float:
        """Reject, before any upload, what AssemblyAI would refuse; return the duration."""
        sniff(path)
        size = path.stat().st_size
        if size > MAX_UPLOAD_BYTES:
            raise FileRejected(
                f"{path}: {size / 1e9:.2f} GB is over AssemblyAI's 2.2 GB upload limit; split the recording into parts"
            )
        return probe(path, MAX_AUDIO_SECONDS, MIN_AUDIO_SECONDS).duration_seconds

    def preflight(self, credentials: Mapping[str, str]) -> None:
        """One cheap authenticated request, so a wrong key or an unreachable service fails the
        submit with one clear reason instead of every file with the same one."""
        account, label = self._account(credentials)
        params = aai.ListTranscriptParameters(limit=1)
        send = functools.partial(account.transcriber.list_transcripts, params)

        def check() -> object:
            return account.request("list transcripts", send, time.sleep)

        try:
            account.call(check, time.sleep, log_retry("preflight"), attempts=2)
        except ApiError as err:
            if err.status == 401:
                raise EngineUnavailable(f"AssemblyAI rejected the API key (401; {label}): {err.detail}") from None
            if err.status is None:
                raise EngineUnavailable(f"cannot reach AssemblyAI at {account.base_url}: {err.detail}") from None
            if not err.retryable:
                raise EngineUnavailable(
                    f"AssemblyAI refused the API key check ({err.status}; {label}): {err.detail}"
                ) from None
            # Busy (429, 5xx) is not a wrong key: let the files go and retry on their own.
            logger.warning("AssemblyAI key check got %s; going ahead: %s", err.status, err.detail)

    def transcribe(self, request: EngineRequest) -> Transcript:
        account, label = self._account(request.credentials)
        task = Task(request, account)
        try:
            return self._transcribe(task)
        except ApiError as err:
            result = failure(err, task.file, label, account.base_url)
            logger.warning("%s: %s", task.tag, result)
            raise result from None

    def _transcribe(self, task: Task) -> Transcript:
        remote = task.request.remote
        config = self._config(task.request)  # a bad option fails before anything is paid for
        if remote.remote_id:
            logger.info("%s: resuming AssemblyAI transcript %s", task.tag, remote.remote_id)
            return self._wait(task, remote.remote_id, just_created=False)
        if remote.intent:
            url, since = _parse_intent(remote.intent)
            found = self._search(task, url, since)
            if found is not None:
                logger.info("%s: found transcript %s made before a restart", task.tag, found)
                task.request.remember(RemoteState(intent=remote.intent, remote_id=found))
                return self._wait(task, found, just_created=False)
            transcript_id = self._create(task, remote.intent, config, stale_upload_ok=True)
            if transcript_id is not None:
                return self._wait(task, transcript_id, just_created=True)
            logger.info("%s: AssemblyAI no longer accepts the upload; uploading again", task.tag)
        self.inspect(task.request.path)
        upload = functools.partial(task.account.transcriber.upload_file, str(task.request.path))
        url = task.call(lambda: task.request_once("upload the audio", upload))
        uploaded_at = task.account.reply_date() or time.time()
        intent = f"{url}{_INTENT_MARK}{uploaded_at:.0f}"
        task.request.remember(RemoteState(intent=intent))
        created = self._create(task, intent, config, stale_upload_ok=False)
        assert created is not None  # only a stale upload may come back refused
        return self._wait(task, created, just_created=True)

    def _create(self, task: Task, intent: str, config: aai.TranscriptionConfig, stale_upload_ok: bool) -> str | None:
        """Create the transcript and remember its id; None if AssemblyAI refuses an upload URL
        recorded earlier (expired) and `stale_upload_ok`. An attempt whose reply was lost, or that
        met a 5xx, may have created it anyway, so the next attempt first looks for it."""
        url, since = _parse_intent(intent)
        submit = functools.partial(task.account.transcriber.submit, url, config)
        may_exist = False

        def attempt() -> str:
            nonlocal may_exist
            if may_exist:
                found = self._search(task, url, since)
                if found is not None:
                    return found
                may_exist = False
            try:
                created = task.request_once("create the transcript", submit)
            except ApiError as err:
                may_exist = may_exist or err.may_have_happened
                raise
            if not created.id:
                raise ApiError("create the transcript", 0, "the reply has no transcript id")
            return created.id

        try:
            transcript_id = task.call(attempt)
        except ApiError as err:
            if stale_upload_ok and err.status == 400:
                return None
            raise
        logger.info("%s: created AssemblyAI transcript %s", task.tag, transcript_id)
        task.request.remember(RemoteState(intent=intent, remote_id=transcript_id))
        task.progress(_PROGRESS["queued"])
        return transcript_id

    def _search(self, task: Task, url: str, since: float | None) -> str | None:
        """The transcript made from upload `url`, searching newest first back to `since`."""
        oldest = None if since is None else since - _CLOCK_MARGIN_SECONDS
        params = aai.ListTranscriptParameters(limit=self._list_page_size)
        for _ in range(self._max_list_pages):
            send = functools.partial(task.account.transcriber.list_transcripts, params)
            page = task.call(functools.partial(task.request_once, "list transcripts", send))
            for item in page.transcripts:
                if item.audio_url == url:
                    return item.id
                if oldest is not None and _timestamp(item.created) < oldest:
                    return None
            before = page.page_details.before_id_of_prev_url
            if before is None:
                return None
            params = aai.ListTranscriptParameters(limit=self._list_page_size, before_id=before)
        logger.warning(
            "%s: no transcript from this upload in the newest %d; creating one",
            task.tag,
            self._max_list_pages * self._list_page_size,
        )
        return None

    def _wait(self, task: Task, transcript_id: str, just_created: bool) -> Transcript:
        """Poll until the transcript is done. A transcript just created is queued (its create
        reply said so): the first look waits one interval instead of spending a request."""
        http = task.account.client.http_client
        fetch = functools.partial(get_transcript, http, transcript_id)
        what = f"get transcript {transcript_id}"
        interval = self._poll_initial
        budget = task.account.budget
        with budget.polling():
            if just_created:
                task.sleep(self._poll_delay(budget, interval))
            while True:
                reply = task.call(lambda: task.request_once(what, fetch))
                status = _value(reply.status)
                task.progress(_PROGRESS.get(status, 0.0))
                if status == "completed":
                    logger.info("%s: transcript %s completed", task.tag, transcript_id)
                    return _result(reply)
                if status == "error":
                    reason = task.account.scrub(reply.error or "no reason given")
                    logger.warning("%s: transcript %s failed: %s", task.tag, transcript_id, reason)
                    raise EngineRejected(
                        f"{task.file}: AssemblyAI could not transcribe it: {reason} (transcript {transcript_id})"
                    )
                interval = min(self._poll_max, interval * self._poll_growth)
                task.sleep(self._poll_delay(budget, interval))

    @staticmethod
    def _poll_delay(budget: RequestBudget, interval: float) -> float:
        # The floor keeps all the account's waiters' polls inside its budget; the jitter keeps
        # transcripts created together from polling in lockstep.
        return max(interval, budget.poll_floor()) * random.uniform(0.9, 1.1)

    def _config(self, request: EngineRequest) -> aai.TranscriptionConfig:
        options = request.options
        models: Any = options.get("speech_models", self._speech_models)
        if isinstance(models, str):
            models = [m.strip() for m in models.split(",") if m.strip()]
        if not isinstance(models, list | tuple) or not models or not all(isinstance(m, str) and m for m in models):
            raise EngineUnavailable(f"option speech_models={models!r} must name a speech model")
        return aai.TranscriptionConfig(
            speech_models=list(models),
            language_code=request.language,
            punctuate=_flag(options, "punctuate"),
            format_text=_flag(options, "format_text"),
            speaker_labels=_flag(options, "speaker_labels"),
        )

    def _account(self, credentials: Mapping[str, str]) -> tuple[Account, str]:
        key = credentials.get("assemblyai_api_key") or None
        label = _OWN_KEY
        if key is None or key == self._api_key:
            key, label = self._api_key, _SHARED_KEY
        if key is None:
            raise EngineUnavailable("no AssemblyAI API key: set ASSEMBLYAI_API_KEY, or give the user their own key")
        with self._lock:
            account = self._accounts.get(fingerprint(key))
            if account is None:
                # One budget per key: a key is the only account we can tell apart.
                budget = RequestBudget(self._rate, self._burst)
                account = Account(key, self._base_url, self._http_timeout, budget, self._policy)
                self._accounts[account.fingerprint] = account
        return account, label


def _flag(options: Mapping[str, Any], name: str) -> bool | None:
    value = options.get(name)
    if value is not None and not isinstance(value, bool):
        raise EngineUnavailable(f"option {name}={value!r} must be true or false")
    return value


def _parse_intent(intent: str) -> tuple[str, float | None]:
    url, mark, at = intent.partition(_INTENT_MARK)
    try:
        return url, float(at) if mark else None
    except ValueError:
        return url, None


def _timestamp(created: str) -> float:
    moment = datetime.fromisoformat(created)
    if moment.tzinfo is None:  # AssemblyAI lists naive UTC times
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _value(field: object) -> str:
    return str(field.value) if isinstance(field, Enum) else str(field)


def _result(reply: aai.types.TranscriptResponse) -> Transcript:
    words = tuple(Word(w.text, w.start, w.end, w.confidence, w.speaker) for w in reply.words or ())
    seconds = reply.audio_duration
    language = reply.language_code
    return Transcript(
        text=reply.text or "",
        words=words,
        audio_seconds=float(seconds) if seconds is not None else None,
        language=_value(language) if language is not None else None,
        engine="assemblyai",
    )
