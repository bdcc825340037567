"""Properties of the fair-share policy: admission, capacity, demand, caps, work conservation,
weighted max-min fairness, fair shares and hand-backs."""

import math
import random
from collections.abc import Sequence
from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairscribe.daemon.fairshare import Decision, PoolState, UserState, allocate

POOL_KEYS = ("assemblyai", "assemblyai:user:7", "local")
WEIGHTS = (0.1, 0.5, 1.0, 2.0, 3.0, 1.5)

Scenario = tuple[list[PoolState], list[UserState], int]


@st.composite
def scenarios(draw: st.DrawFn, *, max_pools: int = 3, caps: bool = True) -> Scenario:
    """Small snapshots, including over-full pools, caps below holdings and arrival ties.

    A pool key a user has no entry for and an explicit zero entry must mean the same; both occur.
    """
    keys = draw(st.lists(st.sampled_from(POOL_KEYS), unique=True, max_size=max_pools))
    pools = [PoolState(key, draw(st.integers(0, 30))) for key in keys]
    per_key = st.tuples(st.integers(-1, 10), st.integers(-1, 50))
    user = st.tuples(
        st.sampled_from(WEIGHTS),
        st.none() | st.integers(0, 20) if caps else st.none(),
        st.integers(0, 4),
        st.lists(per_key, min_size=len(keys), max_size=len(keys)),
    )
    users = []
    for i, (weight, cap, arrival, counts) in enumerate(draw(st.lists(user, max_size=8))):
        users.append(
            UserState(
                name=f"user{i}",
                weight=weight,
                cap=cap,
                running={key: r for key, (r, _) in zip(keys, counts, strict=True) if r >= 0},
                queued={key: q for key, (_, q) in zip(keys, counts, strict=True) if q >= 0},
                arrival=float(arrival),
            )
        )
    return pools, users, draw(st.integers(0, 6))


def granted(decision: Decision, pool: str, user: str) -> int:
    return decision.grants.get((pool, user), 0)


def total_running(users: Sequence[UserState], pool: str) -> int:
    return sum(u.running.get(pool, 0) for u in users)


def order(user: UserState) -> tuple[float, str]:
    return (user.arrival, user.name)


def level(user: UserState, count: int) -> Fraction:
    """Weighted level, reading the weight as the decimal it was written as."""
    return Fraction(count) / Fraction(repr(user.weight))


def rank(user: UserState, count: int) -> tuple[Fraction, float, str]:
    """Who gets a pool's next slot first: lowest level, then earliest arrival, then name."""
    return (level(user, count), user.arrival, user.name)


def started(users: Sequence[UserState], decision: Decision) -> list[UserState]:
    """The snapshot once the granted tasks have moved from queued to running."""
    after = []
    for user in users:
        mine = {key: n for (key, name), n in decision.grants.items() if name == user.name}
        running = {**user.running, **{k: user.running.get(k, 0) + n for k, n in mine.items()}}
        queued = {**user.queued, **{k: user.queued[k] - n for k, n in mine.items()}}
        after.append(replace(user, running=running, queued=queued))
    return after


PROPERTY = settings(max_examples=200, deadline=None)


# --- admission -----------------------------------------------------------------------------------


@PROPERTY
@given(scenarios())
def test_admission_keeps_holders_and_admits_in_arrival_order(scenario: Scenario) -> None:
    pools, users, limit = scenario
    decision = allocate(pools, users, limit)
    holders = {u.name for u in users if u.holding > 0}
    with_queue = {u.name for u in users if u.has_queued}
    assert holders <= decision.admitted
    assert decision.admitted <= holders | with_queue
    assert decision.admitted.isdisjoint(decision.waiting)
    expected_waiting = sorted((u for u in users if u.has_queued and u.name not in decision.admitted), key=order)
    assert decision.waiting == tuple(u.name for u in expected_waiting)
    if limit == 0:
        assert decision.waiting == ()
    else:
        assert len(decision.admitted) <= max(limit, len(holders))
    if decision.waiting:
        # Nobody waits while a place is free, and newcomers were admitted first come, first served.
        assert len(decision.admitted) >= limit
        first_waiting = min((u for u in users if u.name in decision.waiting), key=order)
        newcomers = [u for u in users if u.name in decision.admitted and u.name not in holders]
        assert all(order(u) < order(first_waiting) for u in newcomers)


