"""The event log: every event a client may want to replay, with increasing ids.

Events are written in the same transaction as the change they describe, so a client that replays
from a cursor never sees an event for a change that was rolled back, nor misses one that was not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select

from fairscribe.daemon.models import EVENTS, utcnow


@dataclass(frozen=True)
class EventRecord:
    id: int
    kind: str
    user_id: int | None
    job_id: int | None
    at: datetime
    data: dict[str, Any]


def append(conn: Connection, kind: str, *, user_id: int | None, job_id: int | None = None, **data: Any) -> None:
    conn.execute(insert(EVENTS).values(kind=kind, user_id=user_id, job_id=job_id, data=data, at=utcnow()))


def since(conn: Connection, cursor: int, user_id: int | None, limit: int = 1000) -> list[EventRecord]:
    """Events after `cursor` that `user_id` may see (their own and global ones); None sees all."""
    query = select(EVENTS).where(EVENTS.c.id > cursor).order_by(EVENTS.c.id).limit(limit)
    if user_id is not None:
        query = query.where(or_(EVENTS.c.user_id == user_id, EVENTS.c.user_id.is_(None)))
    return [
        EventRecord(row.id, row.kind, row.user_id, row.job_id, row.at, dict(row.data or {}))
        for row in conn.execute(query)
    ]


def bounds(conn: Connection) -> tuple[int, int]:
    """(oldest kept id, newest id); (0, 0) when the log is empty."""
    oldest, newest = conn.execute(select(func.min(EVENTS.c.id), func.max(EVENTS.c.id))).one()
    return int(oldest or 0), int(newest or 0)


def trim(conn: Connection, keep: int) -> int:
    """Drop all but the newest `keep` events; clients behind the cut are told to refetch."""
    _, newest = bounds(conn)
    return conn.execute(delete(EVENTS).where(EVENTS.c.id <= newest - keep)).rowcount
