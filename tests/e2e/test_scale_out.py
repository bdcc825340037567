"""Several daemons sharing one PostgreSQL store: they split the work, and a node killed with -9
loses nothing — its leases expire and the survivors finish its files."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon import DaemonProcess, make_fake_audio, wait_for_job
from tests.support.databases import fresh_postgres_database, postgres_url_or_skip


@pytest.fixture
def database_url() -> Iterator[str]:
    with fresh_postgres_database(postgres_url_or_skip()) as url:
        yield url


def _node(tmp_path: Path, name: str, url: str) -> DaemonProcess:
    return DaemonProcess(
        tmp_path / name,
        env={
            "FAIRSCRIBE_DATABASE_URL": url,
            "FAIRSCRIBE_WORKERS": "2",
            "FAIRSCRIBE_SIMULATED_SECONDS": "0.05",
            "FAIRSCRIBE_LEASE_SECONDS": "3",
            "FAIRSCRIBE_NODE_ID": name,
        },
    ).start()


def test_two_nodes_share_a_batch_and_survive_one_being_killed(tmp_path: Path, database_url: str) -> None:
    folder = tmp_path / "audio"
    make_fake_audio(folder, 400)
    first = _node(tmp_path, "node-a", database_url)
    second = _node(tmp_path, "node-b", database_url)
    try:
        with first.client() as client:
            job_id = client.submit(str(folder))["id"]
        with second.client() as client:
            while client.job(job_id)["done"] < 80:
                time.sleep(0.05)
        first.kill9()
        with second.client() as client:
            job = wait_for_job(client, job_id, timeout=180)
            _, files = client.files(job_id)
        assert job["state"] == "done" and job["done"] == job["total"] == 400, job
        assert len(list((folder / "transcripts").glob("*.json"))) == 400
        assert all(f["state"] == "done" for f in files)
        # The killed node's leased files came back through lease expiry, not through luck.
        import psycopg
        from sqlalchemy.engine import make_url

        dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn) as conn:
            events = conn.execute("SELECT count(*) FROM events WHERE kind = 'lease.expired'").fetchone()[0]
        assert events >= 1, "node-a's files were handed back by lease expiry"
    finally:
        first.stop()
        second.stop()
