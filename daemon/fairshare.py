"""Fair-share policy: who gets the next free worker slots.

This is the rule behind fairscribe's second promise: workers are never idle while an admitted user
has queued work, several users with work each get a weighted equal share of every pool, and a
newcomer gets a worker as soon as one frees up.  It is a pure function of a snapshot (pools, users,
their running and queued counts) so that it can be property-tested on its own and so that every
node of a scale-out deployment, given the same snapshot from the shared store, reaches the same
answer.  Applying the decision (claiming tasks, asking workers to hand slots back) is the
scheduler's job, not this module's.

Fairness is computed per pool because capacity belongs to a pool (an AssemblyAI account's
concurrency limit, a user's own key, the local CPU cores); a user's cap, in contrast, spans all
pools, so pools are visited in key order to make the cross-pool effect of caps deterministic.

Weights are read as the decimal numbers people type (0.1 is exactly one tenth) and all arithmetic
on them is exact (:class:`fractions.Fraction`), so that ties are real ties and a share of exactly 5
is never floored to 4 because binary 0.1 is a little more than a tenth.
"""

import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

Slot = tuple[str, str]
"""A ``(pool key, user name)`` pair."""


@dataclass(frozen=True)
class PoolState:
    """A pool of worker capacity that fairness is computed over."""

    key: str
    capacity: int


@dataclass(frozen=True)
class UserState:
    """One user's standing at the moment of the decision.

    ``arrival`` is an opaque ordering key chosen by the caller (smaller = arrived earlier); ties are
    broken by name so that the order is total and the decision deterministic.  ``served`` is how
    much work the user has already been given (any unit, the same for everyone): when a pool's
    slots cannot be split evenly, the odd slot goes to the user served least for their weight, so it
    rotates instead of staying with the earliest arrival for a whole batch.  Pool keys in
    ``running`` or ``queued`` that are not among the pools given to :func:`allocate` are treated
    as pools of capacity 0: workers held there still count toward the cap, and nothing is granted
    there.
    """

    name: str
    weight: float = 1.0
    cap: int | None = None
    running: Mapping[str, int] = field(default_factory=dict)
    queued: Mapping[str, int] = field(default_factory=dict)
    arrival: float = 0.0
    served: float = 0.0

    @property
    def holding(self) -> int:
        """Workers this user holds now, across all pools."""
        return sum(self.running.values())

    @property
    def has_queued(self) -> bool:
        """Whether any of this user's tasks wait for a worker in any pool."""
        return any(n > 0 for n in self.queued.values())


@dataclass(frozen=True)
class Decision:
    """What the scheduler should do now; the default value is the empty decision.

    ``grants`` holds only positive counts.  ``shares`` has an entry for every admitted user with
    running or queued work in a pool.  ``over_share`` names the (pool, user) pairs that should hand
    a slot back at their next task boundary so that a user short of their share gets it (only
    pairs whose handed-back slot would not be granted straight back to them; see ``_over_share``).
    """

    grants: Mapping[Slot, int] = field(default_factory=dict)
    shares: Mapping[Slot, float] = field(default_factory=dict)
    admitted: frozenset[str] = frozenset()
    waiting: tuple[str, ...] = ()
    over_share: frozenset[Slot] = frozenset()


def allocate(pools: Sequence[PoolState], users: Sequence[UserState], max_concurrent_users: int) -> Decision:
    """Decide which admitted users get the free slots of every pool, and their fair shares.

    Raises :class:`ValueError` naming the field when the snapshot is malformed (negative counts,
    non-positive weight, duplicate names or keys), because a silently wrong snapshot would give a
    silently unfair answer.
    """
    _validate(pools, users, max_concurrent_users)
    capacities = _capacities(pools, users)
    admitted, waiting = _admit(users, max_concurrent_users)
    members = [u for u in users if u.name in admitted]
    grants = _grant(capacities, members)
    shares = _shares(capacities, members, grants)
    over_share = _over_share(capacities, members, grants, shares)
    return Decision(
        grants=grants,
        shares={slot: float(share) for slot, share in shares.items()},
        admitted=frozenset(admitted),
        waiting=tuple(waiting),
        over_share=frozenset(over_share),
    )