@PROPERTY
@given(scenarios())
def test_only_admitted_users_get_grants(scenario: Scenario) -> None:
    decision = allocate(*scenario)
    assert {user for _, user in decision.grants} <= decision.admitted
    assert all(n > 0 for n in decision.grants.values())


def test_lowered_limit_admits_nobody_new() -> None:
    pools = [PoolState("local", 10)]
    users = [
        UserState("a", running={"local": 1}, queued={"local": 5}),
        UserState("b", running={"local": 1}, queued={"local": 5}),
        UserState("c", queued={"local": 5}),
    ]
    decision = allocate(pools, users, max_concurrent_users=1)
    assert decision.admitted == {"a", "b"}
    assert decision.waiting == ("c",)
    assert granted(decision, "local", "c") == 0


def test_waiting_users_are_listed_in_arrival_order() -> None:
    pools = [PoolState("local", 2)]
    users = [
        UserState("late", queued={"local": 1}, arrival=3.0),
        UserState("first", queued={"local": 1}, arrival=1.0),
        UserState("b-tie", queued={"local": 1}, arrival=2.0),
        UserState("a-tie", queued={"local": 1}, arrival=2.0),
    ]
    decision = allocate(pools, users, max_concurrent_users=1)
    assert decision.admitted == {"first"}
    assert decision.waiting == ("a-tie", "b-tie", "late")


# --- capacity, demand, caps, work conservation ---------------------------------------------------


@PROPERTY
@given(scenarios())
def test_grants_respect_capacity_demand_and_caps(scenario: Scenario) -> None:
    pools, users, limit = scenario
    decision = allocate(pools, users, limit)
    for pool in pools:
        grants = sum(granted(decision, pool.key, u.name) for u in users)
        assert grants <= max(0, pool.capacity - total_running(users, pool.key))
    for user in users:
        for pool in pools:
            assert granted(decision, pool.key, user.name) <= user.queued.get(pool.key, 0)
        if user.cap is not None:
            grants = sum(granted(decision, pool.key, user.name) for pool in pools)
            assert grants == 0 or user.holding + grants <= user.cap


@PROPERTY
@given(scenarios())
def test_allocation_is_work_conserving(scenario: Scenario) -> None:
    pools, users, limit = scenario
    decision = allocate(pools, users, limit)
    for pool in pools:
        used = total_running(users, pool.key) + sum(granted(decision, pool.key, u.name) for u in users)
        if used >= pool.capacity:
            continue
        for user in users:
            if user.name not in decision.admitted:
                continue
            all_granted = granted(decision, pool.key, user.name) >= user.queued.get(pool.key, 0)
            held = user.holding + sum(granted(decision, p.key, user.name) for p in pools)
            at_cap = user.cap is not None and held >= user.cap
            assert all_granted or at_cap, (pool.key, user.name)


def test_over_full_pool_grants_nothing() -> None:
    pools = [PoolState("local", 2)]
    users = [
        UserState("a", running={"local": 4}, queued={"local": 9}),
        UserState("b", queued={"local": 3}),
    ]
    assert allocate(pools, users, 0).grants == {}


def test_cap_spans_pools_in_key_order() -> None:
    pools = [PoolState("local", 5), PoolState("assemblyai", 5)]
    users = [UserState("a", cap=3, queued={"local": 5, "assemblyai": 5})]
    decision = allocate(pools, users, 0)
    assert decision.grants == {("assemblyai", "a"): 3}


def test_unknown_pool_counts_toward_cap_and_gets_nothing() -> None:
    pools = [PoolState("local", 5)]
    users = [UserState("a", cap=3, running={"gone": 2}, queued={"local": 5, "gone": 4})]
    decision = allocate(pools, users, 0)
    assert decision.grants == {("local", "a"): 1}
    assert decision.shares[("gone", "a")] == 0.0


