"""Schema migrations are real: an old database is upgraded in place and keeps its jobs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlmodel import SQLModel

from fairscribe.daemon import models  # noqa: F401  (registers the tables)
from fairscribe.daemon.db import Database, alembic_config
from tests.store.test_store import db  # noqa: F401  (the SQLite/PostgreSQL fixture)


def test_a_database_made_by_the_first_schema_is_upgraded_and_keeps_its_jobs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0001")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, name, weight, roots, created_at) "
                "VALUES (1, 'ada', 1.0, '[]', '2026-01-01 00:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO jobs (id, user_id, state, source_dir, out_dir, engine, formats, force, scanning, "
                "cancel_requested, position, total, created_at, last_progress_at) VALUES "
                "(7, 1, 'active', '/in', '/out', 'simulated', 'txt', 0, 0, 0, 1.0, 2, "
                "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        )
        for task_id, state in ((1, "done"), (2, "queued")):
            conn.execute(
                text(
                    "INSERT INTO tasks (id, job_id, user_id, pool, job_position, path, state, attempts) "
                    f"VALUES ({task_id}, 7, 1, 'local', 1.0, '{task_id}.wav', '{state}', 0)"
                )
            )
    engine.dispose()

    env = {**os.environ, "FAIRSCRIBE_HOME": str(tmp_path / "home"), "FAIRSCRIBE_DATABASE_URL": url}
    result = subprocess.run(
        [sys.executable, "-m", "fairscribe.daemon.main", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "0001 -> 0003" in result.stdout

    database = Database(url)
    assert database.revision() == "0003"
    with database.read() as conn:
        job = conn.execute(text("SELECT id, state, total, skipped FROM jobs")).one()
        tasks = conn.execute(text("SELECT path, state, progress FROM tasks ORDER BY id")).all()
        assert conn.execute(text("SELECT count(*) FROM schedules")).scalar() == 0
    assert tuple(job) == (7, "active", 2, 0)
    assert [tuple(t) for t in tasks] == [("1.wav", "done", 0.0), ("2.wav", "queued", 0.0)]
    database.dispose()


def test_the_migrated_schema_matches_the_models(db: Database) -> None:  # noqa: F811
    with db.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    # APScheduler keeps its own table for users' timetables; everything else must match exactly.
    relevant = [d for d in differences if "apscheduler" not in str(d)]
    assert relevant == []