def _validate(pools: Sequence[PoolState], users: Sequence[UserState], max_concurrent_users: int) -> None:
    """Reject snapshots that no store could have produced."""
    if max_concurrent_users < 0:
        raise ValueError(f"max_concurrent_users must be >= 0, got {max_concurrent_users}")
    keys = [p.key for p in pools]
    if len(set(keys)) != len(keys):
        raise ValueError(f"pool keys must be unique, got {sorted(keys)}")
    for pool in pools:
        if pool.capacity < 0:
            raise ValueError(f"capacity of pool {pool.key!r} must be >= 0, got {pool.capacity}")
    names = [u.name for u in users]
    if len(set(names)) != len(names):
        raise ValueError(f"user names must be unique, got {sorted(names)}")
    for user in users:
        _validate_user(user)


def _validate_user(user: UserState) -> None:
    if not (math.isfinite(user.weight) and user.weight > 0):
        raise ValueError(f"weight of user {user.name!r} must be finite and > 0, got {user.weight}")
    if user.cap is not None and user.cap < 0:
        raise ValueError(f"cap of user {user.name!r} must be >= 0 or None, got {user.cap}")
    if math.isnan(user.arrival):
        raise ValueError(f"arrival of user {user.name!r} must not be NaN")
    if not (math.isfinite(user.served) and user.served >= 0):
        raise ValueError(f"served of user {user.name!r} must be finite and >= 0, got {user.served}")
    for label, counts in (("running", user.running), ("queued", user.queued)):
        for key, n in counts.items():
            if n < 0:
                raise ValueError(f"{label}[{key!r}] of user {user.name!r} must be >= 0, got {n}")


def _capacities(pools: Sequence[PoolState], users: Sequence[UserState]) -> dict[str, int]:
    """Capacity per pool key, in key order; keys only users mention get capacity 0."""
    capacities = {p.key: p.capacity for p in pools}
    for user in users:
        for key in (*user.running, *user.queued):
            capacities.setdefault(key, 0)
    return {key: capacities[key] for key in sorted(capacities)}


def _arrival_order(user: UserState) -> tuple[float, str]:
    """Sort key for first come, first served, total thanks to unique names."""
    return (user.arrival, user.name)


def _admit(users: Sequence[UserState], limit: int) -> tuple[set[str], list[str]]:
    """Admitted users, and those with queued work left waiting, in arrival order.

    Holders are never preempted: taking a running worker away would waste paid or finished work.
    """
    admitted = {u.name for u in users if u.holding > 0}
    waiting: list[str] = []
    candidates = sorted((u for u in users if u.holding == 0 and u.has_queued), key=_arrival_order)
    for user in candidates:
        if limit == 0 or len(admitted) < limit:
            admitted.add(user.name)
        else:
            waiting.append(user.name)
    return admitted, waiting


def _weight(user: UserState) -> Fraction:
    """The user's weight as the exact decimal it was written as (``repr`` round-trips floats)."""
    return Fraction(repr(user.weight))


def _priority(user: UserState, count: int) -> tuple[Fraction, float, float, str]:
    """Order in which users holding ``count`` workers in a pool get its next slot (lowest first).

    The weighted level count / weight comes first; ties go to the user served least for their
    weight, then the earlier arrival, then the name.
    """
    return (Fraction(count) / _weight(user), user.served / user.weight, user.arrival, user.name)


def _cap_room(user: UserState, held: int) -> int | None:
    """How many more workers the user may hold given ``held`` already; None when uncapped."""
    return None if user.cap is None else max(0, user.cap - held)


