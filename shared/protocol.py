"""The fairscribe protocol: JSON-RPC 2.0 method names, error codes and message shapes.

Requests (client → daemon), each answered by a result or an error:

    hello            {client?, token?, as?}            → {user, admin, version, cursor}
    ping             {}                                → {version, time}
    submit           {dir, out?, formats?, language?, engine?, force?}  → {job}
    status           {job?, files?, all?}              → {jobs} | {job, files}
    cancel|pause|resume|retry   {job}                  → {job}
    move             {job, to: top|bottom|up|down}     → {job}
    meters           {}                                → {users, pools, workers, waiting}
    subscribe        {since?}                          → {cursor, events, refetch}
    user.add         {name, weight?, max_workers?, roots?}               → {user}   (admin)
    user.set_key     {name, key, max_workers?}         → {user}                      (admin)
    token.create     {name}                            → {token}                     (admin)
    schedule.add     {dir, every?, cron?, out?, formats?, language?, engine?} → {schedule}
    schedule.list    {}                                → {schedules}
    schedule.remove  {id}                              → {}

After `subscribe` the daemon pushes notifications `{"method": "events", "params": {"events": [...],
"cursor": N}}`, coalesced to a few per second. Each event is `{id, kind, job, user, at, data}` with
ids increasing; `refetch` is true when events after `since` are no longer kept.

A job is `{id, user, state, dir, out, engine, formats, language, total, queued, running, done,
failed, cancelled, scanning, error, eta_seconds, position, created_at, finished_at}`; a file is
`{path, state, attempts, error, progress, audio_seconds}`.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

VERSION = "0.1.0"


class ErrorCode(IntEnum):
    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603
    UNAUTHORIZED = 1001
    FORBIDDEN = 1002
    NOT_FOUND = 1003
    BAD_INPUT = 1004
    CONFLICT = 1005
    ENGINE_UNAVAILABLE = 1006


JOB_FIELDS = (
    "id",
    "user",
    "state",
    "total",
    "queued",
    "running",
    "done",
    "failed",
    "cancelled",
)

METER_FIELDS = (
    "user",
    "running",
    "share",
    "cap",
    "queued",
    "done",
    "failed",
    "total",
    "eta_seconds",
)


def request(method: str, params: dict[str, Any], request_id: int) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params, "id": request_id}


def result(request_id: Any, value: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "result": value, "id": request_id}


def error(request_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": int(code), "message": message}
    if data is not None:
        body["data"] = data
    return {"jsonrpc": "2.0", "error": body, "id": request_id}


def notification(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params}
