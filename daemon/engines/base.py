"""The engine interface: one call that turns one audio file into a transcript.

An engine call runs in a worker thread and may take minutes. It reports progress through its
request, checks `request.should_stop()` at safe points, and — for remote engines — persists what it
has paid for through `request.remember()` *before* it waits, so that a restarted daemon resumes the
same remote work (`request.remote`) instead of starting (and paying for) it again.

Failures are raised as `fairscribe.shared.errors.TaskFailure` subclasses: `FileRejected` and
`EngineRejected` fail the file with their message, `TransientError` is retried with backoff,
`EngineUnavailable` fails the job at once. Any other exception fails the file with its text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class Word:
    text: str
    start_ms: int
    end_ms: int
    confidence: float | None = None
    speaker: str | None = None


@dataclass(frozen=True)
class Transcript:
    """What every engine returns and every output writer consumes."""

    text: str
    words: tuple[Word, ...] = ()
    audio_seconds: float | None = None
    language: str | None = None
    engine: str = ""


@dataclass(frozen=True)
class RemoteState:
    """What a remote engine has started for a task and must not start again.

    `intent` is recorded before the remote work is created (for AssemblyAI, the upload URL) and
    `remote_id` as soon as it exists (the transcript id)."""

    intent: str | None = None
    remote_id: str | None = None


@dataclass(frozen=True)
class PoolSpec:
    """A pool of capacity: the tasks placed in it never run more than `capacity` at once."""

    key: str
    capacity: int


def _never_stop() -> bool:
    return False


def _ignore_progress(fraction: float) -> None:
    del fraction


def _forget(state: RemoteState) -> None:
    del state


@dataclass(frozen=True)
class EngineRequest:
    """One file to transcribe, with the hooks back into the daemon."""

    path: Path
    user: str
    job_id: int
    task_id: int
    language: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    remote: RemoteState = RemoteState()
    credentials: Mapping[str, str] = field(default_factory=dict)
    report_progress: Callable[[float], None] = _ignore_progress
    remember: Callable[[RemoteState], None] = _forget
    should_stop: Callable[[], bool] = _never_stop


class Engine(Protocol):
    """A transcription engine. Implementations are registered by name in `engines.registry`."""

    name: str

    def pool_for(self, credentials: Mapping[str, str]) -> PoolSpec:
        """The pool whose capacity a task of a user with these credentials uses."""
        ...

    def inspect(self, path: Path) -> float | None:
        """Check a file before it is queued (at submit): its audio duration in seconds when known;
        raise `FileRejected` with the reason for a file this engine can never transcribe."""
        ...

    def preflight(self, credentials: Mapping[str, str]) -> None:
        """Check at submit that the engine can work at all for this user (a key is accepted, the
        service answers); raise `EngineUnavailable` with a reason that names no secret."""
        ...

    def transcribe(self, request: EngineRequest) -> Transcript:
        """Transcribe one file; raise a `TaskFailure` subclass to fail it with a reason."""
        ...
