"""Jobs and tasks in the store. Every change of a task's state is one transaction that also
records its event; every UPDATE names the states it may start from (see `transitions`), so two
nodes racing on one task cannot both win."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, func, insert, or_, select, update

from fairscribe.daemon import eventlog
from fairscribe.daemon.db import Database
from fairscribe.daemon.models import JOBS, TASKS, utcnow
from fairscribe.daemon.transitions import (
    TERMINAL_TASK_STATES,
    JobCounts,
    JobState,
    TaskEvent,
    TaskState,
    allowed_sources,
    job_state,
)

# What a task keeps of its lease once the lease is over: nothing.
LEASE_ENDED: dict[str, Any] = {"claim_id": None, "lease_owner": None, "lease_expires_at": None}
TERMINAL_JOB_STATES = frozenset({JobState.DONE, JobState.FAILED, JobState.CANCELLED})


def _sources(event: TaskEvent) -> list[str]:
    return [str(state) for state in allowed_sources(event)]


@dataclass(frozen=True)
class ClaimedTask:
    id: int
    job_id: int
    user_id: int
    pool: str
    path: str
    attempts: int
    remote_intent: str | None
    remote_id: str | None
    audio_seconds: float | None


@dataclass(frozen=True)
class Demand:
    """One user's work in one pool, as the dispatcher sees it."""

    user_id: int
    pool: str
    queued: int
    running: int
    arrival: float