# --- weighted max-min fairness -------------------------------------------------------------------


@PROPERTY
@given(
    capacity=st.integers(0, 30),
    n_users=st.integers(1, 8),
    limit=st.integers(0, 8),
    arrivals=st.lists(st.integers(0, 3), min_size=8, max_size=8),
)
def test_equal_weights_from_zero_differ_by_at_most_one(
    capacity: int, n_users: int, limit: int, arrivals: list[int]
) -> None:
    pools = [PoolState("local", capacity)]
    users = [UserState(f"u{i}", queued={"local": 50}, arrival=float(arrivals[i])) for i in range(n_users)]
    decision = allocate(pools, users, limit)
    allocations = [granted(decision, "local", name) for name in decision.admitted]
    assert sum(allocations) == capacity
    assert max(allocations) - min(allocations) <= 1


@PROPERTY
@given(scenarios(max_pools=1, caps=False))
def test_no_slot_could_move_to_a_lower_weighted_level(scenario: Scenario) -> None:
    """Whoever got a slot was, at that moment, at the lowest (running + granted) / weight."""
    pools, users, limit = scenario
    decision = allocate(pools, users, limit)
    for pool in pools:
        members = [u for u in users if u.name in decision.admitted]
        for i in members:
            g_i = granted(decision, pool.key, i.name)
            if g_i == 0:
                continue
            before_last = rank(i, i.running.get(pool.key, 0) + g_i - 1)
            for j in members:
                g_j = granted(decision, pool.key, j.name)
                if g_j < j.queued.get(pool.key, 0):
                    assert before_last <= rank(j, j.running.get(pool.key, 0) + g_j)


def test_weights_split_a_pool_proportionally() -> None:
    pools = [PoolState("local", 9)]
    users = [
        UserState("heavy", weight=2.0, queued={"local": 50}),
        UserState("light", queued={"local": 50}),
    ]
    decision = allocate(pools, users, 0)
    assert decision.grants == {("local", "heavy"): 6, ("local", "light"): 3}
    assert decision.shares == {("local", "heavy"): 6.0, ("local", "light"): 3.0}


def test_level_ties_go_to_earlier_arrival_then_name() -> None:
    pools = [PoolState("local", 3)]
    users = [
        UserState("b", queued={"local": 9}, arrival=5.0),
        UserState("c", queued={"local": 9}, arrival=2.0),
        UserState("a", queued={"local": 9}, arrival=5.0),
        UserState("z", queued={"local": 9}, arrival=7.0),
    ]
    decision = allocate(pools, users, 0)
    assert decision.grants == {("local", "c"): 1, ("local", "a"): 1, ("local", "b"): 1}


def test_newcomer_gets_the_next_free_slot() -> None:
    pools = [PoolState("local", 4)]
    hog = UserState("hog", running={"local": 4}, queued={"local": 100}, arrival=0.0)
    newcomer = UserState("new", queued={"local": 10}, arrival=1.0)
    full = allocate(pools, [hog, newcomer], 4)
    assert full.grants == {}
    assert full.shares == {("local", "hog"): 2.0, ("local", "new"): 2.0}
    assert full.over_share == {("local", "hog")}
    hog_handed_back = UserState("hog", running={"local": 3}, queued={"local": 100}, arrival=0.0)
    freed = allocate(pools, [hog_handed_back, newcomer], 4)
    assert freed.grants == {("local", "new"): 1}


# --- shares and hand-backs ----------------------------------------------------------------------


@PROPERTY
@given(scenarios())
def test_shares_cover_admitted_demand_and_stay_within_limits(scenario: Scenario) -> None:
    pools, users, limit = scenario
    decision = allocate(pools, users, limit)
    expected = {
        (pool.key, u.name)
        for pool in pools
        for u in users
        if u.name in decision.admitted and u.running.get(pool.key, 0) + u.queued.get(pool.key, 0) > 0
    }
    assert set(decision.shares) == expected
    for pool in pools:
        in_pool = [share for (key, _), share in decision.shares.items() if key == pool.key]
        assert sum(in_pool) <= pool.capacity + 1e-9
    for (key, name), share in decision.shares.items():
        user = next(u for u in users if u.name == name)
        assert 0 <= share <= user.running.get(key, 0) + user.queued.get(key, 0)
        if user.cap is not None:
            assert share <= user.cap


