"""One request budget per AssemblyAI account, shared by every thread that uses the account.

AssemblyAI allows an account 20,000 requests per 5 minutes, whichever keys and threads send them.
A fixed 3-second poll per transcript would spend that on 200 transcripts alone, so every request
(upload, create, poll, list) first takes its turn here, and the poll interval grows with the number
of transcripts being waited on. A 429 pauses the whole account: the limit is the account's, so a
429 to one thread means every other thread is about to get one too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# Polls may use this share of the budget; the rest stays free for uploads, creates and lists.
POLL_SHARE = 0.8
# A Retry-After beyond this is treated as this: the retry count bounds the total wait anyway.
MAX_PAUSE_SECONDS = 300.0


class RequestBudget:
    """Paces requests to `rate` per second on average with bursts of at most `burst` (a generic
    cell rate algorithm). Each caller reserves its own departure time under the lock and sleeps
    outside it, so waiting threads leave in the order they asked, `rate` apart."""

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"a request budget needs rate > 0 and burst >= 1, not {rate}, {burst}")
        self.rate = rate
        self._interval = 1.0 / rate
        self._tolerance = (burst - 1) * self._interval
        self._clock = clock
        self._lock = threading.Lock()
        self._tat = clock()  # theoretical arrival time of the next request
        self._paused_until = 0.0
        self._polling = 0

    def acquire(self, sleep: Callable[[float], None]) -> None:
        """Wait (through `sleep`, which may raise to abandon the wait) until one request may go."""
        while True:
            wait = self._reserve()
            if wait > 0:
                sleep(wait)
            with self._lock:
                # A 429 may have paused the account while this caller slept: queue behind it.
                if self._clock() >= self._paused_until:
                    return

    def pause(self, seconds: float) -> None:
        """Send nothing for `seconds` (a 429's Retry-After), then resume at the steady rate."""
        seconds = min(max(seconds, 0.0), MAX_PAUSE_SECONDS)
        with self._lock:
            until = self._clock() + seconds
            self._paused_until = max(self._paused_until, until)
            # Next departure no earlier than `until`, and no burst right after the pause.
            self._tat = max(self._tat, until + self._tolerance)

    @contextmanager
    def polling(self) -> Iterator[None]:
        """Count one transcript being waited on for as long as the block runs."""
        with self._lock:
            self._polling += 1
        try:
            yield
        finally:
            with self._lock:
                self._polling -= 1

    def poll_floor(self) -> float:
        """The shortest poll interval that keeps all current waiters' polls inside their share."""
        with self._lock:
            return self._polling / (self.rate * POLL_SHARE)

    def _reserve(self) -> float:
        with self._lock:
            now = self._clock()
            tat = max(self._tat, now)
            self._tat = tat + self._interval
            return max(0.0, tat - self._tolerance - now)
