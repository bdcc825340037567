"""The dispatch pass: read demand, ask the fair-share policy, lease tasks, hand them to workers.

One pass runs inside one write transaction holding the global dispatch lock, so that nodes sharing a
PostgreSQL store never grant the same free slot twice and a pool's capacity is the account's, not the
node's. The pass also publishes which users hold more than their share, so that their workers hand a
slot back at the next file boundary when a newcomer waits.
"""

from __future__ import annotations

import logging
import math
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from fairscribe.daemon.accounts import Account, Accounts
from fairscribe.daemon.batching import BatchSizer
from fairscribe.daemon.db import Database
from fairscribe.daemon.engines.registry import EngineRegistry
from fairscribe.daemon.fairshare import Decision, PoolState, UserState, allocate
from fairscribe.daemon.models import utcnow
from fairscribe.daemon.settings import Settings
from fairscribe.daemon.store import ClaimedTask, Demand, Store

log = logging.getLogger(__name__)

# A claim is sized to take about half a second (see BatchSizer); one still running after this long
# was sized on an estimate its files did not keep.
CLAIM_OVERRUN_SECONDS = 1.0


@dataclass(frozen=True)
class Claim:
    """Tasks one worker slot runs one after another."""

    id: str
    user_id: int
    user: str
    pool: str
    tasks: tuple[ClaimedTask, ...]


@dataclass
class Snapshot:
    """The latest pass, for meters and the watchdog."""

    demand: list[Demand] = field(default_factory=list)
    decision: Decision | None = None
    capacities: dict[str, int] = field(default_factory=dict)
    accounts: dict[int, Account] = field(default_factory=dict)


class Dispatcher:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        store: Store,
        accounts: Accounts,
        registry: EngineRegistry,
        sizer: BatchSizer,
        start_claim: Callable[[Claim], None],
    ) -> None:
        self.settings = settings
        self.db = db
        self.store = store
        self.accounts = accounts
        self.registry = registry
        self.sizer = sizer
        self.start_claim = start_claim
        # Threads for claims: the fixed pools' capacities. Users' own-key pools add theirs in each
        # pass (see run_pass), or a key owner would get only what the fixed pools leave over.
        self.local_threads = sum(registry.pool_capacities().values())
        self.snapshot = Snapshot()
        self._lock = threading.Lock()
        self._active: dict[str, Claim] = {}
        self._give_back: dict[tuple[str, int], int] = {}
        # Files claimed per user while they have work: breaks ties so the odd slot rotates.
        self._served: dict[int, int] = {}

    # Claims this node runs -------------------------------------------------------------------

    def active_claims(self) -> list[str]:
        with self._lock:
            return list(self._active)

    def claim_finished(self, claim: Claim) -> None:
        with self._lock:
            self._active.pop(claim.id, None)

    def should_end_claim(self, claim: Claim, elapsed: float) -> bool:
        """Whether a worker should hand back the rest of its claim at this file boundary: once for
        each slot the policy asked this user to give to a waiting user, or when the claim has run
        past its expected length while a worker of the pool is idle (the files turned out slower
        than the estimate that sized the claim, and they should be spread over the free workers)."""
        with self._lock:
            key = (claim.pool, claim.user_id)
            if self._give_back.get(key, 0) > 0:
                self._give_back[key] -= 1
                return True
            if elapsed < CLAIM_OVERRUN_SECONDS:
                return False
            snapshot = self.snapshot
        running = sum(d.running for d in snapshot.demand if d.pool == claim.pool)
        return running < snapshot.capacities.get(claim.pool, 0)

    # The pass -------------------------------------------------------------------------------

    def capacities(self, accounts: dict[int, Account]) -> dict[str, int]:
        capacities = dict(self.registry.pool_capacities())
        for account in accounts.values():
            if account.has_own_key:
                credentials = self.accounts.credentials(account.id).values
                pool = self.registry.get("assemblyai").pool_for(credentials)
                capacities[pool.key] = pool.capacity
        return capacities

    def run_pass(self) -> int:
        """One dispatch pass; returns how many claims it started."""
        accounts = self.accounts.all()
        capacities = self.capacities(accounts)
        now = utcnow()
        started: list[Claim] = []
        with self.db.write() as conn:
            self.db.lock(conn, "fairscribe-dispatch")
            demand = self.store.demand(conn, now, node=self.settings.node_id, node_local=self.registry.node_local_pools)
            with self._lock:
                served = {user_id: self._served.get(user_id, 0) for user_id in {d.user_id for d in demand}}
            users = _user_states(demand, accounts, served)
            pools = [
                PoolState(key, capacities.get(key, 1)) for key in sorted({d.pool for d in demand} | set(capacities))
            ]
            decision = allocate(pools, users, self.settings.max_concurrent_users)
            with self._lock:
                free_threads = max(self.local_threads, sum(capacities.values())) - len(self._active)
            lease_until = self.store.leases_until(self.settings.lease_seconds)
            for (pool, user_name), slots in sorted(decision.grants.items()):
                account = next(a for a in accounts.values() if a.name == user_name)
                for _ in range(min(slots, free_threads)):
                    claim_id = uuid.uuid4().hex
                    tasks = self.store.claim(
                        conn,
                        user_id=account.id,
                        pool=pool,
                        limit=self.sizer.claim_size(user_name, pool),
                        claim_id=claim_id,
                        owner=self.settings.node_id,
                        lease_until=lease_until,
                        now=now,
                    )
                    if not tasks:
                        break
                    started.append(Claim(claim_id, account.id, user_name, pool, tuple(tasks)))
                    free_threads -= 1
        with self._lock:
            self._served = served
            for claim in started:
                self._active[claim.id] = claim
                self._served[claim.user_id] = self._served.get(claim.user_id, 0) + len(claim.tasks)
            self._give_back = _give_back_quota(decision, demand, accounts)
            self.snapshot = Snapshot(_after_claims(demand, started), decision, capacities, accounts)
        for claim in started:
            self.start_claim(claim)
        return len(started)