def _grant(capacities: Mapping[str, int], members: Sequence[UserState]) -> dict[Slot, int]:
    """Hand out free slots one at a time to the user furthest below their weighted level.

    Each slot goes to the eligible user with the smallest (running + granted) / weight, ties by
    arrival then name; this is weighted max-min fairness built incrementally from what already
    runs, so it never needs to preempt anyone.
    """
    grants: dict[Slot, int] = {}
    held = {u.name: u.holding for u in members}
    for key, capacity in capacities.items():
        free = capacity - sum(u.running.get(key, 0) for u in members)
        by_name = {u.name: u for u in members if u.queued.get(key, 0) > 0 and _cap_room(u, held[u.name]) != 0}
        heap = [_priority(u, u.running.get(key, 0)) for u in by_name.values()]
        heapq.heapify(heap)
        while free > 0 and heap:
            user = by_name[heapq.heappop(heap)[-1]]
            granted = grants.get((key, user.name), 0) + 1
            grants[(key, user.name)] = granted
            held[user.name] += 1
            free -= 1
            if granted < user.queued[key] and _cap_room(user, held[user.name]) != 0:
                heapq.heappush(heap, _priority(user, user.running.get(key, 0) + granted))
    return grants


def _held(user: UserState, key: str, grants: Mapping[Slot, int]) -> int:
    """Workers the user holds in a pool once this decision's grants have started."""
    return user.running.get(key, 0) + grants.get((key, user.name), 0)


def _shares(
    capacities: Mapping[str, int], members: Sequence[UserState], grants: Mapping[Slot, int]
) -> dict[Slot, Fraction]:
    """Each admitted user's weighted max-min fair share of every pool they have work in.

    A user's claim on a pool is their demand there (running + queued), further limited by what
    their cap leaves after the workers they hold in other pools: a share the user could never fill
    would only make others hand back slots for nothing.
    """
    shares: dict[Slot, Fraction] = {}
    for key, capacity in capacities.items():
        claims: list[tuple[str, Fraction, Fraction]] = []
        for user in members:
            demand = user.running.get(key, 0) + user.queued.get(key, 0)
            if demand == 0:
                continue
            elsewhere = sum(_held(user, other, grants) for other in capacities if other != key)
            room = _cap_room(user, elsewhere)
            limit = demand if room is None else min(demand, room)
            claims.append((user.name, _weight(user), Fraction(limit)))
        for name, share in _water_fill(Fraction(capacity), claims).items():
            shares[(key, name)] = share
    return shares


def _water_fill(capacity: Fraction, claims: Iterable[tuple[str, Fraction, Fraction]]) -> dict[str, Fraction]:
    """Weighted max-min division of ``capacity`` among ``(name, weight, limit)`` claims.

    The water level rises evenly per unit of weight; a claim that reaches its limit keeps exactly
    its limit and the rest is shared among the others, so the shares sum to the capacity unless
    every claim is satisfied first.
    """
    shares: dict[str, Fraction] = {}
    remaining = capacity
    pending = list(claims)
    while pending:
        level = remaining / sum(weight for _, weight, _ in pending)
        filled = [c for c in pending if c[2] <= level * c[1]]
        if not filled:
            shares.update((name, level * weight) for name, weight, _ in pending)
            break
        for name, _, limit in filled:
            shares[name] = limit
            remaining -= limit
        pending = [c for c in pending if c[2] > level * c[1]]
    return shares


def _over_share(
    capacities: Mapping[str, int],
    members: Sequence[UserState],
    grants: Mapping[Slot, int],
    shares: Mapping[Slot, Fraction],
) -> set[Slot]:
    """Slots held above the fair share in pools where someone is short of theirs.

    A user is short when they hold fewer workers than their share rounded down; rounding down
    keeps a fractional share (2.5 each of 5 slots) from bouncing a worker between two users.  A
    short user still has ungranted queued work and room under their cap (their share is bounded by
    both), so they can take a slot.  But the slot handed back is granted by :func:`_grant`'s rule,
    so a user is only asked to hand one back when that rule would give it to a short user rather
    than straight back to them: a light user holding one worker above a tiny share would otherwise
    be told to hand it back and then be granted it again, forever.
    """
    over: set[Slot] = set()
    for key in capacities:
        in_pool = [u for u in members if (key, u.name) in shares]
        held = {u.name: _held(u, key, grants) for u in in_pool}
        short = [u for u in in_pool if held[u.name] < math.floor(shares[(key, u.name)])]
        if not short:
            continue
        neediest = min(_priority(u, held[u.name]) for u in short)
        over.update(
            (key, u.name)
            for u in in_pool
            if held[u.name] > shares[(key, u.name)] and _priority(u, held[u.name] - 1) > neediest
        )
    return over
