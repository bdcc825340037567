"""Engines by name. Each is built on first use, so a daemon that never runs the local engine never
loads a speech model, and one without an AssemblyAI key never builds the AssemblyAI client."""

from __future__ import annotations

import threading
from collections.abc import Callable

from fairscribe.daemon.engines.base import Engine
from fairscribe.daemon.settings import ENGINES, Settings
from fairscribe.shared.errors import ConfigError


def _simulated(settings: Settings) -> Engine:
    from fairscribe.daemon.engines.simulated import SimulatedEngine

    return SimulatedEngine(settings.simulated_seconds, settings.workers)


def _local(settings: Settings) -> Engine:
    from fairscribe.daemon.engines.local import LocalEngine

    return LocalEngine(settings.workers)


def _assemblyai(settings: Settings) -> Engine:
    from fairscribe.daemon.engines.assemblyai import AssemblyAIEngine

    return AssemblyAIEngine(
        api_key=settings.assemblyai_api_key,
        base_url=settings.assemblyai_base_url,
        capacity=settings.assemblyai_max_workers,
        speech_models=settings.assemblyai_speech_models,
        poll_initial=settings.assemblyai_poll_seconds,
        poll_max=max(15.0, settings.assemblyai_poll_seconds),
        requests_per_window=settings.assemblyai_rate_limit,
        window_seconds=300.0,
    )


FACTORIES: dict[str, Callable[[Settings], Engine]] = {
    "simulated": _simulated,
    "local": _local,
    "assemblyai": _assemblyai,
}
assert set(FACTORIES) == set(ENGINES)


class EngineRegistry:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._built: dict[str, Engine] = {}
        self._lock = threading.Lock()

    @property
    def default(self) -> str:
        return self._settings.engine

    def get(self, name: str) -> Engine:
        if name not in FACTORIES:
            raise ConfigError(f"engine {name!r} is not one of {', '.join(sorted(FACTORIES))}")
        with self._lock:
            if name not in self._built:
                self._built[name] = FACTORIES[name](self._settings)
            return self._built[name]

    # The local pool is this machine's CPU cores: each node has its own. Every other pool (an
    # AssemblyAI account or key) is one limit shared by all nodes.
    node_local_pools = frozenset({"local"})

    def close(self) -> None:
        """Let engines that hold resources (the local engine's recogniser processes) release them."""
        with self._lock:
            built = list(self._built.values())
        for engine in built:
            close = getattr(engine, "close", None)
            if callable(close):
                close()

    def pool_capacities(self) -> dict[str, int]:
        """The fixed pools' capacities; per-key pools are added by the dispatcher as users appear."""
        return {"local": self._settings.workers, "assemblyai": self._settings.assemblyai_max_workers}