@PROPERTY
@given(scenarios(max_pools=1))
def test_shares_are_weighted_water_filling(scenario: Scenario) -> None:
    pools, users, limit = scenario
    decision = allocate(pools, users, limit)
    for pool in pools:
        limits: dict[str, float] = {}
        for key, name in decision.shares:
            user = next(u for u in users if u.name == name)
            demand = user.running.get(key, 0) + user.queued.get(key, 0)
            limits[name] = demand if user.cap is None else min(demand, user.cap)
        shares = {name: s for (key, name), s in decision.shares.items() if key == pool.key}
        weights = {u.name: u.weight for u in users}
        if sum(limits.values()) >= pool.capacity:
            assert math.isclose(sum(shares.values()), pool.capacity, abs_tol=1e-9)
        else:
            assert shares == pytest.approx(limits)
        # A user held below their limit has the highest level: nobody else could give them more.
        for name, share in shares.items():
            if share < limits[name] - 1e-9:
                level = share / weights[name]
                assert all(s / weights[other] <= level + 1e-9 for other, s in shares.items())


@PROPERTY
@given(scenarios())
def test_over_share_rule(scenario: Scenario) -> None:
    """Flagged: above the share, someone short, and the hand-back would go to a short user."""
    pools, users, limit = scenario
    decision = allocate(pools, users, limit)
    after = {u.name: u for u in started(users, decision)}
    for pool in pools:
        names = [name for key, name in decision.shares if key == pool.key]
        held = {name: after[name].running.get(pool.key, 0) for name in names}
        share = {name: decision.shares[(pool.key, name)] for name in names}
        short = [name for name in names if held[name] < math.floor(share[name])]
        flagged = {name for key, name in decision.over_share if key == pool.key}
        if not short:
            assert flagged == set()
            continue
        neediest = min(rank(after[name], held[name]) for name in short)
        for name in names:
            qualifies = held[name] > share[name] and rank(after[name], held[name] - 1) > neediest
            assert (name in flagged) == qualifies, name
    assert {key for key, _ in decision.over_share} <= {pool.key for pool in pools}


@PROPERTY
@given(scenarios())
def test_a_handed_back_slot_never_returns_to_its_holder(scenario: Scenario) -> None:
    pools, users, limit = scenario
    decision = allocate(pools, users, limit)
    for pool_key, name in sorted(decision.over_share):
        after = [
            replace(u, running={**u.running, pool_key: u.running[pool_key] - 1}) if u.name == name else u
            for u in started(users, decision)
        ]
        assert granted(allocate(pools, after, limit), pool_key, name) == 0


@settings(max_examples=100, deadline=None)
@given(scenarios())
def test_handing_back_settles(scenario: Scenario) -> None:
    """Start what is granted, hand back one flagged worker, repeat: this ends, and soon."""
    pools, users, limit = scenario
    for _ in range(1000):
        decision = allocate(pools, users, limit)
        users = started(users, decision)
        if not decision.over_share:
            return
        pool_key, name = min(decision.over_share)
        users = [
            replace(u, running={**u.running, pool_key: u.running[pool_key] - 1}) if u.name == name else u for u in users
        ]
    pytest.fail("hand-backs did not settle")


def test_no_hand_back_that_would_come_straight_back() -> None:
    """Shares 1/3, 5/3 and 5; from nothing the greedy grants 1, 2 and 4.  Asking a light user to
    hand a worker back would only see it granted to them again: their level would then be the
    lowest."""
    pools = [PoolState("local", 7)]
    fresh = [
        UserState("a", weight=0.1, queued={"local": 5}),
        UserState("b", weight=0.5, queued={"local": 5}),
        UserState("c", weight=1.5, queued={"local": 5}),
    ]
    first = allocate(pools, fresh, 0)
    assert first.grants == {("local", "a"): 1, ("local", "b"): 2, ("local", "c"): 4}
    running = started(fresh, first)
    settled = allocate(pools, running, 0)
    assert settled.shares[("local", "c")] == 5.0
    assert settled.grants == {}
    assert settled.over_share == frozenset()


