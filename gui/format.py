"""How the GUI words numbers, durations and job states: pure functions, so every widget says the
same thing the same way and tests can check the wording without a window."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

TERMINAL_STATES = frozenset({"done", "failed", "cancelled"})


def number(value: int) -> str:
    """1000 → "1,000": batch sizes are read at a glance."""
    return f"{value:,}"


def duration(seconds: float | None) -> str:
    """A rounded, human duration ("45 s", "3 min 20 s", "2 h 05 min"); "—" when unknown."""
    if seconds is None or seconds <= 0:
        return "—"
    whole = round(seconds)
    if whole < 60:
        return f"{max(whole, 1)} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def share(value: float) -> str:
    """A fair share in workers: "4" when whole, "2.5" otherwise."""
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


def finished_count(job: dict[str, Any]) -> int:
    """Files in a terminal state: the progress of a batch, which ends only when this equals total."""
    return int(job.get("done", 0)) + int(job.get("failed", 0)) + int(job.get("cancelled", 0))


def progress(job: dict[str, Any]) -> str:
    if job.get("scanning") and not job.get("total"):
        return "scanning…"
    return f"{number(finished_count(job))} of {number(int(job.get('total', 0)))}"


def is_live(job: dict[str, Any]) -> bool:
    return str(job.get("state")) not in TERMINAL_STATES


def state(job: dict[str, Any]) -> str:
    """The job's state as a person reads it: an active job is running, queued or still scanning, and
    a batch where most files worked but some failed is not simply "failed"."""
    raw = str(job.get("state", "?"))
    if raw == "active":
        if job.get("running"):
            return "running"
        return "scanning" if job.get("scanning") and not job.get("total") else "queued"
    if raw == "failed" and job.get("done"):
        return "done with failures"
    return raw


def folder(path: str) -> str:
    """The last part of a folder path, which is what tells a person's batches apart."""
    return PurePath(path).name or path


def eta(job: dict[str, Any]) -> str:
    return duration(float(job.get("eta_seconds") or 0.0)) if is_live(job) else ""


def finished_message(job_id: int | None, data: dict[str, Any]) -> str:
    """The one notification for a batch that ended ("job 7 done: 998 of 1,000, 2 failed")."""
    total = int(data.get("total", 0))
    done = int(data.get("done", 0))
    failed = int(data.get("failed", 0))
    cancelled = int(data.get("cancelled", 0))
    if data.get("state") == "cancelled":
        text = f"job {job_id} cancelled: {number(done)} of {number(total)} done"
    else:
        text = f"job {job_id} done: {number(done)} of {number(total)}"
    if failed:
        text += f", {number(failed)} failed"
    if cancelled:
        text += f", {number(cancelled)} cancelled"
    return text
