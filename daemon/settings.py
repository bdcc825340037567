"""The daemon's settings, read once from the environment; every error names its variable."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from fairscribe.shared import config
from fairscribe.shared.errors import ConfigError

N = TypeVar("N", int, float)

ENGINES = ("assemblyai", "local", "simulated")
ACCOUNT_DEFAULT_WORKERS = {"free": 5, "paid": 20}


def available_cores() -> int:
    """CPU cores this process may use: its affinity, bounded by a container's CPU quota (cgroup v2),
    so that a daemon in a 2-CPU container does not start one worker per host core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, int(int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(cores, 1)


def _number(name: str, default: N, minimum: N, parse: Callable[[str], N], kind: str) -> N:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not {kind}") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum}")
    return value


def _int(name: str, default: int, minimum: int = 0) -> int:
    return _number(name, default, minimum, int, "a whole number")


def _float(name: str, default: float, minimum: float = 0.0) -> float:
    return _number(name, default, minimum, float, "a number")


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    socket: Path
    listen: tuple[str, int] | None
    engine: str
    engine_reason: str
    simulated_seconds: float
    workers: int
    assemblyai_api_key: str | None
    assemblyai_base_url: str | None
    assemblyai_max_workers: int
    assemblyai_speech_models: tuple[str, ...]
    max_concurrent_users: int
    # First poll interval of a waiting AssemblyAI transcript; it grows 1.5x per poll up to 15 s (or
    # up to this, if larger). Tests and benchmarks against a fast fake service set it low.
    assemblyai_poll_seconds: float = 1.0
    # The account's request limit per 5 minutes (AssemblyAI's documented 20,000, unless the account
    # was granted more); the engine paces itself to half of it.
    assemblyai_rate_limit: int = 20_000
    lease_seconds: float = 30.0
    task_timeout_seconds: float = 3600.0
    stall_seconds: float = 30.0
    max_attempts: int = 3
    node_id: str = ""

    @classmethod
    def from_env(cls) -> Settings:
        home = config.home_dir()
        key = os.environ.get("ASSEMBLYAI_API_KEY") or None
        engine = os.environ.get("FAIRSCRIBE_ENGINE", "").strip().lower()
        if engine:
            if engine not in ENGINES:
                raise ConfigError(f"FAIRSCRIBE_ENGINE={engine!r} is not one of {', '.join(ENGINES)}")
            reason = "FAIRSCRIBE_ENGINE is set"
        elif key:
            engine, reason = "assemblyai", "ASSEMBLYAI_API_KEY is set"
        else:
            engine, reason = "local", "no ASSEMBLYAI_API_KEY is set"
        account = os.environ.get("ASSEMBLYAI_ACCOUNT_TYPE", "free").strip().lower()
        if account not in ACCOUNT_DEFAULT_WORKERS:
            raise ConfigError(f"ASSEMBLYAI_ACCOUNT_TYPE={account!r} is not 'free' or 'paid'")
        return cls(
            home=home,
            database_url=os.environ.get("FAIRSCRIBE_DATABASE_URL") or f"sqlite:///{home / 'fairscribe.db'}",
            socket=config.socket_path(),
            listen=config.listen_address(),
            engine=engine,
            engine_reason=reason,
            simulated_seconds=_float("FAIRSCRIBE_SIMULATED_SECONDS", 0.05),
            workers=_int("FAIRSCRIBE_WORKERS", available_cores(), minimum=1),
            assemblyai_api_key=key,
            assemblyai_base_url=os.environ.get("ASSEMBLYAI_BASE_URL") or None,
            assemblyai_max_workers=_int("ASSEMBLYAI_MAX_WORKERS", ACCOUNT_DEFAULT_WORKERS[account], minimum=1),
            assemblyai_speech_models=tuple(
                m.strip() for m in os.environ.get("ASSEMBLYAI_SPEECH_MODELS", "universal").split(",") if m.strip()
            )
            or ("universal",),
            max_concurrent_users=_int("MAX_CONCURRENT_USERS", 4),
            assemblyai_poll_seconds=_float("ASSEMBLYAI_POLL_SECONDS", 1.0, minimum=0.01),
            assemblyai_rate_limit=_int("ASSEMBLYAI_RATE_LIMIT", 20_000, minimum=1),
            lease_seconds=_float("FAIRSCRIBE_LEASE_SECONDS", 30.0, minimum=1.0),
            task_timeout_seconds=_float("FAIRSCRIBE_TASK_TIMEOUT", 3600.0, minimum=0.1),
            stall_seconds=_float("FAIRSCRIBE_STALL_SECONDS", 30.0, minimum=0.5),
            node_id=os.environ.get("FAIRSCRIBE_NODE_ID") or f"{os.uname().nodename}:{os.getpid()}",
        )

    def __repr__(self) -> str:
        # The key must never reach a log line, even through a repr of the settings.
        masked = "set" if self.assemblyai_api_key else "unset"
        return f"Settings(home={self.home}, engine={self.engine}, workers={self.workers}, key={masked})"
