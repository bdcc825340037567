"""The per-account request pacer on its own: rate, bursts, pauses, and the poll floor."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from fairscribe.daemon.engines.assemblyai_budget import POLL_SHARE, RequestBudget


def test_200_concurrent_waiters_leave_at_the_rate() -> None:
    budget = RequestBudget(rate=400.0, burst=20)
    times: list[float] = []
    lock = threading.Lock()

    def one(_: int) -> None:
        budget.acquire(time.sleep)
        with lock:
            times.append(time.monotonic())

    start = time.monotonic()
    with ThreadPoolExecutor(200) as pool:
        list(pool.map(one, range(200)))
    times.sort()
    # 20 at once, then 180 at 400/s: about 0.45 s in all, never faster.
    assert times[-1] - start >= (200 - 20) / 400 - 0.02
    for i, t in enumerate(times):
        in_window = sum(1 for u in times[i:] if u < t + 0.1)
        assert in_window <= 20 + 0.1 * 400 + 1


def test_a_pause_holds_everyone_then_resumes_without_a_burst() -> None:
    budget = RequestBudget(rate=100.0, burst=10)
    budget.pause(0.3)
    start = time.monotonic()
    with ThreadPoolExecutor(5) as pool:
        list(pool.map(lambda _: budget.acquire(time.sleep), range(5)))
    elapsed = time.monotonic() - start
    assert 0.3 + 4 / 100 - 0.02 <= elapsed < 0.6


def test_a_pause_during_a_wait_sends_the_waiter_back_in_line() -> None:
    budget = RequestBudget(rate=10.0, burst=1)
    budget.acquire(time.sleep)  # the next one must wait 0.1 s
    pauser = threading.Timer(0.05, budget.pause, args=(0.4,))
    pauser.start()
    start = time.monotonic()
    budget.acquire(time.sleep)
    assert time.monotonic() - start >= 0.44


def test_poll_floor_grows_with_the_transcripts_being_waited_on() -> None:
    budget = RequestBudget(rate=10.0, burst=10)
    assert budget.poll_floor() == 0.0
    with budget.polling(), budget.polling():
        assert budget.poll_floor() == 2 / (10.0 * POLL_SHARE)
    assert budget.poll_floor() == 0.0
