"""Task and job state machines.

fairscribe's first promise is that every file ends in a visible terminal state and that a job ends
only when done + failed + cancelled equals its number of files.  Both rules live here, in one small
table and one function, so that the store, the workers and the reaper cannot each grow their own
idea of what may follow what.  The store turns :func:`allowed_sources` into the ``WHERE state IN
(...)`` of its atomic ``UPDATE``, so a transition that lost a race changes no row instead of
overwriting a newer state.
"""

from dataclasses import asdict, dataclass
from enum import StrEnum


class TaskState(StrEnum):
    """Where one audio file stands."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class JobState(StrEnum):
    """Where a whole submitted folder stands."""

    ACTIVE = "active"
    PAUSED = "paused"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class TaskEvent(StrEnum):
    """What can happen to a task."""

    CLAIM = "claim"
    """queued -> running: a worker leased it."""
    FINISH = "finish"
    """running -> done: its outputs are on disk."""
    FAIL = "fail"
    """running -> failed with a reason; queued -> failed (rejected at submit, engine unusable)."""
    RELEASE = "release"
    """running -> queued: lease expired, slot handed back, or a transient error to retry."""
    CANCEL = "cancel"
    """queued | running -> cancelled."""
    RETRY = "retry"
    """failed | cancelled -> queued: the user asked to retry."""


TERMINAL_TASK_STATES: frozenset[TaskState] = frozenset({TaskState.DONE, TaskState.FAILED, TaskState.CANCELLED})

_TRANSITIONS: dict[TaskEvent, tuple[frozenset[TaskState], TaskState]] = {
    TaskEvent.CLAIM: (frozenset({TaskState.QUEUED}), TaskState.RUNNING),
    TaskEvent.FINISH: (frozenset({TaskState.RUNNING}), TaskState.DONE),
    TaskEvent.FAIL: (frozenset({TaskState.QUEUED, TaskState.RUNNING}), TaskState.FAILED),
    TaskEvent.RELEASE: (frozenset({TaskState.RUNNING}), TaskState.QUEUED),
    TaskEvent.CANCEL: (frozenset({TaskState.QUEUED, TaskState.RUNNING}), TaskState.CANCELLED),
    TaskEvent.RETRY: (frozenset({TaskState.FAILED, TaskState.CANCELLED}), TaskState.QUEUED),
}
"""Each event's legal source states and its one target state.

A finished transcript (done) cannot be retried: redoing it would pay twice for the same file.
"""


class IllegalTransition(ValueError):
    """An event that is not allowed in the task's current state."""

    def __init__(self, state: TaskState, event: TaskEvent) -> None:
        """Keep the state and event so callers can report or match on them."""
        super().__init__(f"task event {event.value!r} is not allowed in state {state.value!r}")
        self.state = state
        self.event = event


def allowed_sources(event: TaskEvent) -> frozenset[TaskState]:
    """The states in which ``event`` may happen."""
    return _TRANSITIONS[event][0]


def next_task_state(state: TaskState, event: TaskEvent) -> TaskState:
    """The state a task in ``state`` moves to on ``event``; raises :class:`IllegalTransition`."""
    sources, target = _TRANSITIONS[event]
    if state not in sources:
        raise IllegalTransition(state, event)
    return target


@dataclass(frozen=True)
class JobCounts:
    """How many of a job's tasks are in each state.

    Consistency (no negatives, the states adding up to ``total``) is checked by :func:`job_state`,
    not here, so a caller may build counts step by step.
    """

    total: int
    queued: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0
    cancelled: int = 0

    @property
    def finished(self) -> int:
        """Tasks in a terminal state."""
        return self.done + self.failed + self.cancelled

    @property
    def is_complete(self) -> bool:
        """Whether every task of the job is in a terminal state."""
        return self.finished == self.total


def job_state(counts: JobCounts, *, scanning: bool, paused: bool, cancel_requested: bool) -> JobState:
    """The state a job with these task counts is in.

    A job is terminal only when its folder scan is over and every task is terminal: while the scan
    runs, more tasks may still appear, and calling a job done earlier is exactly the silent partial
    completion fairscribe exists to prevent.  A terminal job is cancelled when the user cancelled it
    and something was cancelled, failed when any file failed, and done otherwise.
    """
    for name, value in asdict(counts).items():
        if value < 0:
            raise ValueError(f"job count {name} must be >= 0, got {value}")
    if counts.queued + counts.running + counts.finished != counts.total:
        raise ValueError(f"job counts do not add up to total: {counts}")
    if not scanning and counts.is_complete:
        if cancel_requested and counts.cancelled > 0:
            return JobState.CANCELLED
        return JobState.FAILED if counts.failed > 0 else JobState.DONE
    return JobState.PAUSED if paused else JobState.ACTIVE
