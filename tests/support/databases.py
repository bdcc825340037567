"""Databases for tests: a SQLite file, or a fresh PostgreSQL database on the server named by
FAIRSCRIBE_TEST_DATABASE_URL (CI sets it; there an unreachable server fails, it is not skipped)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy.engine import make_url

POSTGRES_HINT = (
    "PostgreSQL tests need FAIRSCRIBE_TEST_DATABASE_URL, e.g. "
    "FAIRSCRIBE_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test pytest"
)


def postgres_url_or_skip() -> str:
    url = os.environ.get("FAIRSCRIBE_TEST_DATABASE_URL")
    if not url:
        pytest.skip(POSTGRES_HINT)
    return url


@contextmanager
def fresh_postgres_database(server_url: str) -> Iterator[str]:
    """A new, empty database on that server for one test, dropped afterwards."""
    import psycopg

    url = make_url(server_url)
    name = f"fairscribe_test_{uuid.uuid4().hex[:12]}"
    admin_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
