"""A worker slot runs one claim: its tasks one after another, each ending in exactly one outcome.

For each task: the engine call (in a thread of its own, so a hung engine costs its thread but never
the slot), the outputs written atomically, then the task marked done. The slot is released on every
path, errors included, and the dispatcher is woken so the slot is reused at once.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from fairscribe.daemon import outputs
from fairscribe.daemon.accounts import Accounts
from fairscribe.daemon.batching import BatchSizer
from fairscribe.daemon.dispatch import Claim, Dispatcher
from fairscribe.daemon.engines.base import EngineRequest, RemoteState, Transcript
from fairscribe.daemon.engines.registry import EngineRegistry
from fairscribe.daemon.models import utcnow
from fairscribe.daemon.settings import Settings
from fairscribe.daemon.store import ClaimedTask, Store
from fairscribe.shared.errors import EngineUnavailable, TaskFailure, TransientError

log = logging.getLogger(__name__)


class EngineTimeout(TaskFailure):
    """The engine did not finish a file within the task timeout."""


@dataclass(frozen=True)
class JobSpec:
    engine: str
    source_dir: str
    out_dir: str
    formats: tuple[str, ...]
    language: str | None
    options: dict[str, Any]
    # The owner's engine credentials, read once per job of a claim rather than once per file.
    credentials: Mapping[str, str] = field(default_factory=dict, repr=False)


class Worker:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        accounts: Accounts,
        registry: EngineRegistry,
        sizer: BatchSizer,
        dispatcher: Dispatcher,
        wake: Callable[[], None],
        stopping: threading.Event,
    ) -> None:
        self.settings = settings
        self.store = store
        self.accounts = accounts
        self.registry = registry
        self.sizer = sizer
        self.dispatcher = dispatcher
        self.wake = wake
        self.stopping = stopping
        self._sizer_lock = threading.Lock()

    def run_claim(self, claim: Claim) -> None:
        remaining = list(claim.tasks)
        jobs: dict[int, JobSpec] = {}
        started = time.monotonic()
        try:
            while remaining and not self.stopping.is_set():
                if len(remaining) < len(claim.tasks) and self.dispatcher.should_end_claim(
                    claim, time.monotonic() - started
                ):
                    log.debug("user=%s pool=%s hands %d files back", claim.user, claim.pool, len(remaining))
                    break
                task = remaining.pop(0)
                if task.job_id not in jobs:
                    jobs[task.job_id] = self._job(task.job_id)
                self._run_task(claim, task, jobs[task.job_id])
        except Exception:
            log.exception("user=%s claim=%s worker failed unexpectedly", claim.user, claim.id)
        finally:
            # A slot is released on every path; unstarted tasks go straight back to the queue.
            try:
                self.store.release([t.id for t in remaining], claim.id)
            finally:
                self.dispatcher.claim_finished(claim)
                self.wake()

    def _job(self, job_id: int) -> JobSpec:
        with self.store.db.read() as conn:
            row = self.store.job_row(conn, job_id)
        return JobSpec(
            row.engine,
            row.source_dir,
            row.out_dir,
            outputs.parse_formats(row.formats),
            row.language,
            dict(row.options or {}),
            self.accounts.credentials(row.user_id).values,
        )

    def _run_task(self, claim: Claim, task: ClaimedTask, job: JobSpec) -> None:
        context = f"user={claim.user} job={task.job_id} file={task.path}"
        if self.store.cancelled(task.job_id):
            self.store.cancel_running(task.id, claim.id)
            return
        started = time.monotonic()
        try:
            transcript = self._transcribe(claim, task, job)
            out_base = Path(job.out_dir) / Path(task.path).with_suffix("")
            try:
                outputs.write_outputs(transcript, out_base, job.formats)
            except OSError as exc:
                raise TaskFailure(
                    f"cannot write the transcript of {task.path} to {out_base.parent}: {exc.strerror or exc}"
                ) from exc
            self.store.finish(task.id, claim.id, transcript.audio_seconds)
            log.debug("%s done in %.3fs", context, time.monotonic() - started)
        except EngineUnavailable as exc:
            log.error("%s engine unavailable: %s", context, exc)
            self.store.fail(task.id, claim.id, str(exc))
            self.store.fail_queued(task.job_id, str(exc))
        except TransientError as exc:
            if task.attempts >= self.settings.max_attempts:
                log.warning("%s failed after %d attempts: %s", context, task.attempts, exc)
                self.store.fail(task.id, claim.id, f"{exc} (gave up after {task.attempts} attempts)")
            else:
                delay = exc.retry_after if exc.retry_after is not None else _backoff(task.attempts)
                log.info("%s will be retried in %.1fs: %s", context, delay, exc)
                self.store.retry_later(task.id, claim.id, str(exc), utcnow() + timedelta(seconds=delay))
        except TaskFailure as exc:
            log.info("%s failed: %s", context, exc)
            self.store.fail(task.id, claim.id, str(exc))
        except Exception as exc:
            log.exception("%s failed unexpectedly", context)
            self.store.fail(task.id, claim.id, f"{type(exc).__name__}: {exc}")
        finally:
            with self._sizer_lock:
                self.sizer.observe(claim.user, claim.pool, time.monotonic() - started, task.audio_seconds)

    def _transcribe(self, claim: Claim, task: ClaimedTask, job: JobSpec) -> Transcript:
        engine = self.registry.get(job.engine)
        stop = threading.Event()

        def remember(state: RemoteState) -> None:
            if not self.store.remember_remote(task.id, claim.id, state.intent, state.remote_id):
                stop.set()
                raise TransientError(f"{task.path}: this worker's lease ended; another will resume the file")

        def progress(fraction: float) -> None:
            self.store.set_progress(task.id, claim.id, fraction)

        request = EngineRequest(
            path=Path(job.source_dir) / task.path,
            user=claim.user,
            job_id=task.job_id,
            task_id=task.id,
            language=job.language,
            options=job.options,
            remote=RemoteState(task.remote_intent, task.remote_id),
            credentials=job.credentials,
            report_progress=progress,
            remember=remember,
            should_stop=lambda: stop.is_set() or self.stopping.is_set(),
        )
        outcome: dict[str, Any] = {}

        def call() -> None:
            try:
                outcome["transcript"] = engine.transcribe(request)
            except BaseException as exc:  # handed to the worker thread below
                outcome["error"] = exc

        thread = threading.Thread(target=call, name=f"engine-{task.id}", daemon=True)
        thread.start()
        thread.join(self.settings.task_timeout_seconds)
        if thread.is_alive():
            stop.set()
            raise EngineTimeout(
                f"{task.path}: the {job.engine} engine did not finish within {self.settings.task_timeout_seconds:g} s"
            )
        if "error" in outcome:
            raise outcome["error"]
        transcript: Transcript = outcome["transcript"]
        return transcript


def _backoff(attempts: int) -> float:
    return random.uniform(0, min(60.0, 2.0**attempts))
