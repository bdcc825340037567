"""Submitting a folder: refuse what cannot work at once, then scan in the background.

Checks at submit (each refusal names the folder and the reason): the folder exists on the daemon's
machine, is a folder, is readable by the caller, is not empty, and the output folder is writable by
the caller. The scan then walks the tree in a thread of its own, queueing files in chunks so that
work starts at once and a 100,000-file folder never makes the daemon unresponsive. Files the engine
rejects (not audio, empty, too long …) are recorded failed with the reason; files an earlier job
already transcribed into the same output are skipped unless forced; the output folder is never
scanned (a folder never feeds on its own transcripts).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from fairscribe.daemon.access import EXECUTE, READ, WRITE, Caller, is_dir, may_access, nearest_existing, within_roots
from fairscribe.daemon.engines.base import Engine
from fairscribe.daemon.outputs import output_paths
from fairscribe.daemon.store import NewFile, Store
from fairscribe.shared.errors import FairscribeError, TaskFailure

log = logging.getLogger(__name__)

CHUNK = 500
DEFAULT_OUT = "transcripts"


class SubmitRefused(FairscribeError):
    """A submission was refused; the message names the folder and the reason."""


@dataclass(frozen=True)
class Request:
    source: Path
    out: Path
    engine: str
    formats: tuple[str, ...]
    language: str | None
    force: bool


def resolve(caller: Caller, directory: str, out: str | None) -> tuple[Path, Path]:
    """Check the folders of a submission against the caller's rights."""
    if not directory:
        raise SubmitRefused("field 'dir' is required: the folder to transcribe")
    source = Path(directory)
    if not source.is_absolute():
        raise SubmitRefused(f"folder {directory!r} must be an absolute path (the daemon has its own working folder)")
    if not source.exists():
        raise SubmitRefused(
            f"folder {source} does not exist on the daemon's machine "
            "(if the daemon runs in a container, is the folder mounted into it?)"
        )
    if not is_dir(source):
        raise SubmitRefused(f"{source} is not a folder")
    source = source.resolve()
    target = Path(out).resolve() if out else source / DEFAULT_OUT
    if not target.is_absolute():
        raise SubmitRefused(f"output folder {out!r} must be an absolute path")
    if caller.roots is not None and not caller.admin:
        for path, what in ((source, "folder"), (target, "output folder")):
            if not within_roots(path, caller.roots):
                raise SubmitRefused(
                    f"{what} {path} is outside the folders {caller.describe()} may use "
                    f"({', '.join(caller.roots) or 'none configured'})"
                )
    if not may_access(source, caller, READ | EXECUTE):
        raise SubmitRefused(f"folder {source} is not readable by {caller.describe()}")
    holder = nearest_existing(target)
    if not is_dir(holder) or not may_access(holder, caller, WRITE | EXECUTE):
        raise SubmitRefused(f"output folder {target} is not writable by {caller.describe()} ({holder} is not)")
    if not any(True for _ in _audio_candidates(source, target)):
        raise SubmitRefused(f"folder {source} has no files to transcribe")
    return source, target


def _audio_candidates(source: Path, out: Path) -> Iterator[Path]:
    """Every regular, non-hidden file below `source`, outside the output folder, in a stable order."""
    stack = [source]
    while stack:
        folder = stack.pop()
        if folder == out:
            continue
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            log.warning("cannot list %s: %s", folder, exc.strerror)
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    subfolders.append(Path(entry.path))
                    continue
            except OSError:
                pass
            yield Path(entry.path)
        stack.extend(reversed(subfolders))


def scan(
    store: Store,
    engine: Engine,
    pool: str,
    job_id: int,
    request: Request,
    user: str,
    on_progress: Callable[[], None],
    already_done: set[str],
) -> None:
    """Walk the folder and queue its files; runs in its own thread. The job ends its scanning
    phase even when the walk fails, with the reason, so it can still end."""
    chunk: list[NewFile] = []
    skipped = 0
    error: str | None = None
    try:
        for path in _audio_candidates(request.source, request.out):
            relative = str(path.relative_to(request.source))
            if not request.force and relative in already_done and _outputs_exist(request, relative):
                skipped += 1
                continue
            chunk.append(_inspect(engine, path, relative))
            if len(chunk) >= CHUNK:
                store.add_files(job_id, pool, chunk)
                chunk = []
                on_progress()
        store.add_files(job_id, pool, chunk)
    except Exception as exc:
        log.exception("user=%s job=%d scanning %s failed", user, job_id, request.source)
        error = f"scanning {request.source} stopped: {exc}"
    finally:
        store.end_scan(job_id, error=error, skipped=skipped)
        log.info("user=%s job=%d scanned %s (%d skipped as already transcribed)", user, job_id, request.source, skipped)
        on_progress()


def has_new_files(request: Request, already_done: set[str]) -> bool:
    return any(
        str(path.relative_to(request.source)) not in already_done
        for path in _audio_candidates(request.source, request.out)
    )


def _inspect(engine: Engine, path: Path, relative: str) -> NewFile:
    try:
        return NewFile(relative, audio_seconds=engine.inspect(path))
    except TaskFailure as exc:
        return NewFile(relative, rejected=str(exc))
    except OSError as exc:
        return NewFile(relative, rejected=f"{relative}: cannot be read ({exc.strerror or exc})")


def _outputs_exist(request: Request, relative: str) -> bool:
    base = request.out / Path(relative).with_suffix("")
    return all(path.exists() for path in output_paths(base, request.formats).values())
