"""The task and job state machines: what may follow what, and when a job may end."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairscribe.daemon.transitions import (
    TERMINAL_TASK_STATES,
    IllegalTransition,
    JobCounts,
    JobState,
    TaskEvent,
    TaskState,
    allowed_sources,
    job_state,
    next_task_state,
)

PROPERTY = settings(max_examples=200, deadline=None)

Q, R, D, F, C = (
    TaskState.QUEUED,
    TaskState.RUNNING,
    TaskState.DONE,
    TaskState.FAILED,
    TaskState.CANCELLED,
)

EXPECTED = {
    (Q, TaskEvent.CLAIM): R,
    (R, TaskEvent.FINISH): D,
    (R, TaskEvent.FAIL): F,
    (Q, TaskEvent.FAIL): F,
    (R, TaskEvent.RELEASE): Q,
    (Q, TaskEvent.CANCEL): C,
    (R, TaskEvent.CANCEL): C,
    (F, TaskEvent.RETRY): Q,
    (C, TaskEvent.RETRY): Q,
}
TERMINAL_JOB_STATES = {JobState.DONE, JobState.FAILED, JobState.CANCELLED}


@pytest.mark.parametrize("state", list(TaskState))
@pytest.mark.parametrize("event", list(TaskEvent))
def test_transition_table(state: TaskState, event: TaskEvent) -> None:
    assert (state in allowed_sources(event)) == ((state, event) in EXPECTED)
    if (state, event) in EXPECTED:
        assert next_task_state(state, event) is EXPECTED[(state, event)]
    else:
        with pytest.raises(IllegalTransition) as caught:
            next_task_state(state, event)
        assert state.value in str(caught.value) and event.value in str(caught.value)
        assert (caught.value.state, caught.value.event) == (state, event)
        assert isinstance(caught.value, ValueError)


def test_terminal_states() -> None:
    assert {D, F, C} == TERMINAL_TASK_STATES


def test_a_finished_transcript_is_never_redone() -> None:
    assert all(D not in allowed_sources(event) for event in TaskEvent)


@PROPERTY
@given(st.sampled_from(TaskState), st.lists(st.sampled_from(TaskEvent), max_size=40))
def test_terminal_tasks_leave_only_by_retry(start: TaskState, events: list[TaskEvent]) -> None:
    state = start
    for event in events:
        try:
            after = next_task_state(state, event)
        except IllegalTransition:
            assert state not in allowed_sources(event)
            continue
        if state in TERMINAL_TASK_STATES:
            assert event is TaskEvent.RETRY and after is Q
        state = after


def counts_from(states: list[TaskState]) -> JobCounts:
    return JobCounts(
        total=len(states),
        queued=states.count(Q),
        running=states.count(R),
        done=states.count(D),
        failed=states.count(F),
        cancelled=states.count(C),
    )


@PROPERTY
@given(
    n_tasks=st.integers(0, 12),
    steps=st.lists(st.tuples(st.integers(0, 11), st.sampled_from(TaskEvent)), max_size=60),
    scanning=st.booleans(),
    paused=st.booleans(),
    cancel_requested=st.booleans(),
)
def test_job_ends_exactly_when_scan_is_over_and_every_task_is_terminal(
    n_tasks: int,
    steps: list[tuple[int, TaskEvent]],
    scanning: bool,
    paused: bool,
    cancel_requested: bool,
) -> None:
    """Drive a job's tasks through random legal events and judge the job after each one."""

    def judge(states: list[TaskState]) -> None:
        counts = counts_from(states)
        state = job_state(counts, scanning=scanning, paused=paused, cancel_requested=cancel_requested)
        unfinished = counts.queued > 0 or counts.running > 0
        assert (state in TERMINAL_JOB_STATES) == (not scanning and not unfinished)
        if state not in TERMINAL_JOB_STATES:
            assert state is (JobState.PAUSED if paused else JobState.ACTIVE)

    states = [Q] * n_tasks
    judge(states)
    for index, event in steps:
        if index < n_tasks and states[index] in allowed_sources(event):
            states[index] = next_task_state(states[index], event)
        judge(states)


@st.composite
def consistent_counts(draw: st.DrawFn) -> JobCounts:
    parts = draw(st.lists(st.integers(0, 20), min_size=5, max_size=5))
    return JobCounts(sum(parts), *parts)


@PROPERTY
@given(consistent_counts(), st.booleans(), st.booleans())
def test_terminal_outcome(counts: JobCounts, paused: bool, cancel_requested: bool) -> None:
    state = job_state(counts, scanning=False, paused=paused, cancel_requested=cancel_requested)
    if not counts.is_complete:
        assert state is (JobState.PAUSED if paused else JobState.ACTIVE)
    elif cancel_requested and counts.cancelled > 0:
        assert state is JobState.CANCELLED
    elif counts.failed > 0:
        assert state is JobState.FAILED
    else:
        assert state is JobState.DONE


@PROPERTY
@given(consistent_counts(), st.booleans(), st.booleans())
def test_never_terminal_while_scanning(counts: JobCounts, paused: bool, cancel: bool) -> None:
    state = job_state(counts, scanning=True, paused=paused, cancel_requested=cancel)
    assert state is (JobState.PAUSED if paused else JobState.ACTIVE)


def test_counts_properties() -> None:
    counts = JobCounts(total=10, queued=1, running=2, done=4, failed=2, cancelled=1)
    assert counts.finished == 7
    assert not counts.is_complete
    assert JobCounts(total=3, done=1, failed=1, cancelled=1).is_complete


def test_empty_job_after_scanning_is_done() -> None:
    assert job_state(JobCounts(0), scanning=False, paused=False, cancel_requested=False) is (JobState.DONE)
    assert job_state(JobCounts(0), scanning=True, paused=False, cancel_requested=False) is (JobState.ACTIVE)


def test_cancel_with_everything_already_done_is_done() -> None:
    counts = JobCounts(total=2, done=2)
    assert job_state(counts, scanning=False, paused=False, cancel_requested=True) is JobState.DONE


def test_cancel_with_failures_is_cancelled() -> None:
    counts = JobCounts(total=3, done=1, failed=1, cancelled=1)
    state = job_state(counts, scanning=False, paused=True, cancel_requested=True)
    assert state is JobState.CANCELLED


@pytest.mark.parametrize(
    ("counts", "name"),
    [
        (JobCounts(total=-1, queued=-1), "total"),
        (JobCounts(total=0, queued=-1, done=1), "queued"),
        (JobCounts(total=1, running=1, failed=-1, done=1), "failed"),
        (JobCounts(total=5, queued=4), "add up"),
        (JobCounts(total=3, queued=2, done=2), "add up"),
    ],
)
def test_inconsistent_counts_are_rejected(counts: JobCounts, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        job_state(counts, scanning=False, paused=False, cancel_requested=False)
