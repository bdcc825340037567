"""Users' own recurring work: transcribe a folder every N seconds or on a cron timetable.

Timetables live in APScheduler's persistent SQLAlchemy job store (in the same database), so they
survive restarts; the `schedules` table holds what each one submits and for whom. A run submits the
folder like `fairscribe submit` does, skipping files already transcribed — so a watched folder only
ever queues what is new — and never starts while the schedule's previous job is still going.
With several nodes on PostgreSQL, only the node holding the schedules lock runs the timetables.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, ClassVar

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import delete, insert, select, update

from fairscribe.daemon import submission
from fairscribe.daemon.access import Caller
from fairscribe.daemon.db import Database
from fairscribe.daemon.models import JOBS, SCHEDULES, utcnow
from fairscribe.daemon.outputs import FORMATS
from fairscribe.daemon.store import TERMINAL_JOB_STATES, Store

log = logging.getLogger(__name__)

MIN_EVERY_SECONDS = 10


def fire(schedule_id: str) -> None:
    """The persistent job's target: a module-level function, so APScheduler can store a reference."""
    if Schedules.running is not None:
        Schedules.running.run(schedule_id)


class Schedules:
    # The schedules of this process, for `fire`: APScheduler stores a function reference, not us.
    running: ClassVar[Schedules | None] = None

    def __init__(self, db: Database, store: Store, scheduler: BaseScheduler, service: Any) -> None:
        self.db = db
        self.store = store
        self.scheduler = scheduler
        self.service = service
        self._leader_conn: Any = None

    def start(self) -> None:
        Schedules.running = self
        self._leader_conn = self.db.engine.connect() if not self.db.is_sqlite else None
        if self._leader_conn is not None and not self.db.try_session_lock(self._leader_conn, "fairscribe-schedules"):
            self._leader_conn.close()
            self._leader_conn = None
            self.scheduler.add_job(self._try_lead, "interval", seconds=30, id="schedules-election")
            return
        self._lead()

    def _try_lead(self) -> None:
        conn = self.db.engine.connect()
        if self.db.try_session_lock(conn, "fairscribe-schedules"):
            self._leader_conn = conn
            self.scheduler.remove_job("schedules-election")
            self._lead()
        else:
            conn.close()

    def _lead(self) -> None:
        self.scheduler.add_jobstore(SQLAlchemyJobStore(engine=self.db.engine), "persistent")
        log.info("this node runs users' schedules")

    # Protocol methods ---------------------------------------------------------------------------

    def add(self, caller: Caller, params: dict[str, Any]) -> Any:
        from fairscribe.daemon.service import RpcError
        from fairscribe.shared.protocol import ErrorCode

        every = params.get("every")
        cron = params.get("cron")
        if (every is None) == (cron is None):
            raise RpcError(ErrorCode.INVALID_PARAMS, "give exactly one of 'every' (seconds) or 'cron'")
        try:
            if every is not None:
                if not isinstance(every, int) or isinstance(every, bool) or every < MIN_EVERY_SECONDS:
                    raise ValueError(f"field 'every' must be a whole number of seconds, at least {MIN_EVERY_SECONDS}")
                trigger: Any = IntervalTrigger(seconds=every)
            else:
                trigger = CronTrigger.from_crontab(str(cron), timezone="UTC")
            source, out = submission.resolve(caller, str(params.get("dir") or ""), params.get("out"))
        except submission.SubmitRefused as exc:
            raise RpcError(ErrorCode.BAD_INPUT, str(exc)) from None
        except ValueError as exc:
            raise RpcError(ErrorCode.INVALID_PARAMS, f"schedule: {exc}") from None
        account = self.service.account(caller)
        schedule_id = uuid.uuid4().hex[:12]
        formats = params.get("formats") or ",".join(FORMATS)
        with self.db.write() as conn:
            conn.execute(
                insert(SCHEDULES).values(
                    id=schedule_id,
                    user_id=account.id,
                    source_dir=str(source),
                    out_dir=str(out),
                    engine=params.get("engine") or self.service.registry.default,
                    formats=formats if isinstance(formats, str) else ",".join(formats),
                    language=params.get("language"),
                    every_seconds=every,
                    cron=cron,
                    created_at=utcnow(),
                )
            )
        self.scheduler.add_job(
            fire,
            trigger,
            args=[schedule_id],
            id=f"schedule-{schedule_id}",
            jobstore="persistent" if self._leader_conn is not None or self.db.is_sqlite else "default",
            replace_existing=True,
        )
        log.info("user=%s added schedule %s for %s", account.name, schedule_id, source)
        return {"schedule": self._dict_by_id(schedule_id)}

    def list(self, caller: Caller, params: dict[str, Any]) -> Any:
        account = self.service.account(caller)
        with self.db.read() as conn:
            rows = conn.execute(
                select(SCHEDULES).where(SCHEDULES.c.user_id == account.id).order_by(SCHEDULES.c.created_at)
            ).all()
        return {"schedules": [self._dict(row) for row in rows]}

    def remove(self, caller: Caller, params: dict[str, Any]) -> Any:
        from fairscribe.daemon.service import RpcError
        from fairscribe.shared.protocol import ErrorCode

        account = self.service.account(caller)
        schedule_id = str(params.get("id") or "")
        with self.db.write() as conn:
            removed = conn.execute(
                delete(SCHEDULES).where(SCHEDULES.c.id == schedule_id, SCHEDULES.c.user_id == account.id)
            ).rowcount
        if not removed:
            raise RpcError(ErrorCode.NOT_FOUND, f"schedule {schedule_id!r} not found among {account.name}'s schedules")
        try:
            self.scheduler.remove_job(f"schedule-{schedule_id}")
        except Exception:
            log.debug("schedule %s had no timetable on this node", schedule_id)
        return {}

    # Running ------------------------------------------------------------------------------------

    def run(self, schedule_id: str) -> None:
        with self.db.read() as conn:
            row = conn.execute(select(SCHEDULES).where(SCHEDULES.c.id == schedule_id)).one_or_none()
            if row is None:
                return
            previous = (
                conn.execute(select(JOBS.c.state).where(JOBS.c.id == row.last_job_id)).scalar()
                if row.last_job_id
                else None
            )
        if previous is not None and previous not in TERMINAL_JOB_STATES:
            log.info("schedule %s: job %s still running; this run is skipped", schedule_id, row.last_job_id)
            return
        job = self.service.start_job(
            row.user_id,
            row.source_dir,
            row.out_dir,
            row.engine,
            tuple(row.formats.split(",")),
            row.language,
            force=False,
            only_new=True,
        )
        with self.db.write() as conn:
            conn.execute(
                update(SCHEDULES).where(SCHEDULES.c.id == schedule_id).values(last_run_at=utcnow(), last_job_id=job)
            )
        log.info("schedule %s ran: job %s", schedule_id, job)

    def _dict_by_id(self, schedule_id: str) -> dict[str, Any]:
        with self.db.read() as conn:
            return self._dict(conn.execute(select(SCHEDULES).where(SCHEDULES.c.id == schedule_id)).one())

    def _dict(self, row: Any) -> dict[str, Any]:
        job = self.scheduler.get_job(f"schedule-{row.id}")
        next_run = getattr(job, "next_run_time", None) if job else None
        return {
            "id": row.id,
            "dir": row.source_dir,
            "out": row.out_dir,
            "every": row.every_seconds,
            "cron": row.cron,
            "engine": row.engine,
            "last_run_at": row.last_run_at and row.last_run_at.isoformat(),
            "last_job": row.last_job_id,
            "next_run_at": next_run.isoformat() if next_run else None,
        }
