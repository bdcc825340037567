"""The adaptive batch sizer: moving estimates per (user, engine), claim sizes and ETAs."""

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairscribe.daemon.batching import BatchSizer, Estimate

PROPERTY = settings(max_examples=200, deadline=None)

seconds = st.floats(0, 1e6, allow_nan=False)
audio = st.none() | st.just(0.0) | st.floats(0.01, 1e5)
observation = st.tuples(seconds, audio)


def test_no_estimate_before_the_first_observation() -> None:
    sizer = BatchSizer()
    assert sizer.estimate("ann", "local") == Estimate(None, None, 0)
    assert sizer.claim_size("ann", "local") == 1
    assert sizer.eta_seconds("ann", "local", remaining_files=10, workers=2) is None


def test_first_observation_sets_then_average_moves() -> None:
    sizer = BatchSizer(smoothing=0.25)
    sizer.observe("ann", "local", 2.0, audio_seconds=60.0)
    assert sizer.estimate("ann", "local") == Estimate(2.0, 2.0, 1)
    sizer.observe("ann", "local", 6.0, audio_seconds=30.0)
    # per file: 0.75 * 2 + 0.25 * 6; per audio minute: 0.75 * 2 + 0.25 * 12
    assert sizer.estimate("ann", "local") == Estimate(3.0, 4.5, 2)


def test_unknown_or_zero_duration_leaves_the_audio_rate_alone() -> None:
    sizer = BatchSizer(smoothing=0.5)
    sizer.observe("ann", "local", 4.0)
    assert sizer.estimate("ann", "local") == Estimate(4.0, None, 1)
    sizer.observe("ann", "local", 2.0, audio_seconds=120.0)
    sizer.observe("ann", "local", 8.0, audio_seconds=0.0)
    assert sizer.estimate("ann", "local") == Estimate(5.5, 1.0, 3)


def test_engines_are_estimated_apart() -> None:
    sizer = BatchSizer()
    sizer.observe("ann", "assemblyai", 30.0)
    assert sizer.estimate("ann", "local").samples == 0
    assert sizer.claim_size("ann", "local") == 1


@pytest.mark.parametrize(
    ("per_file", "expected"),
    [(0.0, 64), (0.001, 64), (0.0625, 8), (0.125, 4), (0.25, 2), (0.3, 1), (0.5, 1), (40.0, 1)],
)
def test_claim_size_fills_the_target_claim_time(per_file: float, expected: int) -> None:
    sizer = BatchSizer(target_claim_seconds=0.5, max_batch=64)
    sizer.observe("ann", "simulated", per_file)
    assert sizer.claim_size("ann", "simulated") == expected


@PROPERTY
@given(
    target=st.floats(1e-3, 1e3),
    max_batch=st.integers(1, 256),
    smoothing=st.floats(0.01, 1.0),
    observations=st.lists(st.floats(0, 1e300, allow_nan=False) | st.just(5e-324), max_size=20),
)
def test_claim_size_stays_within_bounds(
    target: float, max_batch: int, smoothing: float, observations: list[float]
) -> None:
    sizer = BatchSizer(target_claim_seconds=target, max_batch=max_batch, smoothing=smoothing)
    for value in observations:
        sizer.observe("ann", "local", value)
        assert 1 <= sizer.claim_size("ann", "local") <= max_batch


