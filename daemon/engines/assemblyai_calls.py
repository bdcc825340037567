"""One AssemblyAI key as the engine uses it: its own SDK client, its account's request budget,
retries with backoff, and the `Task` that carries one file's call through them.

The SDK keeps process-wide defaults in `aai.settings`; two keys used at once in one process (the
shared account's and a user's own) would race there, so each key gets its own `aai.Client` built
from its own `aai.Settings` and never touches the global one. The SDK retries nothing and raises on
any HTTP error without the reply's headers, so an httpx response hook keeps each thread's last reply
(the client is shared by threads; the hook runs in the thread that sent the request) and every
failure becomes an `ApiError` with AssemblyAI's status, its error text and any Retry-After.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

import assemblyai as aai
import httpx
import tenacity

from ...shared.errors import (
    EngineRejected,
    EngineUnavailable,
    TaskFailure,
    TransientError,
)
from .assemblyai_budget import RequestBudget
from .base import EngineRequest

logger = logging.getLogger(__name__)
T = TypeVar("T")
# How often a wait looks at `should_stop`.
_STOP_CHECK_SECONDS = 0.25
# Failures that happen before the request leaves: AssemblyAI cannot have seen it.
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
Sleep = Callable[[float], None]
OnRetry = Callable[[tenacity.RetryCallState], None]


class ApiError(Exception):
    """A request that got no usable reply: `status` is None when no reply came at all, and
    `sent` is False when the request cannot have reached AssemblyAI (no connection was made)."""

    def __init__(
        self,
        what: str,
        status: int | None,
        detail: str,
        retry_after: float | None = None,
        sent: bool = True,
    ) -> None:
        super().__init__(f"{what}: {status or 'no reply'}: {detail}")
        self.what = what
        self.status = status
        self.detail = detail
        self.retry_after = retry_after
        self.sent = sent

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status == 429 or self.status >= 500

    @property
    def may_have_happened(self) -> bool:
        """Whether AssemblyAI may have acted on the request although it failed: the reply was
        lost, or the service failed (5xx) after perhaps doing it. A 429 or a 4xx is a refusal."""
        if self.status is None:
            return self.sent
        return self.status >= 500


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter; a 429 waits its Retry-After first."""

    attempts: int = 6
    base_seconds: float = 0.5
    cap_seconds: float = 30.0

    def wait(self, state: tenacity.RetryCallState) -> float:
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** (state.attempt_number - 1))
        error = state.outcome.exception() if state.outcome is not None else None
        retry_after = error.retry_after if isinstance(error, ApiError) else None
        # Jitter spreads the threads that were all told the same Retry-After.
        return (retry_after or 0.0) + random.uniform(0.0, ceiling)


