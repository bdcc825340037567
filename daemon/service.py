"""The protocol's methods: what each request does, checked against who sends it.

A user sees and changes only their own jobs; the meters show other users' counts, never their
files. Admin-only methods say so when refused. Every refusal is an `RpcError` with a code from
`protocol.ErrorCode` and a message naming the field or folder concerned.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import func, select

from fairscribe.daemon import eventlog, submission
from fairscribe.daemon.access import Caller
from fairscribe.daemon.accounts import Account, Accounts
from fairscribe.daemon.batching import BatchSizer
from fairscribe.daemon.dispatch import Dispatcher
from fairscribe.daemon.engines.registry import EngineRegistry
from fairscribe.daemon.models import JOBS, TASKS
from fairscribe.daemon.outputs import FORMATS, parse_formats
from fairscribe.daemon.store import TERMINAL_JOB_STATES, Store
from fairscribe.daemon.transitions import JobCounts
from fairscribe.shared.errors import ConfigError, EngineUnavailable
from fairscribe.shared.protocol import VERSION, ErrorCode

MAX_FILES_LISTED = 5_000


Handler = Callable[["Service", Caller, dict[str, Any]], Any]


class RpcError(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _param(params: dict[str, Any], name: str, kind: type | tuple[type, ...], *, required: bool = False) -> Any:
    value = params.get(name)
    if value is None:
        if required:
            raise RpcError(ErrorCode.INVALID_PARAMS, f"field {name!r} is required")
        return None
    if isinstance(value, bool) and kind is not bool and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise RpcError(ErrorCode.INVALID_PARAMS, f"field {name!r} has the wrong type")
    if not isinstance(value, kind):
        raise RpcError(ErrorCode.INVALID_PARAMS, f"field {name!r} has the wrong type")
    return value


class Service:
    """One method per protocol call; see `shared/protocol.py` for the shapes."""

    def __init__(
        self,
        store: Store,
        accounts: Accounts,
        registry: EngineRegistry,
        dispatcher: Dispatcher,
        sizer: BatchSizer,
        wake: Callable[[], None],
        schedules: Any = None,
    ) -> None:
        self.store = store
        self.accounts = accounts
        self.registry = registry
        self.dispatcher = dispatcher
        self.sizer = sizer
        self.wake = wake
        self.schedules = schedules

    # Dispatch -------------------------------------------------------------------------------

    def handle(self, caller: Caller, method: str, params: dict[str, Any]) -> Any:
        handler = self.METHODS.get(method)
        if handler is None:
            raise RpcError(ErrorCode.METHOD_NOT_FOUND, f"unknown method {method!r}")
        return handler(self, caller, params)

    def account(self, caller: Caller) -> Account:
        return self.accounts.ensure(caller.name)

    def _require_admin(self, caller: Caller, what: str) -> None:
        if not caller.admin:
            raise RpcError(ErrorCode.FORBIDDEN, f"{what} is for admins (the daemon's own OS user or root)")

    def _own_job(self, caller: Caller, params: dict[str, Any]) -> Any:
        job_id = _param(params, "job", int, required=True)
        with self.store.db.read() as conn:
            row = self.store.job_row(conn, job_id)
        owner = self.account(caller)
        # Another user's job is reported exactly like a missing one: its existence is not theirs to learn.
        if row is None or (row.user_id != owner.id and not caller.admin):
            raise RpcError(ErrorCode.NOT_FOUND, f"job {job_id} not found among {caller.name}'s jobs")
        return row

    # Methods --------------------------------------------------------------------------------

    def ping(self, caller: Caller, params: dict[str, Any]) -> Any:
        return {"version": VERSION, "time": datetime.now(UTC).isoformat(), "user": caller.name}

    def submit(self, caller: Caller, params: dict[str, Any]) -> Any:
        account = self.account(caller)
        engine_name = _param(params, "engine", str) or self.registry.default
        formats_text = _param(params, "formats", (str, list)) or ",".join(FORMATS)
        try:
            formats = parse_formats(formats_text if isinstance(formats_text, str) else ",".join(map(str, formats_text)))
            engine = self.registry.get(engine_name)
        except (ValueError, ConfigError) as exc:
            raise RpcError(ErrorCode.INVALID_PARAMS, str(exc)) from None
        try:
            source, out = submission.resolve(
                caller, _param(params, "dir", str, required=True), _param(params, "out", str)
            )
        except submission.SubmitRefused as exc:
            raise RpcError(ErrorCode.BAD_INPUT, str(exc)) from None
        try:
            engine.preflight(self.accounts.credentials(account.id).values)
        except EngineUnavailable as exc:
            raise RpcError(ErrorCode.ENGINE_UNAVAILABLE, str(exc)) from None
        job_id = self.start_job(
            account.id,
            str(source),
            str(out),
            engine_name,
            formats,
            _param(params, "language", str),
            force=bool(_param(params, "force", bool)),
            options=engine_options(params),
        )
        assert job_id is not None
        return {"job": self._job_dict(job_id)}

    def start_job(
        self,
        user_id: int,
        source: str,
        out: str,
        engine_name: str,
        formats: tuple[str, ...],
        language: str | None,
        *,
        force: bool,
        only_new: bool = False,
        options: dict[str, Any] | None = None,
    ) -> int | None:
        """Create a job and scan its folder in the background; with `only_new` (a schedule's run),
        no job is made when every file was already transcribed."""
        engine = self.registry.get(engine_name)
        pool = engine.pool_for(self.accounts.credentials(user_id).values).key
        request = submission.Request(Path(source), Path(out), engine_name, formats, language, force)
        done = set() if force else self.store.done_paths(out, source)
        if only_new and not submission.has_new_files(request, done):
            return None
        job_id = self.store.create_job(
            user_id=user_id,
            source_dir=source,
            out_dir=out,
            engine=engine_name,
            formats=",".join(formats),
            language=language,
            force=force,
            options=options,
        )
        user = self.accounts.all()[user_id].name
        threading.Thread(
            target=submission.scan,
            name=f"scan-{job_id}",
            daemon=True,
            args=(self.store, engine, pool, job_id, request, user, self.wake, done),
        ).start()
        return job_id

    def status(self, caller: Caller, params: dict[str, Any]) -> Any:
        if params.get("job") is not None:
            row = self._own_job(caller, params)
            answer: dict[str, Any] = {"job": self._job_dict(row.id)}
            if params.get("files"):
                state = _param(params, "state", str)
                limit = _param(params, "limit", int) or MAX_FILES_LISTED
                answer["files"] = self._files(row.id, state, min(limit, MAX_FILES_LISTED))
            return answer
        everyone = bool(params.get("all"))
        if everyone:
            self._require_admin(caller, "status --all")
        account = self.account(caller)
        with self.store.db.read() as conn:
            query = select(JOBS.c.id).order_by(JOBS.c.id)
            if not everyone:
                query = query.where(JOBS.c.user_id == account.id)
            ids = list(conn.execute(query).scalars())
        return {"jobs": self._job_dicts(ids)}

    def move(self, caller: Caller, params: dict[str, Any]) -> Any:
        row = self._own_job(caller, params)
        to = _param(params, "to", str, required=True)
        if to not in ("top", "bottom", "up", "down"):
            raise RpcError(ErrorCode.INVALID_PARAMS, f"field 'to' must be top, bottom, up or down, not {to!r}")
        if row.state in TERMINAL_JOB_STATES:
            raise RpcError(ErrorCode.CONFLICT, f"job {row.id} has already ended ({row.state})")
        self.store.move(row.id, to)
        self.wake()
        return {"job": self._job_dict(row.id)}

    def meters(self, caller: Caller, params: dict[str, Any]) -> Any:
        return self.meters_snapshot()

    def subscribe(self, caller: Caller, params: dict[str, Any]) -> Any:
        since = _param(params, "since", int)
        account = self.account(caller)
        user_filter = None if caller.admin else account.id
        with self.store.db.read() as conn:
            oldest, newest = eventlog.bounds(conn)
            if since is None:
                return {"cursor": newest, "events": [], "refetch": False}
            refetch = oldest > 0 and since < oldest - 1
            events = eventlog.since(conn, max(since, oldest - 1), user_filter)
        return {
            "cursor": events[-1].id if events else max(newest, since),
            "refetch": refetch,
            "events": [event_dict(e, self.accounts.all()) for e in events],
        }

    def user_add(self, caller: Caller, params: dict[str, Any]) -> Any:
        self._require_admin(caller, "user add")
        name = _param(params, "name", str, required=True)
        weight = _param(params, "weight", (int, float))
        max_workers = _param(params, "max_workers", int)
        roots = _param(params, "roots", list)
        if not name.strip() or len(name) > 128:
            raise RpcError(ErrorCode.INVALID_PARAMS, "field 'name' must be 1 to 128 characters")
        if weight is not None and weight <= 0:
            raise RpcError(ErrorCode.INVALID_PARAMS, f"field 'weight' must be above 0, not {weight}")
        if max_workers is not None and max_workers < 0:
            raise RpcError(
                ErrorCode.INVALID_PARAMS, f"field 'max_workers' must be 0 (no cap) or more, not {max_workers}"
            )
        if roots is not None and not all(isinstance(r, str) and r.startswith("/") for r in roots):
            raise RpcError(ErrorCode.INVALID_PARAMS, "field 'roots' must list absolute folders")
        account = self.accounts.upsert(name, weight=weight, max_workers=max_workers, roots=roots)
        self.wake()
        return {"user": account_dict(account)}

    def user_set_key(self, caller: Caller, params: dict[str, Any]) -> Any:
        self._require_admin(caller, "user key")
        name = _param(params, "name", str, required=True)
        key = _param(params, "key", str, required=True)
        max_workers = _param(params, "max_workers", int)
        if max_workers is not None and max_workers < 1:
            raise RpcError(ErrorCode.INVALID_PARAMS, "field 'max_workers' must be at least 1")
        account = self.accounts.set_key(name, key.strip(), max_workers)
        return {"user": account_dict(account)}

    def token_create(self, caller: Caller, params: dict[str, Any]) -> Any:
        self._require_admin(caller, "token create")
        name = _param(params, "name", str, required=True)
        return {"token": self.accounts.new_token(name), "user": name}

    # Views ----------------------------------------------------------------------------------

    def _job_dict(self, job_id: int) -> dict[str, Any]:
        return self._job_dicts([job_id])[0]

    def _job_dicts(self, job_ids: list[int]) -> list[dict[str, Any]]:
        if not job_ids:
            return []
        accounts = self.accounts.all()
        with self.store.db.read() as conn:
            rows = conn.execute(select(JOBS).where(JOBS.c.id.in_(job_ids)).order_by(JOBS.c.id)).all()
            counts = self.store.counts(conn, job_ids)
        running = {(d.user_id, d.pool): d.running for d in self.dispatcher.snapshot.demand}
        result = []
        for row in rows:
            c = counts.get(row.id, JobCounts(total=0))
            user = accounts[row.user_id].name
            remaining = c.queued + c.running
            workers = sum(n for (uid, _), n in running.items() if uid == row.user_id)
            pool_key = next((p for (uid, p) in running if uid == row.user_id), "local")
            eta = self.sizer.eta_seconds(user, pool_key, remaining, max(workers, 1)) if remaining else 0.0
            result.append(
                {
                    "id": row.id,
                    "user": user,
                    "state": row.state,
                    "dir": row.source_dir,
                    "out": row.out_dir,
                    "engine": row.engine,
                    "formats": row.formats.split(","),
                    "language": row.language,
                    "options": dict(row.options or {}),
                    "total": c.total,
                    "queued": c.queued,
                    "running": c.running,
                    "done": c.done,
                    "failed": c.failed,
                    "cancelled": c.cancelled,
                    "skipped": row.skipped,
                    "scanning": row.scanning,
                    "error": row.error,
                    "eta_seconds": eta,
                    "position": row.position,
                    "created_at": _iso(row.created_at),
                    "finished_at": _iso(row.finished_at),
                }
            )
        return result

    def _files(self, job_id: int, state: str | None, limit: int) -> list[dict[str, Any]]:
        query = select(TASKS).where(TASKS.c.job_id == job_id).order_by(TASKS.c.id).limit(limit)
        if state is not None:
            query = query.where(TASKS.c.state == state)
        with self.store.db.read() as conn:
            rows = conn.execute(query)
            return [
                {
                    "path": r.path,
                    "state": r.state,
                    "attempts": r.attempts,
                    "error": r.error,
                    "progress": r.progress,
                    "audio_seconds": r.audio_seconds,
                }
                for r in rows
            ]

    def meters_snapshot(self) -> dict[str, Any]:
        snapshot = self.dispatcher.snapshot
        accounts = self.accounts.all()
        decision = snapshot.decision
        with self.store.db.read() as conn:
            rows = conn.execute(
                select(TASKS.c.user_id, TASKS.c.state, func.count())
                .join(JOBS, JOBS.c.id == TASKS.c.job_id)
                .where(JOBS.c.finished_at.is_(None))
                .group_by(TASKS.c.user_id, TASKS.c.state)
            ).all()
        tallies: dict[int, dict[str, int]] = {}
        for user_id, state, count in rows:
            tallies.setdefault(user_id, {})[state] = count
        running: dict[int, int] = {}
        for d in snapshot.demand:
            running[d.user_id] = running.get(d.user_id, 0) + d.running
        waiting = set(decision.waiting) if decision else set()
        users: list[dict[str, Any]] = []
        for user_id in sorted(set(tallies) | set(running)):
            account = accounts[user_id]
            t = tallies.get(user_id, {})
            share = sum(v for (_, name), v in decision.shares.items() if name == account.name) if decision else 0.0
            remaining = t.get("queued", 0) + t.get("running", 0)
            main_pool = next((d.pool for d in snapshot.demand if d.user_id == user_id), "local")
            users.append(
                {
                    "user": account.name,
                    "running": running.get(user_id, 0),
                    "share": round(share, 2),
                    "cap": account.max_workers,
                    "queued": t.get("queued", 0),
                    "done": t.get("done", 0),
                    "failed": t.get("failed", 0),
                    "cancelled": t.get("cancelled", 0),
                    "total": sum(t.values()),
                    "waiting": account.name in waiting,
                    "eta_seconds": self.sizer.eta_seconds(
                        account.name, main_pool, remaining, max(running.get(user_id, 0), 1)
                    )
                    if remaining
                    else 0.0,
                }
            )
        pools = [
            {"name": key, "capacity": capacity, "running": sum(d.running for d in snapshot.demand if d.pool == key)}
            for key, capacity in sorted(snapshot.capacities.items())
        ]
        return {
            "users": users,
            "pools": pools,
            "workers": sum(snapshot.capacities.values()),
            "waiting": list(decision.waiting) if decision else [],
        }

    METHODS: ClassVar[dict[str, Handler]] = {}


ENGINE_FLAGS = ("punctuate", "format_text", "speaker_labels")


def engine_options(params: dict[str, Any]) -> dict[str, Any]:
    """The engine options a submit may carry, checked field by field."""
    options = _param(params, "options", dict) or {}
    unknown = sorted(set(options) - {"speech_models", *ENGINE_FLAGS})
    if unknown:
        raise RpcError(ErrorCode.INVALID_PARAMS, f"unknown option {unknown[0]!r} in field 'options'")
    checked: dict[str, Any] = {}
    models = options.get("speech_models")
    if models is not None:
        if not isinstance(models, list) or not models or not all(isinstance(m, str) and m.strip() for m in models):
            raise RpcError(ErrorCode.INVALID_PARAMS, "option 'speech_models' must be a non-empty list of names")
        checked["speech_models"] = [m.strip() for m in models]
    for flag in ENGINE_FLAGS:
        if flag in options:
            if not isinstance(options[flag], bool):
                raise RpcError(ErrorCode.INVALID_PARAMS, f"option {flag!r} must be true or false")
            checked[flag] = options[flag]
    return checked


def account_dict(account: Account) -> dict[str, Any]:
    return {
        "name": account.name,
        "weight": account.weight,
        "max_workers": account.max_workers,
        "roots": list(account.roots),
        "own_key": account.has_own_key,
        "key_max_workers": account.key_max_workers,
    }


def event_dict(event: eventlog.EventRecord, accounts: dict[int, Account]) -> dict[str, Any]:
    user = accounts[event.user_id].name if event.user_id in accounts else None
    return {
        "id": event.id,
        "kind": event.kind,
        "job": event.job_id,
        "user": user,
        "at": _iso(event.at),
        "data": event.data,
    }


def _job_action(action: str) -> Handler:
    def run(service: Service, caller: Caller, params: dict[str, Any]) -> Any:
        row = service._own_job(caller, params)
        if action != "retry" and row.state in TERMINAL_JOB_STATES:
            raise RpcError(ErrorCode.CONFLICT, f"job {row.id} has already ended ({row.state})")
        service.store.control(row.id, action)
        service.wake()
        return {"job": service._job_dict(row.id)}

    return run


def _schedule_action(method: str) -> Handler:
    def run(service: Service, caller: Caller, params: dict[str, Any]) -> Any:
        if service.schedules is None:
            raise RpcError(ErrorCode.INTERNAL_ERROR, "schedules are not available on this daemon")
        return getattr(service.schedules, method)(caller, params)

    return run


Service.METHODS = {
    "ping": Service.ping,
    "submit": Service.submit,
    "status": Service.status,
    "cancel": _job_action("cancel"),
    "pause": _job_action("pause"),
    "resume": _job_action("resume"),
    "retry": _job_action("retry"),
    "move": Service.move,
    "meters": Service.meters,
    "subscribe": Service.subscribe,
    "user.add": Service.user_add,
    "user.set_key": Service.user_set_key,
    "token.create": Service.token_create,
    "schedule.add": _schedule_action("add"),
    "schedule.list": _schedule_action("list"),
    "schedule.remove": _schedule_action("remove"),
}
