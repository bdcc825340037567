"""How the `fairscribe` command line shows things: tables, summary lines, the live progress bar.

Everything here takes the protocol's plain dicts (see `protocol.py`) and only prints; deciding what
to ask the daemon and which exit code to give belongs to `cli.py`. Tables and summaries go to
stdout; the progress bar goes to stderr so that stdout stays a clean record when piped.
"""

from __future__ import annotations

import json
import os
from typing import Any, Self

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from fairscribe.shared.client import TERMINAL_JOB_STATES

# Consoles pick sys.stdout / sys.stderr at write time, so test runners that swap them still see the
# output. No highlighting: numbers in colour make aligned columns harder to scan, not easier.
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

FAILED_SHOWN = 20
NONE = "—"
# Jobs that are not moving: an ETA for them would be a stale guess.
_STILL = TERMINAL_JOB_STATES | {"paused"}


def print_json(value: Any) -> None:
    # Plain `echo`, not rich: a JSON answer must not be wrapped, coloured or have markup read into it.
    typer.echo(json.dumps(value, indent=2, default=str))


def format_eta(seconds: float | None) -> str:
    """A short human estimate: 45s, 2m 05s, 1h 01m, 1d 03h; an em dash when there is none."""
    if seconds is None:
        return NONE
    whole = max(0, round(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def _count(value: Any) -> str:
    return NONE if value is None else str(value)


def _share(value: Any) -> str:
    # A weighted fair share is often fractional (2.5 workers); whole shares read better without ".0".
    if value is None:
        return NONE
    return f"{value:g}" if isinstance(value, float) else str(value)


def counts(job: dict[str, Any]) -> str:
    return f"{job['done']} done, {job['failed']} failed, {job['cancelled']} cancelled of {job['total']}"


def job_counts(job: dict[str, Any]) -> str:
    """The line DESIGN.md promises for every batch: "job 7: 998 done, 2 failed, 0 cancelled of 1000"."""
    return f"job {job['id']}: {counts(job)}"


def _numeric_columns(table: Table, *names: str) -> None:
    for name in names:
        table.add_column(name, justify="right")


def jobs_table(jobs: list[dict[str, Any]]) -> Table:
    table = Table(box=None, pad_edge=False)
    table.add_column("id", justify="right")
    table.add_column("user")
    table.add_column("state")
    _numeric_columns(table, "total", "queued", "running", "done", "failed", "cancelled", "eta")
    for job in jobs:
        total = _count(job.get("total"))
        if job.get("scanning"):
            # The total still grows while the daemon lists a large folder; mark it so that a
            # moving total does not look like lost files.
            total += "+"
            table.caption = "+ still scanning the folder: the total will grow"
        table.add_row(
            str(job["id"]),
            str(job["user"]),
            str(job["state"]),
            total,
            *(_count(job.get(field)) for field in ("queued", "running", "done", "failed", "cancelled")),
            format_eta(job.get("eta_seconds")) if job["state"] not in _STILL else NONE,
        )
    return table


def print_job_details(job: dict[str, Any]) -> None:
    out.print(jobs_table([job]))
    for label, key in (("from", "dir"), ("to", "out"), ("engine", "engine"), ("language", "language")):
        if job.get(key):
            out.print(f"{label}: {job[key]}", soft_wrap=True)
    if job.get("formats"):
        formats = job["formats"]
        out.print(f"formats: {','.join(formats) if isinstance(formats, list) else formats}")
    if job.get("error"):
        out.print(f"error: {job['error']}", soft_wrap=True)


def relative_path(path: str, base: str | None) -> str:
    """A file's path under its job's folder: the folder is already on screen, and shorter paths
    keep the state column in view."""
    if base and os.path.isabs(path):
        try:
            relative = os.path.relpath(path, base)
        except ValueError:
            return path
        if not relative.startswith(os.pardir):
            return relative
    return path


def files_table(job: dict[str, Any], files: list[dict[str, Any]]) -> Table:
    table = Table(box=None, pad_edge=False)
    # Fold rather than truncate: a cut-off path or reason is no use to someone fixing the file.
    table.add_column("path", overflow="fold")
    table.add_column("state")
    table.add_column("attempts", justify="right")
    table.add_column("error", overflow="fold")
    for file in files:
        table.add_row(
            relative_path(str(file["path"]), job.get("dir")),
            str(file["state"]),
            _count(file.get("attempts")),
            file.get("error") or "",
        )
    return table


def print_failed_files(job: dict[str, Any], failed: list[dict[str, Any]], follow_up: str) -> None:
    for file in failed[:FAILED_SHOWN]:
        out.print(
            f"  {relative_path(str(file['path']), job.get('dir'))}: {file.get('error') or 'no reason given'}",
            soft_wrap=True,
        )
    if len(failed) > FAILED_SHOWN:
        out.print(f"  … and {len(failed) - FAILED_SHOWN} more; see `{follow_up}`", soft_wrap=True)


def meters_table(meters: dict[str, Any]) -> Table:
    waiting = set(meters.get("waiting") or ())
    table = Table(box=None, pad_edge=False)
    table.add_column("user")
    table.add_column("state")
    _numeric_columns(table, "running", "share", "cap", "queued", "done", "failed", "total", "eta")
    for user in meters.get("users") or ():
        name = str(user["user"])
        if name in waiting:
            state = "waiting"
        elif user.get("running"):
            state = "running"
        elif user.get("queued"):
            state = "queued"
        else:
            state = "idle"
        table.add_row(
            name,
            state,
            _count(user.get("running")),
            _share(user.get("share")),
            _count(user.get("cap")),
            *(_count(user.get(field)) for field in ("queued", "done", "failed", "total")),
            format_eta(user.get("eta_seconds")),
        )
    return table


def print_meters(meters: dict[str, Any]) -> None:
    if not meters.get("users"):
        out.print("no users have work")
    else:
        out.print(meters_table(meters))
    pools = meters.get("pools") or []
    if pools:
        out.print(
            "pools: "
            + ", ".join(f"{pool['name']} {pool.get('running', 0)}/{pool.get('capacity', '?')} busy" for pool in pools)
        )


def format_every(seconds: int) -> str:
    """The exact inverse of `cli.parse_duration`: the largest unit that divides the interval."""
    for suffix, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{suffix}"
    return f"{seconds}s"


def schedule_when(schedule: dict[str, Any]) -> str:
    if schedule.get("cron"):
        return f"cron {schedule['cron']}"
    if schedule.get("every"):
        return f"every {format_every(int(schedule['every']))}"
    return NONE


def schedules_table(schedules: list[dict[str, Any]]) -> Table:
    table = Table(box=None, pad_edge=False)
    table.add_column("id")
    table.add_column("when")
    table.add_column("folder", overflow="fold")
    table.add_column("out", overflow="fold")
    table.add_column("next run")
    for schedule in schedules:
        table.add_row(
            str(schedule["id"]),
            schedule_when(schedule),
            str(schedule.get("dir", "")),
            str(schedule.get("out") or NONE),
            str(schedule.get("next_run_at") or NONE),
        )
    return table


class JobProgress:
    """A live bar for one job: finished (done + failed + cancelled) of total, failures, ETA.

    It shows only on an interactive stderr; piped or captured, the summary line that follows
    says everything the bar would have.
    """

    def __init__(self, job_id: int) -> None:
        self._progress = Progress(
            TextColumn(f"job {job_id}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            console=err,
            disable=not err.is_terminal,
        )
        self._task = self._progress.add_task("", total=None, detail="")

    def __enter__(self) -> Self:
        self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._progress.stop()

    def update(self, job: dict[str, Any]) -> None:
        finished = job["done"] + job["failed"] + job["cancelled"]
        details = [f"{job['running']} running", f"{job['failed']} failed"]
        if job.get("scanning"):
            details.append("scanning folder…")
        elif job["state"] in _STILL:
            details.append(str(job["state"]))
        else:
            details.append(f"eta {format_eta(job.get('eta_seconds'))}")
        # While the folder is still being scanned the total is not known yet, so the bar pulses.
        total = None if job.get("scanning") else job["total"]
        self._progress.update(self._task, completed=finished, total=total, detail=", ".join(details))
