"""The stall watchdog: the product's promise that a batch never silently stops early.

A job with queued work, free capacity in its pool, an admitted owner and no progress for a while is
a stall: it is logged as `EARLY STOP DETECTED` with the user, job and counts, shown to the user as an
event, and repaired (expired leases re-queued, the dispatcher woken). Saturation — every worker busy
while users wait — is normal and logged as information, at most once a minute.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from fairscribe.daemon import eventlog
from fairscribe.daemon.db import Database
from fairscribe.daemon.dispatch import Dispatcher
from fairscribe.daemon.models import TASKS, utcnow
from fairscribe.daemon.settings import Settings
from fairscribe.daemon.store import Store

log = logging.getLogger(__name__)

SATURATION_LOG_SECONDS = 60.0


class Watchdog:
    def __init__(
        self, settings: Settings, db: Database, store: Store, dispatcher: Dispatcher, wake: Callable[[], None]
    ) -> None:
        self.settings = settings
        self.db = db
        self.store = store
        self.dispatcher = dispatcher
        self.wake = wake
        self._last_saturation_log = float("-inf")
        self.stalls_detected = 0

    def check(self) -> None:
        snapshot = self.dispatcher.snapshot
        if snapshot.decision is None:
            return
        now = utcnow()
        running_by_pool: dict[str, int] = {}
        for demand in snapshot.demand:
            running_by_pool[demand.pool] = running_by_pool.get(demand.pool, 0) + demand.running
        free = {pool: capacity - running_by_pool.get(pool, 0) for pool, capacity in snapshot.capacities.items()}
        waiting = set(snapshot.decision.waiting)
        names = {a.id: a for a in snapshot.accounts.values()}
        with self.db.read() as conn:
            stalled = self.store.stalled_jobs(conn, now - timedelta(seconds=self.settings.stall_seconds))
            pools = {
                job.id: conn.execute(select(TASKS.c.pool).where(TASKS.c.job_id == job.id).limit(1)).scalar()
                for job in stalled
            }
            counts = self.store.counts(conn, [job.id for job in stalled])
        for job in stalled:
            account = names.get(job.user_id)
            if account is None or account.name in waiting:
                continue
            pool = pools.get(job.id) or "local"
            if free.get(pool, 0) <= 0:
                continue
            held = sum(d.running for d in snapshot.demand if d.user_id == job.user_id)
            if account.max_workers and held >= account.max_workers:
                continue
            self._repair(account.name, job.id, job.user_id, counts[job.id], free.get(pool, 0))
        self._log_saturation(free, waiting)

    def _repair(self, user: str, job_id: int, user_id: int, counts: object, free: int) -> None:
        self.stalls_detected += 1
        log.warning(
            "EARLY STOP DETECTED user=%s job=%d counts=%s free_workers=%d: no progress for %.0fs "
            "with work queued; re-queuing expired leases and dispatching",
            user,
            job_id,
            counts,
            free,
            self.settings.stall_seconds,
        )
        with self.db.write() as conn:
            eventlog.append(
                conn,
                "job.stall",
                user_id=user_id,
                job_id=job_id,
                message="no progress with work queued and workers free; repaired",
            )
        self.store.reap_expired(utcnow())
        self.store.touch(job_id)
        self.wake()

    def _log_saturation(self, free: dict[str, int], waiting: set[str]) -> None:
        full = [pool for pool, slots in free.items() if slots <= 0]
        if not full or time.monotonic() - self._last_saturation_log < SATURATION_LOG_SECONDS:
            return
        self._last_saturation_log = time.monotonic()
        log.info(
            "saturated: pools %s have every worker busy; %d users waiting for admission",
            ", ".join(sorted(full)),
            len(waiting),
        )
