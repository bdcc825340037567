"""The daemon assembled: store, engines, policy, APScheduler as clock and worker pool, server.

APScheduler runs everything that happens by itself: the dispatch pass (an interval job, woken at
once on every submit and completion), claims on the `workers` executor sized to the pools, lease
heartbeats and the reaper, the stall watchdog, retention, and users' schedules.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from fairscribe.daemon import eventlog
from fairscribe.daemon.accounts import Accounts
from fairscribe.daemon.batching import BatchSizer
from fairscribe.daemon.db import Database
from fairscribe.daemon.dispatch import Claim, Dispatcher
from fairscribe.daemon.engines.registry import EngineRegistry
from fairscribe.daemon.models import utcnow
from fairscribe.daemon.schedules import Schedules
from fairscribe.daemon.server import Server
from fairscribe.daemon.service import Service
from fairscribe.daemon.settings import Settings
from fairscribe.daemon.store import Store
from fairscribe.daemon.watchdog import Watchdog
from fairscribe.daemon.worker import Worker

log = logging.getLogger(__name__)

DISPATCH_INTERVAL = 1.0
EVENTS_KEPT = 200_000
OWN_KEY_THREADS = 256


class Daemon:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings.database_url)
        self.store = Store(self.db)
        self.accounts = Accounts(self.db)
        self.registry = EngineRegistry(settings)
        self.sizer = BatchSizer()
        self.stopping = threading.Event()
        # The dispatcher bounds the claims running at once by the pools' capacities, users' own-key
        # pools included (they appear as keys are set), so the executor must never be the tighter
        # bound; it starts threads only as claims need them.
        threads = sum(self.registry.pool_capacities().values()) + 8 + OWN_KEY_THREADS
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(6), "workers": ThreadPoolExecutor(threads)},
            jobstores={"default": MemoryJobStore()},
            # A claim must run however late the scheduler gets to it: a skipped claim would strand its files.
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
            timezone="UTC",
        )
        self.dispatcher = Dispatcher(
            settings, self.db, self.store, self.accounts, self.registry, self.sizer, self._start_claim
        )
        self.worker = Worker(
            settings, self.store, self.accounts, self.registry, self.sizer, self.dispatcher, self.wake, self.stopping
        )
        self.watchdog = Watchdog(settings, self.db, self.store, self.dispatcher, self.wake)
        self.schedules: Schedules | None = None
        self.service = Service(self.store, self.accounts, self.registry, self.dispatcher, self.sizer, self.wake)
        self.server = Server(settings, self.service)
        self._dirty = threading.Event()
        self._dispatching = threading.Lock()

    def start(self) -> None:
        self.db.migrate()
        if self.db.is_sqlite:
            # An embedded store has exactly one daemon: whatever was running when it died is an orphan.
            orphans = self.store.release_all_running()
            if orphans:
                log.warning("re-queued %d files that were running when the daemon last stopped", orphans)
        schedules = Schedules(self.db, self.store, self.scheduler, self.service)
        self.schedules = self.service.schedules = schedules
        lease = self.settings.lease_seconds
        # Two instances may overlap for a moment (a wake-up while the last pass returns): the second
        # finds the lock taken, and the first looks at the flag again after releasing it.
        self.scheduler.add_job(
            self._dispatch,
            "interval",
            seconds=DISPATCH_INTERVAL,
            id="dispatch",
            next_run_time=datetime.now(UTC),
            max_instances=2,
        )
        self.scheduler.add_job(self._heartbeat, "interval", seconds=lease / 3, id="heartbeat")
        self.scheduler.add_job(
            self._reap, "interval", seconds=max(lease / 2, 1.0), id="reaper", next_run_time=datetime.now(UTC)
        )
        self.scheduler.add_job(
            self.watchdog.check, "interval", seconds=max(self.settings.stall_seconds / 3, 0.5), id="watchdog"
        )
        self.scheduler.add_job(self._retain, "interval", hours=1, id="retention")
        self.scheduler.start()
        schedules.start()
        self.server.start()
        log.info(
            "fairscribed ready: engine %s (%s), %d local workers, AssemblyAI pool %d, store %s",
            self.settings.engine,
            self.settings.engine_reason,
            self.settings.workers,
            self.settings.assemblyai_max_workers,
            self.db.describe(),
        )

    def wake(self) -> None:
        """Run a dispatch pass as soon as possible (after a submit, a completion, a change)."""
        self._dirty.set()
        if self._dispatching.locked():
            return  # the pass under way looks at the flag again after it lets go of the lock
        try:
            self.scheduler.modify_job("dispatch", next_run_time=datetime.now(UTC))
        except Exception:
            log.debug("dispatch wake-up ignored during shutdown")

    def _dispatch(self) -> None:
        # A wake-up may land between a pass's last look at the flag and the lock's release: the
        # holder therefore looks once more after releasing, so no wake-up is ever lost.
        while not self.stopping.is_set():
            if not self._dispatching.acquire(blocking=False):
                return
            try:
                while not self.stopping.is_set():
                    self._dirty.clear()
                    self.dispatcher.run_pass()
                    if not self._dirty.is_set():
                        break
            except Exception:
                log.exception("dispatch pass failed; the next one will retry")
            finally:
                self._dispatching.release()
            if not self._dirty.is_set():
                return

    def _start_claim(self, claim: Claim) -> None:
        log.debug("user=%s pool=%s claim of %d files", claim.user, claim.pool, len(claim.tasks))
        self.scheduler.add_job(self.worker.run_claim, args=[claim], executor="workers", id=f"claim-{claim.id}")

    def _heartbeat(self) -> None:
        self.store.heartbeat(self.dispatcher.active_claims(), self.store.leases_until(self.settings.lease_seconds))

    def _reap(self) -> None:
        for user_id, job_id, count in self.store.reap_expired(utcnow()):
            log.warning(
                "user_id=%d job=%d: %d files whose worker stopped answering were re-queued", user_id, job_id, count
            )
            self.wake()

    def _retain(self) -> None:
        with self.db.write() as conn:
            dropped = eventlog.trim(conn, EVENTS_KEPT)
        if dropped:
            log.info("retention: dropped %d old events", dropped)

    def stop(self, grace: float = 5.0) -> None:
        log.info("fairscribed stopping")
        self.server.stop()
        self.stopping.set()
        deadline = time.monotonic() + grace
        while self.dispatcher.active_claims() and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            self.scheduler.shutdown(wait=False)
        except Exception:
            log.debug("scheduler already stopped")
        self.registry.close()
        self.db.dispose()

    def wait(self, until: threading.Event) -> None:
        while not until.wait(timedelta(seconds=1).total_seconds()):
            pass