@PROPERTY
@given(
    a_obs=st.lists(observation, max_size=15),
    b_obs=st.lists(observation, max_size=15),
    interleaving=st.lists(st.booleans(), max_size=30),
    smoothing=st.floats(0.01, 1.0),
)
def test_one_users_observations_never_change_anothers_estimate(
    a_obs: list[tuple[float, float | None]],
    b_obs: list[tuple[float, float | None]],
    interleaving: list[bool],
    smoothing: float,
) -> None:
    shared = BatchSizer(smoothing=smoothing)
    alone = BatchSizer(smoothing=smoothing)
    pending_a, pending_b = list(a_obs), list(b_obs)
    # Pick A or B by the drawn booleans, then drain whatever is left.
    for pick_a in [*interleaving, *[True] * len(a_obs), *[False] * len(b_obs)]:
        source, user = (pending_a, "ann") if pick_a else (pending_b, "bob")
        if not source:
            continue
        spent, duration = source.pop(0)
        shared.observe(user, "local", spent, audio_seconds=duration)
        if user == "ann":
            alone.observe("ann", "local", spent, audio_seconds=duration)
        assert shared.estimate("ann", "local") == alone.estimate("ann", "local")
    assert shared.estimate("ann", "local").samples == len(a_obs)
    assert shared.estimate("bob", "local").samples == len(b_obs)
    assert shared.claim_size("ann", "local") == alone.claim_size("ann", "local")


@PROPERTY
@given(st.lists(seconds, min_size=1, max_size=20), st.floats(0.01, 1.0))
def test_estimate_stays_within_observed_range(values: list[float], smoothing: float) -> None:
    sizer = BatchSizer(smoothing=smoothing)
    for value in values:
        sizer.observe("ann", "local", value)
    per_file = sizer.estimate("ann", "local").seconds_per_file
    assert per_file is not None
    assert min(values) * (1 - 1e-12) <= per_file <= max(values) * (1 + 1e-12)


def test_eta_per_file_divides_among_workers() -> None:
    sizer = BatchSizer()
    sizer.observe("ann", "local", 2.0)
    assert sizer.eta_seconds("ann", "local", remaining_files=10, workers=4) == 5.0
    assert sizer.eta_seconds("ann", "local", remaining_files=10, workers=0) == 20.0
    assert sizer.eta_seconds("ann", "local", remaining_files=0, workers=1) == 0.0


def test_eta_prefers_the_audio_rate_when_duration_is_known() -> None:
    sizer = BatchSizer()
    sizer.observe("ann", "local", 30.0, audio_seconds=120.0)  # 15 s per audio minute
    assert sizer.eta_seconds("ann", "local", 10, 2, remaining_audio_seconds=240.0) == 30.0
    assert sizer.eta_seconds("ann", "local", 10, 2) == 150.0


def test_eta_falls_back_to_per_file_without_an_audio_rate() -> None:
    sizer = BatchSizer()
    sizer.observe("ann", "local", 3.0)
    assert sizer.eta_seconds("ann", "local", 4, 1, remaining_audio_seconds=600.0) == 12.0


@pytest.mark.parametrize("bad", [-1.0, -1e-9, math.nan, math.inf])
def test_bad_seconds_are_rejected_by_name(bad: float) -> None:
    sizer = BatchSizer()
    with pytest.raises(ValueError, match=r"^seconds"):
        sizer.observe("ann", "local", bad)
    with pytest.raises(ValueError, match=r"^audio_seconds"):
        sizer.observe("ann", "local", 1.0, audio_seconds=bad)
    assert sizer.estimate("ann", "local").samples == 0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"remaining_files": -1, "workers": 1}, "remaining_files"),
        ({"remaining_files": 1, "workers": -1}, "workers"),
        ({"remaining_files": 1, "workers": 1, "remaining_audio_seconds": -5.0}, "remaining_audio"),
    ],
)
def test_bad_eta_arguments_are_rejected_by_name(kwargs: dict[str, Any], name: str) -> None:
    sizer = BatchSizer()
    sizer.observe("ann", "local", 1.0)
    with pytest.raises(ValueError, match=name):
        sizer.eta_seconds("ann", "local", **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"target_claim_seconds": 0.0}, "target_claim_seconds"),
        ({"target_claim_seconds": math.inf}, "target_claim_seconds"),
        ({"max_batch": 0}, "max_batch"),
        ({"smoothing": 0.0}, "smoothing"),
        ({"smoothing": 1.5}, "smoothing"),
        ({"smoothing": math.nan}, "smoothing"),
    ],
)
def test_bad_settings_are_rejected_by_name(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        BatchSizer(**kwargs)