def _after_claims(demand: list[Demand], started: list[Claim]) -> list[Demand]:
    """Demand as it stands once this pass's claims run: what the meters should show."""
    slots: dict[tuple[int, str], int] = {}
    tasks: dict[tuple[int, str], int] = {}
    for claim in started:
        key = (claim.user_id, claim.pool)
        slots[key] = slots.get(key, 0) + 1
        tasks[key] = tasks.get(key, 0) + len(claim.tasks)
    return [
        Demand(
            d.user_id,
            d.pool,
            d.queued - tasks.get((d.user_id, d.pool), 0),
            d.running + slots.get((d.user_id, d.pool), 0),
            d.arrival,
        )
        for d in demand
    ]


def _user_states(demand: list[Demand], accounts: dict[int, Account], served: dict[int, int]) -> list[UserState]:
    by_user: dict[int, list[Demand]] = {}
    for entry in demand:
        by_user.setdefault(entry.user_id, []).append(entry)
    states = []
    for user_id, entries in by_user.items():
        account = accounts[user_id]
        states.append(
            UserState(
                name=account.name,
                weight=account.weight,
                cap=account.max_workers,
                running={e.pool: e.running for e in entries},
                queued={e.pool: e.queued for e in entries},
                arrival=min(e.arrival for e in entries),
                served=served.get(user_id, 0),
            )
        )
    return states


def _give_back_quota(
    decision: Decision, demand: list[Demand], accounts: dict[int, Account]
) -> dict[tuple[str, int], int]:
    """One slot per over-share user and pass: each hand-back wakes a new pass, which asks again if
    the newcomer is still short, so the shares settle without handing back more than needed."""
    ids = {account.name: account.id for account in accounts.values()}
    running = {(d.pool, d.user_id): d.running for d in demand}
    quota: dict[tuple[str, int], int] = {}
    for pool, user_name in decision.over_share:
        user_id = ids[user_name]
        if running.get((pool, user_id), 0) > math.ceil(decision.shares.get((pool, user_name), 0.0)):
            quota[(pool, user_id)] = 1
    return quota