def fingerprint(key: str) -> str:
    """A short, stable, non-reversible name for a key: pools and logs use it, never the key."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


class Account:
    """One API key: its SDK client and its account's budget. Thread-safe."""

    def __init__(
        self,
        key: str,
        base_url: str | None,
        http_timeout: float,
        budget: RequestBudget,
        policy: RetryPolicy,
    ) -> None:
        settings = aai.Settings(api_key=key, http_timeout=http_timeout)
        if base_url:
            settings.base_url = base_url
        self.client = aai.Client(settings=settings)
        self.client.http_client.event_hooks["response"].append(self._keep_reply)
        self.transcriber = aai.Transcriber(client=self.client)
        self.base_url = settings.base_url
        self.fingerprint = fingerprint(key)
        self.budget = budget
        self.policy = policy
        self._key = key
        self._replies = threading.local()

    def scrub(self, text: str) -> str:
        """`text` with the key blanked out, in case a reply or an exception ever echoes it."""
        return text.replace(self._key, "[API key]") if self._key else text

    def request(self, what: str, send: Callable[[], T], sleep: Sleep) -> T:
        """One HTTP request through the SDK, after its turn from the account's budget."""
        self.budget.acquire(sleep)
        self._replies.last = None
        try:
            return send()
        except aai.AssemblyAIError as exc:
            raise self._api_error(what, exc) from None
        except httpx.TransportError as exc:
            detail = self.scrub(str(exc) or type(exc).__name__)
            raise ApiError(what, None, detail, sent=not isinstance(exc, _UNSENT)) from None

    def reply_date(self) -> float | None:
        """The `Date` of this thread's last reply: AssemblyAI's clock, as a Unix time."""
        reply: httpx.Response | None = getattr(self._replies, "last", None)
        try:
            moment = parsedate_to_datetime(reply.headers["date"]) if reply is not None else None
        except (KeyError, TypeError, ValueError):
            return None
        return moment.timestamp() if moment is not None and moment.tzinfo else None

    def call(
        self,
        send: Callable[[], T],
        sleep: Sleep,
        on_retry: OnRetry,
        attempts: int | None = None,
    ) -> T:
        """`send` (one or more `request`s), retried on 429, 5xx and lost connections."""
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(attempts or self.policy.attempts),
            retry=tenacity.retry_if_exception(lambda e: isinstance(e, ApiError) and e.retryable),
            wait=self.policy.wait,
            sleep=sleep,
            before_sleep=on_retry,
            reraise=True,
        )
        return retrying(send)

    def _keep_reply(self, response: httpx.Response) -> None:
        self._replies.last = response

    def _api_error(self, what: str, exc: aai.AssemblyAIError) -> ApiError:
        reply: httpx.Response | None = getattr(self._replies, "last", None)
        status = exc.status_code if exc.status_code is not None else 0
        detail = str(exc)
        retry_after = None
        if reply is not None and reply.status_code == status:
            detail = _error_text(reply)
            retry_after = parse_retry_after(reply.headers.get("retry-after"))
        if status == 429:
            self.budget.pause(retry_after if retry_after is not None else self.policy.base_seconds)
        return ApiError(what, status, self.scrub(detail), retry_after)


class Task:
    """One `transcribe` call: its request, its account, and waits that notice a stop (and then
    hand the task back: what was remembered makes the resume free)."""

    def __init__(self, request: EngineRequest, account: Account) -> None:
        self.request = request
        self.account = account
        self.file = str(request.path)
        self.tag = f"user={request.user} job={request.job_id} task={request.task_id}"
        self._progress = -1.0

    def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while True:
            if self.request.should_stop():
                raise TransientError(f"{self.file}: stopped; what AssemblyAI already has will be resumed")
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, _STOP_CHECK_SECONDS))

    def request_once(self, what: str, send: Callable[[], T]) -> T:
        return self.account.request(what, send, self.sleep)

    def call(self, send: Callable[[], T]) -> T:
        return self.account.call(send, self.sleep, log_retry(self.tag))

    def progress(self, fraction: float) -> None:
        if fraction > self._progress:
            self._progress = fraction
            self.request.report_progress(fraction)


def log_retry(tag: str) -> OnRetry:
    """A tenacity `before_sleep` that logs the failure and the wait under `tag`."""

    def log(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        logger.warning(
            "%s: AssemblyAI %s; attempt %d failed, retrying in %.1f s",
            tag,
            error,
            state.attempt_number,
            state.upcoming_sleep,
        )

    return log


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: a number of seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _error_text(reply: httpx.Response) -> str:
    try:
        text = reply.json()["error"]
    except (ValueError, KeyError, TypeError):
        text = reply.text[:200] or reply.reason_phrase
    return str(text)


def failure(error: ApiError, file: str, key_label: str, base_url: str) -> TaskFailure:
    """What the daemon sees when a request failed for good (retries exhausted or not retryable)."""
    if error.status == 401:
        return EngineUnavailable(f"AssemblyAI rejected {key_label} (401): {error.detail}")
    if error.status is None:
        return TransientError(f"{file}: cannot reach AssemblyAI at {base_url} to {error.what}: {error.detail}")
    if error.retryable:
        return TransientError(
            f"{file}: AssemblyAI kept answering {error.status} to {error.what}: {error.detail}",
            retry_after=error.retry_after,
        )
    return EngineRejected(f"{file}: AssemblyAI refused to {error.what} ({error.status}): {error.detail}")