def test_weights_are_read_as_decimals() -> None:
    """In binary, 7 * 1.5 / (0.1 + 0.5 + 1.5) is a hair below 5 and c would not count as short."""
    pools = [PoolState("local", 7)]
    users = [
        UserState("a", weight=0.1, queued={"local": 1}),
        UserState("b", weight=0.5, running={"local": 3}, queued={"local": 5}),
        UserState("c", weight=1.5, running={"local": 4}, queued={"local": 5}),
    ]
    decision = allocate(pools, users, 0)
    assert decision.shares[("local", "c")] == 5.0
    assert decision.over_share == {("local", "b")}


def test_fractional_shares_do_not_ping_pong() -> None:
    pools = [PoolState("local", 5)]
    users = [
        UserState("a", running={"local": 3}, queued={"local": 10}),
        UserState("b", running={"local": 2}, queued={"local": 10}),
    ]
    decision = allocate(pools, users, 0)
    assert decision.shares == {("local", "a"): 2.5, ("local", "b"): 2.5}
    assert decision.over_share == frozenset()


def test_tenth_weights_floor_exactly() -> None:
    """0.1 + 0.1 + 0.1 is not 0.3 in floats; a share of exactly 1 must not floor to 0."""
    pools = [PoolState("local", 3)]
    users = [
        UserState("a", weight=0.1, running={"local": 2}, queued={"local": 5}),
        UserState("b", weight=0.1, running={"local": 1}, queued={"local": 5}),
        UserState("c", weight=0.1, queued={"local": 5}),
    ]
    decision = allocate(pools, users, 0)
    assert decision.shares[("local", "c")] == 1.0
    assert decision.over_share == {("local", "a")}


# --- determinism and input checks ----------------------------------------------------------------


@PROPERTY
@given(scenarios(), st.randoms(use_true_random=False))
def test_decision_ignores_input_order(scenario: Scenario, rnd: random.Random) -> None:
    pools, users, limit = scenario
    first = allocate(pools, users, limit)
    assert allocate(pools, users, limit) == first
    rnd.shuffle(pools)
    rnd.shuffle(users)
    assert allocate(pools, users, limit) == first


def test_empty_input_gives_empty_decision() -> None:
    assert allocate([], [], 0) == Decision()
    assert allocate([], [], 4) == Decision()


@pytest.mark.parametrize(
    ("pools", "users", "limit", "field"),
    [
        ([], [], -1, "max_concurrent_users"),
        ([PoolState("local", -1)], [], 0, "capacity"),
        ([PoolState("local", 1), PoolState("local", 2)], [], 0, "pool keys"),
        ([], [UserState("a"), UserState("a")], 0, "user names"),
        ([], [UserState("a", weight=0.0)], 0, "weight"),
        ([], [UserState("a", weight=math.inf)], 0, "weight"),
        ([], [UserState("a", cap=-1)], 0, "cap"),
        ([], [UserState("a", arrival=math.nan)], 0, "arrival"),
        ([], [UserState("a", running={"local": -1})], 0, "running"),
        ([], [UserState("a", queued={"local": -1})], 0, "queued"),
    ],
)
def test_malformed_snapshots_are_rejected(
    pools: list[PoolState], users: list[UserState], limit: int, field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        allocate(pools, users, limit)


def test_the_odd_slot_goes_to_the_user_served_least() -> None:
    pool = [PoolState("local", 5)]
    earlier_but_served = UserState("ann", queued={"local": 50}, arrival=1.0, served=40)
    later_and_behind = UserState("bob", queued={"local": 50}, arrival=2.0, served=10)
    decision = allocate(pool, [earlier_but_served, later_and_behind], 0)
    assert decision.grants == {("local", "bob"): 3, ("local", "ann"): 2}
    level = replace(later_and_behind, served=40)
    assert allocate(pool, [earlier_but_served, level], 0).grants == {("local", "ann"): 3, ("local", "bob"): 2}
