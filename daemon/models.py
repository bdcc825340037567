"""The store's tables. Schema changes go through a migration in `migrations/versions/`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import JSON, Column, Index, Table, Text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=128)
    weight: float = 1.0
    max_workers: int | None = None
    # Folders a token user may read and write under (JSON list); OS users are checked by the kernel.
    roots: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, default=list))
    token_hash: str | None = Field(default=None, index=True, max_length=128)
    # A user's own AssemblyAI key. Kept out of every repr, log and protocol answer (see store.user_credentials).
    assemblyai_key: str | None = Field(default=None, repr=False)
    assemblyai_max_workers: int | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Job(SQLModel, table=True):
    __tablename__ = "jobs"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    state: str = Field(default="active", index=True, max_length=16)
    source_dir: str = Field(sa_column=Column(Text, nullable=False))
    out_dir: str = Field(sa_column=Column(Text, nullable=False))
    engine: str = Field(max_length=32)
    formats: str = Field(default="txt,srt,vtt,json", max_length=64)
    language: str | None = Field(default=None, max_length=16)
    # Engine options of this job (speech model, punctuation …), validated at submit.
    options: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict))
    force: bool = False
    scanning: bool = True
    cancel_requested: bool = False
    # Lower runs first within one user's jobs; `move` rewrites it.
    position: float = Field(default=0.0, index=True)
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    total: int = 0
    # Files left out because an earlier job already transcribed them (resubmission without force).
    skipped: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    last_progress_at: datetime = Field(default_factory=utcnow)


class Task(SQLModel, table=True):
    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_claim", "state", "pool", "user_id", "job_position", "id"),
        Index("ix_tasks_job_state", "job_id", "state"),
        Index("ix_tasks_lease", "state", "lease_expires_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="jobs.id")
    # Copied from the job so that a claim reads one table and one index.
    user_id: int
    pool: str = Field(max_length=128)
    job_position: float = 0.0
    path: str = Field(sa_column=Column(Text, nullable=False))
    state: str = Field(default="queued", max_length=16)
    attempts: int = 0
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    audio_seconds: float | None = None
    progress: float = 0.0
    claim_id: str | None = Field(default=None, max_length=64)
    lease_owner: str | None = Field(default=None, max_length=128)
    lease_expires_at: datetime | None = None
    not_before: datetime | None = None
    remote_intent: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    remote_id: str | None = Field(default=None, max_length=128)
    started_at: datetime | None = None
    finished_at: datetime | None = None


class Event(SQLModel, table=True):
    __tablename__ = "events"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int | None = Field(default=None, index=True)
    job_id: int | None = None
    kind: str = Field(max_length=32)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict))
    at: datetime = Field(default_factory=utcnow)


class Schedule(SQLModel, table=True):
    """A user's recurring work: transcribe a folder every N seconds or on a cron timetable.
    The timetable itself lives in APScheduler's persistent job store under the same id."""

    __tablename__ = "schedules"

    id: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="users.id", index=True)
    source_dir: str = Field(sa_column=Column(Text, nullable=False))
    out_dir: str = Field(sa_column=Column(Text, nullable=False))
    engine: str = Field(max_length=32)
    formats: str = Field(default="txt,srt,vtt,json", max_length=64)
    language: str | None = Field(default=None, max_length=16)
    every_seconds: int | None = None
    cron: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(default_factory=utcnow)
    last_run_at: datetime | None = None
    last_job_id: int | None = None


def _table(model: type[SQLModel]) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


# The Core tables, for the queries that want SQL rather than ORM objects.
USERS = _table(User)
JOBS = _table(Job)
TASKS = _table(Task)
EVENTS = _table(Event)
SCHEDULES = _table(Schedule)
