"""Users, their tokens and their own engine keys.

Tokens are stored only as SHA-256 digests and shown once; a user's AssemblyAI key is read only by
`credentials()`, which hands it to the engine and nowhere else (no repr, log or protocol answer).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field

from sqlalchemy import insert, select, update

from fairscribe.daemon.db import Database
from fairscribe.daemon.models import USERS, utcnow


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    weight: float = 1.0
    max_workers: int | None = None
    roots: tuple[str, ...] = ()
    has_own_key: bool = False
    key_max_workers: int | None = None


@dataclass(frozen=True)
class Credentials:
    """What an engine needs to act for a user. `repr` never shows the key."""

    values: dict[str, str] = field(default_factory=dict, repr=False)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _account(row: object) -> Account:
    return Account(
        id=row.id,  # type: ignore[attr-defined]
        name=row.name,  # type: ignore[attr-defined]
        weight=row.weight,  # type: ignore[attr-defined]
        max_workers=row.max_workers,  # type: ignore[attr-defined]
        roots=tuple(row.roots or ()),  # type: ignore[attr-defined]
        has_own_key=bool(row.assemblyai_key),  # type: ignore[attr-defined]
        key_max_workers=row.assemblyai_max_workers,  # type: ignore[attr-defined]
    )


class Accounts:
    def __init__(self, db: Database) -> None:
        self.db = db

    def ensure(self, name: str) -> Account:
        """The account of an OS user, made on first contact. Every request names its caller, so
        the common case (the account exists) must not take the store's write lock."""
        existing = self.get(name)
        if existing is not None:
            return existing
        with self.db.write() as conn:
            row = conn.execute(select(USERS).where(USERS.c.name == name)).one_or_none()
            if row is None:
                conn.execute(insert(USERS).values(name=name, weight=1.0, roots=[], created_at=utcnow()))
                row = conn.execute(select(USERS).where(USERS.c.name == name)).one()
            return _account(row)

    def get(self, name: str) -> Account | None:
        with self.db.read() as conn:
            row = conn.execute(select(USERS).where(USERS.c.name == name)).one_or_none()
            return None if row is None else _account(row)

    def by_token(self, token: str) -> Account | None:
        with self.db.read() as conn:
            row = conn.execute(select(USERS).where(USERS.c.token_hash == token_digest(token))).one_or_none()
            return None if row is None else _account(row)

    def all(self) -> dict[int, Account]:
        with self.db.read() as conn:
            return {row.id: _account(row) for row in conn.execute(select(USERS))}

    def upsert(self, name: str, *, weight: float | None, max_workers: int | None, roots: list[str] | None) -> Account:
        account = self.ensure(name)
        values: dict[str, object] = {}
        if weight is not None:
            values["weight"] = weight
        if max_workers is not None:
            values["max_workers"] = max_workers or None
        if roots is not None:
            values["roots"] = roots
        if values:
            with self.db.write() as conn:
                conn.execute(update(USERS).where(USERS.c.id == account.id).values(**values))
        result = self.get(name)
        assert result is not None
        return result

    def new_token(self, name: str) -> str:
        account = self.ensure(name)
        token = "fst_" + secrets.token_urlsafe(32)
        with self.db.write() as conn:
            conn.execute(update(USERS).where(USERS.c.id == account.id).values(token_hash=token_digest(token)))
        return token

    def set_key(self, name: str, key: str, max_workers: int | None) -> Account:
        account = self.ensure(name)
        with self.db.write() as conn:
            conn.execute(
                update(USERS)
                .where(USERS.c.id == account.id)
                .values(assemblyai_key=key or None, assemblyai_max_workers=max_workers)
            )
        result = self.get(name)
        assert result is not None
        return result

    def credentials(self, user_id: int) -> Credentials:
        with self.db.read() as conn:
            row = conn.execute(
                select(USERS.c.assemblyai_key, USERS.c.assemblyai_max_workers).where(USERS.c.id == user_id)
            ).one_or_none()
        if row is None or not row.assemblyai_key:
            return Credentials()
        values = {"assemblyai_api_key": row.assemblyai_key}
        if row.assemblyai_max_workers:
            values["assemblyai_max_workers"] = str(row.assemblyai_max_workers)
        return Credentials(values)