@dataclass(frozen=True)
class NewFile:
    path: str
    audio_seconds: float | None = None
    rejected: str | None = None


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db

    # Jobs -----------------------------------------------------------------------------------

    def create_job(
        self,
        *,
        user_id: int,
        source_dir: str,
        out_dir: str,
        engine: str,
        formats: str,
        language: str | None,
        force: bool,
        options: dict[str, Any] | None = None,
    ) -> int:
        with self.db.write() as conn:
            position = conn.execute(select(func.coalesce(func.max(JOBS.c.position), 0.0) + 1.0)).scalar_one()
            job_id = conn.execute(
                insert(JOBS)
                .returning(JOBS.c.id)
                .values(
                    user_id=user_id,
                    state=str(JobState.ACTIVE),
                    source_dir=source_dir,
                    out_dir=out_dir,
                    engine=engine,
                    formats=formats,
                    language=language,
                    options=options or {},
                    force=force,
                    scanning=True,
                    cancel_requested=False,
                    position=position,
                    total=0,
                    created_at=utcnow(),
                    last_progress_at=utcnow(),
                )
            ).scalar_one()
            eventlog.append(conn, "job.submitted", user_id=user_id, job_id=job_id, dir=source_dir)
        return int(job_id)

    def add_files(self, job_id: int, pool: str, files: Sequence[NewFile]) -> None:
        """Queue a chunk of a job's files; files rejected at submit go straight to failed."""
        if not files:
            return
        now = utcnow()
        with self.db.write() as conn:
            job = conn.execute(
                select(JOBS.c.user_id, JOBS.c.position, JOBS.c.cancel_requested).where(JOBS.c.id == job_id)
            ).one()
            queued_state = TaskState.CANCELLED if job.cancel_requested else TaskState.QUEUED
            conn.execute(
                insert(TASKS),
                [
                    {
                        "job_id": job_id,
                        "user_id": job.user_id,
                        "pool": pool,
                        "job_position": job.position,
                        "path": f.path,
                        "state": str(TaskState.FAILED if f.rejected else queued_state),
                        "attempts": 0,
                        "error": f.rejected,
                        "audio_seconds": f.audio_seconds,
                        "progress": 0.0,
                        "finished_at": now if f.rejected else None,
                    }
                    for f in files
                ],
            )
            conn.execute(update(JOBS).where(JOBS.c.id == job_id).values(total=JOBS.c.total + len(files)))

    def end_scan(self, job_id: int, error: str | None = None, skipped: int = 0) -> None:
        with self.db.write() as conn:
            values: dict[str, Any] = {"scanning": False, "skipped": skipped}
            if error:
                values["error"] = error
            conn.execute(update(JOBS).where(JOBS.c.id == job_id).values(**values))
            self._settle(conn, [job_id])

    def job_row(self, conn: Connection, job_id: int) -> Any:
        return conn.execute(select(JOBS).where(JOBS.c.id == job_id)).one_or_none()

    def counts(self, conn: Connection, job_ids: Iterable[int]) -> dict[int, JobCounts]:
        ids = list(job_ids)
        if not ids:
            return {}
        tallies: dict[int, dict[str, int]] = {job_id: {} for job_id in ids}
        rows = conn.execute(
            select(TASKS.c.job_id, TASKS.c.state, func.count())
            .where(TASKS.c.job_id.in_(ids))
            .group_by(TASKS.c.job_id, TASKS.c.state)
        )
        for job_id, state, count in rows:
            tallies[job_id][state] = count
        return {
            job_id: JobCounts(
                total=sum(t.values()), **{s: t.get(s, 0) for s in ("queued", "running", "done", "failed", "cancelled")}
            )
            for job_id, t in tallies.items()
        }

    def _settle(self, conn: Connection, job_ids: Iterable[int]) -> list[int]:
        """Recompute the state of these jobs; returns the ones that just ended."""
        ended: list[int] = []
        ids = sorted(set(job_ids))
        if not ids:
            return ended
        jobs = {row.id: row for row in conn.execute(select(JOBS).where(JOBS.c.id.in_(ids)))}
        for job_id, counts in self.counts(conn, ids).items():
            job = jobs[job_id]
            if job.state in TERMINAL_JOB_STATES:
                continue
            state = job_state(
                counts,
                scanning=job.scanning,
                paused=job.state == JobState.PAUSED,
                cancel_requested=job.cancel_requested,
            )
            if state == job.state:
                continue
            values: dict[str, Any] = {"state": str(state)}
            if state in TERMINAL_JOB_STATES:
                values["finished_at"] = utcnow()
                ended.append(job_id)
                eventlog.append(
                    conn,
                    "job.finished",
                    user_id=job.user_id,
                    job_id=job_id,
                    state=str(state),
                    total=counts.total,
                    done=counts.done,
                    failed=counts.failed,
                    cancelled=counts.cancelled,
                )
            conn.execute(update(JOBS).where(JOBS.c.id == job_id).values(**values))
        return ended

    # Dispatch -------------------------------------------------------------------------------

    def demand(
        self, conn: Connection, now: datetime, *, node: str = "", node_local: frozenset[str] = frozenset()
    ) -> list[Demand]:
        """Queued (claimable) and running work per user and pool, across every node — except in
        `node_local` pools (this machine's CPU cores), where only this node's own workers count."""
        found: dict[tuple[int, str], dict[str, float]] = {}
        queued = conn.execute(
            select(TASKS.c.user_id, TASKS.c.pool, func.count(), func.min(JOBS.c.created_at))
            .join(JOBS, JOBS.c.id == TASKS.c.job_id)
            .where(
                TASKS.c.state == TaskState.QUEUED,
                JOBS.c.state == JobState.ACTIVE,
                or_(TASKS.c.not_before.is_(None), TASKS.c.not_before <= now),
            )
            .group_by(TASKS.c.user_id, TASKS.c.pool)
        )
        for user_id, pool, count, created in queued:
            found[(user_id, pool)] = {"queued": count, "running": 0, "arrival": created.timestamp()}
        running = conn.execute(
            select(TASKS.c.user_id, TASKS.c.pool, TASKS.c.lease_owner, func.count(func.distinct(TASKS.c.claim_id)))
            .where(TASKS.c.state == TaskState.RUNNING)
            .group_by(TASKS.c.user_id, TASKS.c.pool, TASKS.c.lease_owner)
        )
        for user_id, pool, owner, slots in running:
            if pool in node_local and owner != node:
                continue
            entry = found.setdefault((user_id, pool), {"queued": 0, "running": 0, "arrival": now.timestamp()})
            entry["running"] += slots
        return [
            Demand(user_id, pool, int(v["queued"]), int(v["running"]), v["arrival"])
            for (user_id, pool), v in sorted(found.items())
        ]

    def claim(
        self,
        conn: Connection,
        *,
        user_id: int,
        pool: str,
        limit: int,
        claim_id: str,
        owner: str,
        lease_until: datetime,
        now: datetime,
    ) -> list[ClaimedTask]:
        """Lease up to `limit` of a user's queued tasks in a pool, their oldest job first."""
        candidates = (
            select(TASKS.c.id)
            .join(JOBS, JOBS.c.id == TASKS.c.job_id)
            .where(
                TASKS.c.state == TaskState.QUEUED,
                TASKS.c.pool == pool,
                TASKS.c.user_id == user_id,
                JOBS.c.state == JobState.ACTIVE,
                or_(TASKS.c.not_before.is_(None), TASKS.c.not_before <= now),
            )
            .order_by(TASKS.c.job_position, TASKS.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=TASKS)
        )
        ids = list(conn.execute(candidates).scalars())
        if not ids:
            return []
        conn.execute(
            update(TASKS)
            .where(TASKS.c.id.in_(ids), TASKS.c.state.in_(_sources(TaskEvent.CLAIM)))
            .values(
                state=str(TaskState.RUNNING),
                claim_id=claim_id,
                lease_owner=owner,
                lease_expires_at=lease_until,
                started_at=now,
                attempts=TASKS.c.attempts + 1,
                progress=0.0,
                not_before=None,
            )
        )
        rows = conn.execute(
            select(TASKS)
            .where(TASKS.c.id.in_(ids), TASKS.c.claim_id == claim_id)
            .order_by(TASKS.c.job_position, TASKS.c.id)
        )
        return [
            ClaimedTask(
                r.id, r.job_id, r.user_id, r.pool, r.path, r.attempts, r.remote_intent, r.remote_id, r.audio_seconds
            )
            for r in rows
        ]

    # Task outcomes: each one transaction --------------------------------------------------------

    def _transition(self, task_id: int, holder: str | None, event: TaskEvent, **values: Any) -> bool:
        """Apply `event` to one task, only if it is still in a state the event may start from and
        (when `holder` is given) still leased by that claim. Every such event ends the task's lease."""
        with self.db.write() as conn:
            condition = and_(TASKS.c.id == task_id, TASKS.c.state.in_(_sources(event)))
            if holder is not None:
                condition = and_(condition, TASKS.c.claim_id == holder)
            row = conn.execute(
                update(TASKS)
                .where(condition)
                .values(**values, **LEASE_ENDED)
                .returning(TASKS.c.job_id, TASKS.c.user_id, TASKS.c.path)
            ).one_or_none()
            if row is None:
                return False
            now = utcnow()
            conn.execute(update(JOBS).where(JOBS.c.id == row.job_id).values(last_progress_at=now))
            if event == TaskEvent.FAIL:
                eventlog.append(
                    conn,
                    "file.failed",
                    user_id=row.user_id,
                    job_id=row.job_id,
                    path=row.path,
                    error=values.get("error"),
                )
            self._settle(conn, [row.job_id])
            return True

    def finish(self, task_id: int, claim_id: str, audio_seconds: float | None) -> bool:
        return self._transition(
            task_id,
            claim_id,
            TaskEvent.FINISH,
            state=str(TaskState.DONE),
            finished_at=utcnow(),
            error=None,
            progress=1.0,
            audio_seconds=func.coalesce(audio_seconds, TASKS.c.audio_seconds),
        )

    def fail(self, task_id: int, claim_id: str | None, reason: str) -> bool:
        return self._transition(
            task_id,
            claim_id,
            TaskEvent.FAIL,
            state=str(TaskState.FAILED),
            finished_at=utcnow(),
            error=reason,
        )

    def cancel_running(self, task_id: int, claim_id: str) -> bool:
        return self._transition(
            task_id,
            claim_id,
            TaskEvent.CANCEL,
            state=str(TaskState.CANCELLED),
            finished_at=utcnow(),
        )

    def retry_later(self, task_id: int, claim_id: str, reason: str, not_before: datetime) -> bool:
        """Hand a task back after a transient failure; it is claimed again after `not_before`."""
        return self._transition(
            task_id,
            claim_id,
            TaskEvent.RELEASE,
            state=str(TaskState.QUEUED),
            error=reason,
            not_before=not_before,
        )

    def release(self, task_ids: Sequence[int], claim_id: str) -> int:
        """Hand unstarted tasks of a claim back to the queue, without counting an attempt."""
        if not task_ids:
            return 0
        with self.db.write() as conn:
            return conn.execute(
                update(TASKS)
                .where(
                    TASKS.c.id.in_(task_ids),
                    TASKS.c.claim_id == claim_id,
                    TASKS.c.state.in_(_sources(TaskEvent.RELEASE)),
                )
                .values(
                    state=str(TaskState.QUEUED),
                    **LEASE_ENDED,
                    attempts=case((TASKS.c.attempts > 0, TASKS.c.attempts - 1), else_=0),
                )
            ).rowcount

    def remember_remote(self, task_id: int, claim_id: str, intent: str | None, remote_id: str | None) -> bool:
        """Store what a remote engine started; False when the claim no longer holds the task (its
        lease expired and another worker may be resuming it), so the caller must not go on."""
        with self.db.write() as conn:
            return (
                conn.execute(
                    update(TASKS)
                    .where(TASKS.c.id == task_id, TASKS.c.claim_id == claim_id, TASKS.c.state == TaskState.RUNNING)
                    .values(remote_intent=intent, remote_id=remote_id)
                ).rowcount
                == 1
            )

    def set_progress(self, task_id: int, claim_id: str, fraction: float) -> None:
        with self.db.write() as conn:
            conn.execute(
                update(TASKS)
                .where(TASKS.c.id == task_id, TASKS.c.claim_id == claim_id)
                .values(progress=max(0.0, min(1.0, fraction)))
            )

    def heartbeat(self, claim_ids: Sequence[str], lease_until: datetime) -> None:
        if not claim_ids:
            return
        with self.db.write() as conn:
            conn.execute(
                update(TASKS)
                .where(TASKS.c.claim_id.in_(claim_ids), TASKS.c.state == TaskState.RUNNING)
                .values(lease_expires_at=lease_until)
            )

    def reap_expired(self, now: datetime) -> list[tuple[int, int, int]]:
        """Return tasks whose lease ran out (a dead node or worker) to the queue.
        Returns (user_id, job_id, count) per job."""
        with self.db.write() as conn:
            expired = conn.execute(
                select(TASKS.c.user_id, TASKS.c.job_id, func.count())
                .where(TASKS.c.state == TaskState.RUNNING, TASKS.c.lease_expires_at < now)
                .group_by(TASKS.c.user_id, TASKS.c.job_id)
            ).all()
            if expired:
                conn.execute(
                    update(TASKS)
                    .where(TASKS.c.state == TaskState.RUNNING, TASKS.c.lease_expires_at < now)
                    .values(state=str(TaskState.QUEUED), **LEASE_ENDED)
                )
                for user_id, job_id, count in expired:
                    eventlog.append(conn, "lease.expired", user_id=user_id, job_id=job_id, requeued=count)
            return [(int(u), int(j), int(c)) for u, j, c in expired]

    def release_all_running(self) -> int:
        """At start-up of an embedded (single-daemon) store: every running task is an orphan."""
        with self.db.write() as conn:
            return conn.execute(
                update(TASKS)
                .where(TASKS.c.state == TaskState.RUNNING)
                .values(state=str(TaskState.QUEUED), **LEASE_ENDED)
            ).rowcount

    def fail_queued(self, job_id: int, reason: str) -> int:
        """The engine cannot work at all: fail the job's waiting files at once with the reason."""
        with self.db.write() as conn:
            failed = conn.execute(
                update(TASKS)
                .where(TASKS.c.job_id == job_id, TASKS.c.state == TaskState.QUEUED)
                .values(state=str(TaskState.FAILED), error=reason, finished_at=utcnow())
            ).rowcount
            conn.execute(update(JOBS).where(JOBS.c.id == job_id).values(error=reason))
            user_id = conn.execute(select(JOBS.c.user_id).where(JOBS.c.id == job_id)).scalar_one()
            eventlog.append(conn, "job.error", user_id=user_id, job_id=job_id, error=reason, failed=failed)
            self._settle(conn, [job_id])
            return failed

    def cancelled(self, job_id: int) -> bool:
        with self.db.read() as conn:
            return bool(conn.execute(select(JOBS.c.cancel_requested).where(JOBS.c.id == job_id)).scalar())

    # Job control (the owner's actions) ------------------------------------------------------

    def control(self, job_id: int, action: str) -> None:
        with self.db.write() as conn:
            job = self.job_row(conn, job_id)
            user_id = job.user_id
            if action == "cancel":
                conn.execute(update(JOBS).where(JOBS.c.id == job_id).values(cancel_requested=True))
                conn.execute(
                    update(TASKS)
                    .where(TASKS.c.job_id == job_id, TASKS.c.state == TaskState.QUEUED)
                    .values(state=str(TaskState.CANCELLED), finished_at=utcnow())
                )
            elif action == "pause":
                conn.execute(
                    update(JOBS)
                    .where(JOBS.c.id == job_id, JOBS.c.state == JobState.ACTIVE)
                    .values(state=str(JobState.PAUSED))
                )
            elif action == "resume":
                conn.execute(
                    update(JOBS)
                    .where(JOBS.c.id == job_id, JOBS.c.state == JobState.PAUSED)
                    .values(state=str(JobState.ACTIVE), last_progress_at=utcnow())
                )
            elif action == "retry":
                retried = conn.execute(
                    update(TASKS)
                    .where(TASKS.c.job_id == job_id, TASKS.c.state.in_(_sources(TaskEvent.RETRY)))
                    .values(
                        state=str(TaskState.QUEUED),
                        error=None,
                        attempts=0,
                        finished_at=None,
                        not_before=None,
                        progress=0.0,
                    )
                ).rowcount
                if retried:
                    conn.execute(
                        update(JOBS)
                        .where(JOBS.c.id == job_id)
                        .values(
                            state=str(JobState.ACTIVE),
                            finished_at=None,
                            cancel_requested=False,
                            error=None,
                            last_progress_at=utcnow(),
                        )
                    )
            else:
                raise ValueError(f"unknown job action {action!r}")
            eventlog.append(conn, f"job.{action}", user_id=user_id, job_id=job_id)
            self._settle(conn, [job_id])

    def move(self, job_id: int, to: str) -> None:
        """Reorder one user's queue: top, bottom, up or down among their unfinished jobs."""
        with self.db.write() as conn:
            job = self.job_row(conn, job_id)
            mine = conn.execute(
                select(JOBS.c.id, JOBS.c.position)
                .where(JOBS.c.user_id == job.user_id, JOBS.c.state.not_in([str(s) for s in TERMINAL_JOB_STATES]))
                .order_by(JOBS.c.position)
            ).all()
            order = [row.id for row in mine]
            index = order.index(job_id)
            order.pop(index)
            target = {"top": 0, "bottom": len(order), "up": max(index - 1, 0), "down": min(index + 1, len(order))}[to]
            order.insert(target, job_id)
            positions = sorted(row.position for row in mine)
            for new_position, moved_id in zip(positions, order, strict=True):
                conn.execute(update(JOBS).where(JOBS.c.id == moved_id).values(position=new_position))
                conn.execute(update(TASKS).where(TASKS.c.job_id == moved_id).values(job_position=new_position))
            eventlog.append(conn, "job.moved", user_id=job.user_id, job_id=job_id, to=to)

    def stalled_jobs(self, conn: Connection, idle_since: datetime) -> list[Any]:
        """Active jobs with queued work and no progress since `idle_since`."""
        has_queued = select(TASKS.c.id).where(TASKS.c.job_id == JOBS.c.id, TASKS.c.state == TaskState.QUEUED).exists()
        return list(
            conn.execute(
                select(JOBS).where(JOBS.c.state == JobState.ACTIVE, JOBS.c.last_progress_at < idle_since, has_queued)
            ).all()
        )

    def touch(self, job_id: int) -> None:
        with self.db.write() as conn:
            conn.execute(update(JOBS).where(JOBS.c.id == job_id).values(last_progress_at=utcnow()))

    def done_paths(self, out_dir: str, source_dir: str) -> set[str]:
        """Files of earlier jobs on the same folder and output that finished: skipped on resubmission."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(TASKS.c.path)
                .join(JOBS, JOBS.c.id == TASKS.c.job_id)
                .where(JOBS.c.source_dir == source_dir, JOBS.c.out_dir == out_dir, TASKS.c.state == TaskState.DONE)
            )
            return {row.path for row in rows}

    def leases_until(self, seconds: float) -> datetime:
        return utcnow() + timedelta(seconds=seconds)


__all__ = ["TERMINAL_TASK_STATES", "ClaimedTask", "Demand", "NewFile", "Store"]
