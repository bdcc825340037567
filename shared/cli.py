"""`fairscribe`, the command line client (DESIGN.md's "Public interface" is its contract).

Exit codes, the same for every command:

    0  success
    1  `wait` / `submit --wait`: the job ended with a failed or cancelled file
    2  bad arguments or input (typer's usage errors), a malformed setting, or the daemon refused
    3  no daemon answers, or the connection to it broke
    130 interrupted with Ctrl-C (a followed job keeps running)

With `--json` the answer on stdout is one JSON document and nothing else; errors become
`{"error": {"kind", "message", ...}}` there too, with the same exit codes.
"""

from __future__ import annotations

import enum
import getpass
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from fairscribe.shared import cli_render as render
from fairscribe.shared.autostart import start_local_daemon
from fairscribe.shared.client import TERMINAL_JOB_STATES, Client
from fairscribe.shared.config import ClientSettings
from fairscribe.shared.errors import (
    ConfigError,
    DaemonNotRunning,
    ProtocolError,
    RemoteError,
)

EXIT_JOB_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_NO_DAEMON = 3
EXIT_INTERRUPTED = 130

FORMATS = ("txt", "srt", "vtt", "json")
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Pushes only hint that a job changed; this re-read of the job catches anything a push missed.
SAFETY_REFRESH_SECONDS = 2.0

app = typer.Typer(
    name="fairscribe",
    help="Transcribe folders of audio through the fairscribe daemon, fairly shared between users.",
    no_args_is_help=True,
    add_completion=False,
    # Never print local variables in a traceback: `user key` holds an AssemblyAI key in one.
    pretty_exceptions_show_locals=False,
)
user_app = typer.Typer(help="Manage users (admin).", no_args_is_help=True)
token_app = typer.Typer(help="Manage access tokens for TCP clients (admin).", no_args_is_help=True)
schedule_app = typer.Typer(
    help="Transcribe a folder again and again, on an interval or a crontab.", no_args_is_help=True
)
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(schedule_app, name="schedule")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print a machine-readable JSON answer on stdout.")]
JobArg = Annotated[int, typer.Argument(metavar="JOB", min=1, help="Job id.")]
InputDir = Annotated[
    Path,
    typer.Argument(
        metavar="DIR", exists=True, file_okay=False, dir_okay=True, readable=True, help="Folder of audio files."
    ),
]
OutDir = Annotated[
    Path | None,
    typer.Option(
        "--out",
        metavar="DIR",
        file_okay=False,
        writable=True,
        help="Where transcripts go, mirroring the input tree (default: chosen by the daemon).",
    ),
]
FormatsOpt = Annotated[
    str | None, typer.Option("--formats", metavar="LIST", help=f"Comma-separated subset of {','.join(FORMATS)}.")
]
LanguageOpt = Annotated[str | None, typer.Option("--language", metavar="CODE", help="Spoken language, e.g. en.")]
EngineOpt = Annotated[str | None, typer.Option("--engine", metavar="NAME", help="assemblyai, local or simulated.")]


class Position(enum.StrEnum):
    top = "top"
    bottom = "bottom"
    up = "up"
    down = "down"


@dataclass(frozen=True)
class Globals:
    as_user: str | None = None


def make_client(as_user: str | None) -> Client:
    """The one place a command gets its connection; tests replace it with a fake."""
    return Client(as_user=as_user)


@app.callback()
def _global_options(
    ctx: typer.Context,
    as_user: Annotated[
        str | None, typer.Option("--as", metavar="USER", help="Act as another user (admin only).")
    ] = None,
) -> None:
    ctx.obj = Globals(as_user=as_user)


