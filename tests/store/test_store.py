"""The store on SQLite and PostgreSQL alike: the same tests against both implementations."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from fairscribe.daemon.accounts import Accounts
from fairscribe.daemon.db import Database
from fairscribe.daemon.models import TASKS, utcnow
from fairscribe.daemon.store import NewFile, Store
from tests.support.databases import fresh_postgres_database, postgres_url_or_skip


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'store.db'}")
        database.migrate()
        yield database
        database.dispose()
        return
    with fresh_postgres_database(postgres_url_or_skip()) as url:
        database = Database(url)
        database.migrate()
        yield database
        database.dispose()


def _job(db: Database, files: int, user: str = "alice") -> tuple[Store, int, int]:
    store = Store(db)
    account = Accounts(db).ensure(user)
    job_id = store.create_job(
        user_id=account.id,
        source_dir="/in",
        out_dir="/out",
        engine="simulated",
        formats="txt",
        language=None,
        force=False,
    )
    store.add_files(job_id, "local", [NewFile(f"{i}.wav") for i in range(files)])
    store.end_scan(job_id)
    return store, job_id, account.id


def _claim(store: Store, user_id: int, limit: int, claim_id: str) -> list[int]:
    with store.db.write() as conn:
        store.db.lock(conn, "fairscribe-dispatch")
        tasks = store.claim(
            conn,
            user_id=user_id,
            pool="local",
            limit=limit,
            claim_id=claim_id,
            owner="node",
            lease_until=utcnow() + timedelta(seconds=30),
            now=utcnow(),
        )
    return [t.id for t in tasks]


def test_concurrent_claims_never_lease_one_task_twice(db: Database) -> None:
    store, _, user_id = _job(db, 200)
    claimed: list[list[int]] = []
    lock = threading.Lock()

    def claimer(index: int) -> None:
        for round_ in range(10):
            ids = _claim(store, user_id, 3, f"c{index}-{round_}")
            with lock:
                claimed.append(ids)

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [task for ids in claimed for task in ids]
    assert len(everything) == len(set(everything)) == 180


def test_a_job_ends_only_when_every_file_is_done_failed_or_cancelled(db: Database) -> None:
    store, job_id, user_id = _job(db, 3)
    first, second, third = _claim(store, user_id, 3, "claim")
    assert store.finish(first, "claim", None)
    assert store.fail(second, "claim", "bad file")
    with db.read() as conn:
        assert store.job_row(conn, job_id).state == "active"
    assert not store.finish(third, "someone-else", None)  # a stale claim cannot finish a task
    assert store.finish(third, "claim", 1.5)
    with db.read() as conn:
        job = store.job_row(conn, job_id)
        counts = store.counts(conn, [job_id])[job_id]
    assert job.state == "failed" and job.finished_at is not None
    assert (counts.done, counts.failed, counts.total) == (2, 1, 3)


def test_expired_leases_return_to_the_queue(db: Database) -> None:
    store, job_id, user_id = _job(db, 4)
    with db.write() as conn:
        store.claim(
            conn,
            user_id=user_id,
            pool="local",
            limit=4,
            claim_id="dead",
            owner="gone",
            lease_until=utcnow() - timedelta(seconds=1),
            now=utcnow(),
        )
    requeued = store.reap_expired(utcnow())
    assert requeued == [(user_id, job_id, 4)]
    with db.read() as conn:
        states = set(conn.execute(select(TASKS.c.state)).scalars())
    assert states == {"queued"}


def test_retry_later_is_not_claimed_before_its_time(db: Database) -> None:
    store, _, user_id = _job(db, 1)
    (task,) = _claim(store, user_id, 1, "c1")
    assert store.retry_later(task, "c1", "429", utcnow() + timedelta(hours=1))
    assert _claim(store, user_id, 1, "c2") == []
    with db.read() as conn:
        assert store.demand(conn, utcnow()) == []
        assert store.demand(conn, utcnow() + timedelta(hours=2))[0].queued == 1
