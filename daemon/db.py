"""The database seam: engine creation, SQLite tuning, migrations and write transactions.

SQLite (WAL) is the embedded default; a PostgreSQL URL turns on scale-out. Everything above this
module is written once for both: a write transaction is `with db.write() as conn:`, which on SQLite
takes the write lock up front (BEGIN IMMEDIATE, so two writers never deadlock on a lock upgrade) and
on PostgreSQL is an ordinary transaction in which claims use SKIP LOCKED.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from fairscribe.shared.errors import ConfigError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")


class Database:
    def __init__(self, url: str) -> None:
        try:
            parsed = make_url(url)
        except Exception as exc:
            raise ConfigError(f"FAIRSCRIBE_DATABASE_URL is not a database URL: {exc}") from None
        if parsed.drivername in ("postgresql", "postgres"):
            # psycopg 3 is the driver fairscribe ships; a plain postgresql:// URL means it too.
            parsed = parsed.set(drivername="postgresql+psycopg")
            url = parsed.render_as_string(hide_password=False)
        self.url = url
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            database = parsed.database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(
                url,
                connect_args={"timeout": 60, "check_same_thread": False},
                pool_size=20,
                max_overflow=40,
            )
            event.listen(self.engine, "connect", _tune_sqlite)
            event.listen(self.engine, "begin", _begin_sqlite)
            # Readers take no write lock: in WAL mode they run beside the one writer.
            self.read_engine: Engine = create_engine(
                url, connect_args={"timeout": 60, "check_same_thread": False}, pool_size=10, max_overflow=20
            )
            event.listen(self.read_engine, "connect", _tune_sqlite)
        else:
            # Several nodes share one server's connection limit (100 by default): keep each node modest.
            self.engine = create_engine(url, pool_size=10, max_overflow=15, pool_pre_ping=True)
            self.read_engine = self.engine

    def describe(self) -> str:
        """The URL without its password, for logs."""
        return make_url(self.url).render_as_string(hide_password=True)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.read_engine.connect() as conn:
            yield conn

    def lock(self, conn: Connection, name: str) -> None:
        """Serialise a critical section across every node for the rest of the transaction.

        SQLite already holds the database's single write lock inside `write()`."""
        if not self.is_sqlite:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": zlib.crc32(name.encode())})

    def try_session_lock(self, conn: Connection, name: str) -> bool:
        """A lock held for as long as `conn` stays open (leader election for schedules)."""
        if self.is_sqlite:
            return True
        row = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": zlib.crc32(name.encode())}).scalar()
        return bool(row)

    def migrate(self) -> None:
        """Bring the schema to the newest revision; a user can run this on an existing database
        with `fairscribed migrate`."""
        with self.engine.begin() as conn:
            self.lock(conn, "fairscribe-migrate")
            config = alembic_config(self.url)
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def revision(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def dispose(self) -> None:
        self.engine.dispose()
        self.read_engine.dispose()


def alembic_config(url: str) -> Config:
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy issue BEGIN itself (see _begin_sqlite) instead of pysqlite's implicit one.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()


def _begin_sqlite(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")