def _fail(kind: str, message: str, exit_code: int, as_json: bool, **extra: Any) -> NoReturn:
    if as_json:
        render.print_json({"error": {"kind": kind, "message": message, **extra}})
    else:
        render.err.print(f"error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(exit_code)


def _connect(ctx: typer.Context, start_daemon: bool) -> Client:
    as_user = ctx.ensure_object(Globals).as_user
    try:
        return make_client(as_user)
    except DaemonNotRunning:
        if not start_daemon:
            raise
    render.err.print(start_local_daemon(ClientSettings.from_env()), markup=False, soft_wrap=True)
    return make_client(as_user)


@contextmanager
def _session(ctx: typer.Context, as_json: bool, *, start_daemon: bool = False) -> Iterator[Client]:
    """A connected client; the errors a person can act on become a message and an exit code
    instead of a traceback. With `start_daemon`, a local daemon is started when none answers."""
    try:
        client = _connect(ctx, start_daemon)
        try:
            yield client
        finally:
            client.close()
    except DaemonNotRunning as exc:
        _fail("daemon_not_running", str(exc), EXIT_NO_DAEMON, as_json)
    except ProtocolError as exc:
        _fail("protocol", f"the daemon's answer broke the protocol: {exc}", EXIT_NO_DAEMON, as_json)
    except RemoteError as exc:
        _fail("remote", exc.message, EXIT_BAD_INPUT, as_json, code=exc.code, data=exc.data)
    except ConfigError as exc:
        _fail("config", str(exc), EXIT_BAD_INPUT, as_json)


def _absolute(path: Path) -> str:
    # The daemon's working directory is not ours. abspath, not resolve(): keep the names the user
    # typed (a symlinked folder may be mounted under that name in the daemon's container).
    return os.path.abspath(os.path.expanduser(path))


def parse_formats(text: str | None) -> list[str] | None:
    if text is None:
        return None
    formats = list(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    unknown = [name for name in formats if name not in FORMATS]
    if unknown or not formats:
        raise typer.BadParameter(
            f"{', '.join(unknown) or 'nothing'} is not a transcript format; choose from {','.join(FORMATS)}",
            param_hint="--formats",
        )
    return formats


def parse_duration(text: str) -> int:
    """`30s`, `10m`, `2h` or `1d` as seconds."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text)
    if not match or int(match[1]) == 0:
        raise ValueError(f"{text!r} is not a duration; write a positive whole number and a unit, e.g. 30s, 10m, 2h, 1d")
    return int(match[1]) * DURATION_UNITS[match[2]]


def check_cron(text: str) -> str:
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(
            f"{text!r} has {len(fields)} fields; a crontab schedule has 5: minute hour day-of-month month day-of-week"
        )
    return " ".join(fields)


def _follow_hint(ctx: typer.Context, command: str) -> str:
    as_user = ctx.ensure_object(Globals).as_user
    return f"fairscribe --as {as_user} {command}" if as_user else f"fairscribe {command}"


def follow(client: Client, job_id: int, on_update: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Wait until the job is terminal, calling `on_update` with each fresh read of it.

    Subscribing first means no change between the first read and the first push is missed.
    """
    client.subscribe()
    job = client.job(job_id)
    on_update(job)
    next_refresh = time.monotonic() + SAFETY_REFRESH_SECONDS
    while job["state"] not in TERMINAL_JOB_STATES:
        events = client.next_events(timeout=max(0.0, next_refresh - time.monotonic()))
        if any(event.get("job") == job_id for event in events) or time.monotonic() >= next_refresh:
            job = client.job(job_id)
            next_refresh = time.monotonic() + SAFETY_REFRESH_SECONDS
            on_update(job)
    return job


def _wait_and_report(
    ctx: typer.Context, client: Client, job_id: int, as_json: bool, *, show_out: bool = False
) -> NoReturn:
    """Follow a job to its end, report it the way `wait` promises, and exit with its verdict."""
    try:
        if as_json:
            job = follow(client, job_id, lambda _job: None)
        else:
            with render.JobProgress(job_id) as progress:
                job = follow(client, job_id, progress.update)
    except KeyboardInterrupt:
        render.err.print(f"interrupted; job {job_id} keeps running (`{_follow_hint(ctx, f'wait {job_id}')}`)")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    failed: list[dict[str, Any]] = []
    if job["failed"]:
        _, files = client.files(job_id)
        failed = [file for file in files if file["state"] == "failed"]
    ok = job["state"] == "done" and not job["failed"] and not job["cancelled"]
    if as_json:
        render.print_json({"job": job, "failed_files": failed})
    else:
        render.out.print(render.job_counts(job))
        if show_out:
            render.out.print(f"transcripts: {job.get('out')}", markup=False, soft_wrap=True)
        if job.get("error"):
            render.out.print(f"job error: {job['error']}", markup=False, soft_wrap=True)
        render.print_failed_files(job, failed, _follow_hint(ctx, f"status {job_id} --files"))
    raise typer.Exit(0 if ok else EXIT_JOB_FAILED)


@app.command()
def submit(
    ctx: typer.Context,
    directory: InputDir,
    out: OutDir = None,
    formats: FormatsOpt = None,
    language: LanguageOpt = None,
    engine: EngineOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Transcribe again files that already have transcripts.")
    ] = False,
    speech_model: Annotated[
        list[str] | None, typer.Option("--speech-model", metavar="NAME", help="AssemblyAI speech model (repeatable).")
    ] = None,
    punctuate: Annotated[
        bool | None, typer.Option("--punctuate/--no-punctuate", help="AssemblyAI: punctuation and casing.")
    ] = None,
    speaker_labels: Annotated[
        bool | None, typer.Option("--speaker-labels/--no-speaker-labels", help="AssemblyAI: label speakers.")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Show progress and exit like `wait` when the job ends.")] = False,
    start_daemon: Annotated[
        bool, typer.Option("--start-daemon/--no-start-daemon", help="Start a local daemon if none answers.")
    ] = True,
    as_json: JsonFlag = False,
) -> None:
    """Transcribe every audio file under DIR."""
    chosen_formats = parse_formats(formats)
    options: dict[str, Any] = {}
    if speech_model:
        options["speech_models"] = speech_model
    if punctuate is not None:
        options["punctuate"] = options["format_text"] = punctuate
    if speaker_labels is not None:
        options["speaker_labels"] = speaker_labels
    with _session(ctx, as_json, start_daemon=start_daemon) as client:
        job = client.submit(
            _absolute(directory),
            out=_absolute(out) if out else None,
            formats=chosen_formats,
            language=language,
            engine=engine,
            force=force,
            options=options or None,
        )
        job_id = int(job["id"])
        if not as_json:
            size = "scanning the folder" if job.get("scanning") else f"{job['total']} files"
            render.out.print(
                f"job {job_id} submitted: {job.get('dir')} → {job.get('out')} ({size})", markup=False, soft_wrap=True
            )
        if wait:
            _wait_and_report(ctx, client, job_id, as_json, show_out=True)
    if as_json:
        render.print_json({"job": job})
    else:
        render.out.print(
            f"follow it with `{_follow_hint(ctx, f'wait {job_id}')}` or `{_follow_hint(ctx, f'status {job_id}')}`",
            markup=False,
        )


@app.command()
def status(
    ctx: typer.Context,
    job_id: Annotated[int | None, typer.Argument(metavar="JOB", min=1, help="Show only this job.")] = None,
    files: Annotated[bool, typer.Option("--files", help="List every file of JOB with its state and error.")] = False,
    all_users: Annotated[bool, typer.Option("--all", help="Every user's jobs (admin).")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Show your jobs, one job, or one job's files."""
    if files and job_id is None:
        raise typer.BadParameter(
            "it lists one job's files; give a JOB, e.g. `fairscribe status 7 --files`", param_hint="--files"
        )
    if all_users and job_id is not None:
        raise typer.BadParameter("it lists every user's jobs; leave out JOB", param_hint="--all")
    with _session(ctx, as_json) as client:
        if job_id is None:
            jobs = client.jobs(all_users=all_users)
            if as_json:
                render.print_json({"jobs": jobs})
            elif jobs:
                render.out.print(render.jobs_table(jobs))
            else:
                render.out.print("no jobs")
        elif files:
            job, job_files = client.files(job_id)
            if as_json:
                render.print_json({"job": job, "files": job_files})
            else:
                render.print_job_details(job)
                render.out.print(render.files_table(job, job_files))
        else:
            job = client.job(job_id)
            if as_json:
                render.print_json({"job": job})
            else:
                render.print_job_details(job)


@app.command()
def wait(ctx: typer.Context, job_id: JobArg, as_json: JsonFlag = False) -> None:
    """Wait until JOB ends: exit 0 when every file is done, 1 when any failed or was cancelled."""
    with _session(ctx, as_json) as client:
        _wait_and_report(ctx, client, job_id, as_json)


@app.command()
def meters(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Per user: workers running, fair share, cap, queued, done, failed, total and ETA."""
    with _session(ctx, as_json) as client:
        answer = client.meters()
    if as_json:
        render.print_json(answer)
    else:
        render.print_meters(answer)


def _control(ctx: typer.Context, action: str, done: str, job_id: int, as_json: bool) -> None:
    with _session(ctx, as_json) as client:
        job = client.control(action, job_id)
    if as_json:
        render.print_json({"job": job})
    else:
        render.out.print(f"job {job_id}: {done}; now {job['state']}, {render.counts(job)}")


@app.command()
def cancel(ctx: typer.Context, job_id: JobArg, as_json: JsonFlag = False) -> None:
    """Cancel JOB's queued and running files; done files stay done."""
    _control(ctx, "cancel", "cancel requested", job_id, as_json)


@app.command()
def pause(ctx: typer.Context, job_id: JobArg, as_json: JsonFlag = False) -> None:
    """Stop starting JOB's files; running ones finish."""
    _control(ctx, "pause", "paused", job_id, as_json)


@app.command()
def resume(ctx: typer.Context, job_id: JobArg, as_json: JsonFlag = False) -> None:
    """Start a paused JOB's files again."""
    _control(ctx, "resume", "resumed", job_id, as_json)


@app.command()
def retry(ctx: typer.Context, job_id: JobArg, as_json: JsonFlag = False) -> None:
    """Queue JOB's failed files again."""
    _control(ctx, "retry", "failed files queued again", job_id, as_json)


@app.command()
def move(
    ctx: typer.Context,
    job_id: JobArg,
    to: Annotated[Position, typer.Argument(metavar="top|bottom|up|down", help="Where JOB goes in your queue.")],
    as_json: JsonFlag = False,
) -> None:
    """Reorder your own queue: JOB's files run before or after your other jobs'."""
    with _session(ctx, as_json) as client:
        job = client.move(job_id, to.value)
    if as_json:
        render.print_json({"job": job})
    else:
        where = {"top": "to the top of", "bottom": "to the bottom of", "up": "up in", "down": "down in"}[to.value]
        render.out.print(f"job {job_id} moved {where} {job['user']}'s queue")


@user_app.command("add")
def user_add(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="The user's OS account name, or a new token user's name.")
    ],
    weight: Annotated[
        float | None, typer.Option("--weight", metavar="W", help="Relative share of the workers (> 0).")
    ] = None,
    max_workers: Annotated[
        int | None, typer.Option("--max-workers", metavar="N", min=1, help="Cap on this user's workers.")
    ] = None,
    roots: Annotated[
        list[str] | None,
        typer.Option("--root", metavar="DIR", help="A folder a token user may read and write under (repeatable)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Add a user: an OS account of this machine, or a token user for TCP clients."""
    if weight is not None and not weight > 0:
        raise typer.BadParameter(f"{weight:g} is not a positive weight", param_hint="--weight")
    # Roots are checked by the daemon, not here: they name folders as the daemon sees them.
    with _session(ctx, as_json) as client:
        user = client.add_user(
            name,
            weight=weight,
            max_workers=max_workers,
            roots=[_absolute(Path(root)) for root in roots] if roots else None,
        )
    if as_json:
        render.print_json({"user": user})
        return
    cap = user.get("max_workers")
    render.out.print(
        f"user {user['name']}: weight {user.get('weight', 1):g}, max workers {cap if cap is not None else 'no cap'}"
        + (f", roots {', '.join(user['roots'])}" if user.get("roots") else ""),
        markup=False,
        soft_wrap=True,
    )


def _read_key(name: str) -> str:
    # The key comes from stdin, never argv: any user on the machine can read argv in `ps`.
    typed = getpass.getpass(f"AssemblyAI key for {name} (input hidden): ") if sys.stdin.isatty() else sys.stdin.read()
    key = typed.strip()
    if not key or any(char.isspace() for char in key):
        raise typer.BadParameter(
            "expected exactly one AssemblyAI key on stdin, e.g. `fairscribe user key NAME < key.txt`", param_hint="key"
        )
    return key


@user_app.command("key")
def user_key(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME")],
    max_workers: Annotated[
        int | None, typer.Option("--max-workers", metavar="N", min=1, help="The key's own concurrency limit.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Give NAME their own AssemblyAI key, read from stdin; their work then runs on it."""
    key = _read_key(name)
    with _session(ctx, as_json) as client:
        user = client.set_user_key(name, key, max_workers=max_workers)
    if as_json:
        render.print_json({"user": user})
    else:
        limit = f" (up to {max_workers} at once)" if max_workers else ""
        render.out.print(f"user {name}: own AssemblyAI key set{limit}", markup=False)


@token_app.command("create")
def token_create(
    ctx: typer.Context, name: Annotated[str, typer.Argument(metavar="NAME")], as_json: JsonFlag = False
) -> None:
    """Create NAME's bearer token for TCP clients. It is shown once only."""
    with _session(ctx, as_json) as client:
        token = client.create_token(name)
    if as_json:
        render.print_json({"user": name, "token": token})
        return
    # Only the token on stdout, so that `fairscribe token create bob > bob.token` saves just it.
    render.err.print(f"token for {name} (shown once only; give it to them as FAIRSCRIBE_TOKEN):", markup=False)
    render.out.print(token, markup=False, soft_wrap=True)


@schedule_app.command("add")
def schedule_add(
    ctx: typer.Context,
    directory: InputDir,
    every: Annotated[
        str | None, typer.Option("--every", metavar="DURATION", help="Interval: 30s, 10m, 2h or 1d.")
    ] = None,
    cron: Annotated[str | None, typer.Option("--cron", metavar="'M H DOM MON DOW'", help="A crontab schedule.")] = None,
    out: OutDir = None,
    formats: FormatsOpt = None,
    language: LanguageOpt = None,
    engine: EngineOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Transcribe new files in DIR on a schedule: give exactly one of --every and --cron."""
    if (every is None) == (cron is None):
        raise typer.BadParameter(
            "give exactly one, e.g. --every 10m or --cron '0 2 * * *'", param_hint="--every / --cron"
        )
    try:
        when: dict[str, Any] = (
            {"every": parse_duration(every)} if every is not None else {"cron": check_cron(cron or "")}
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--every" if every is not None else "--cron") from None
    chosen_formats = parse_formats(formats)
    with _session(ctx, as_json) as client:
        schedule = client.add_schedule(
            _absolute(directory),
            out=_absolute(out) if out else None,
            formats=chosen_formats,
            language=language,
            engine=engine,
            **when,
        )
    if as_json:
        render.print_json({"schedule": schedule})
    else:
        render.out.print(
            f"schedule {schedule['id']}: {render.schedule_when(schedule)}, {schedule.get('dir')}",
            markup=False,
            soft_wrap=True,
        )


@schedule_app.command("list")
def schedule_list(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Your schedules."""
    with _session(ctx, as_json) as client:
        schedules = client.schedules()
    if as_json:
        render.print_json({"schedules": schedules})
    elif schedules:
        render.out.print(render.schedules_table(schedules))
    else:
        render.out.print("no schedules")


@schedule_app.command("remove")
def schedule_remove(
    ctx: typer.Context, schedule_id: Annotated[str, typer.Argument(metavar="ID")], as_json: JsonFlag = False
) -> None:
    """Remove one of your schedules (jobs it already started go on)."""
    with _session(ctx, as_json) as client:
        client.remove_schedule(schedule_id)
    if as_json:
        render.print_json({"removed": schedule_id})
    else:
        render.out.print(f"schedule {schedule_id} removed", markup=False)


def main() -> None:
    app(prog_name="fairscribe")


if __name__ == "__main__":
    main()
