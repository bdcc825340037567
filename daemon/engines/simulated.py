"""The simulated engine: a configurable time per file and a marked placeholder transcript.

For load tests and benchmarks of the scheduler alone; never chosen by default. A file may carry
directives after its audio header (`sim:seconds=2`, `sim:raise`, `sim:hang`, `sim:transient`) so
that tests can make one file slow, failing or stuck without touching the others.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path

from fairscribe.daemon import audio
from fairscribe.daemon.engines.base import EngineRequest, PoolSpec, Transcript, Word
from fairscribe.shared.errors import EngineRejected, TransientError

PLACEHOLDER = "[simulated transcript]"
_SECONDS = re.compile(rb"sim:seconds=([0-9.]+)")
_HEAD_BYTES = 4096


class SimulatedEngine:
    name = "simulated"

    def __init__(self, seconds_per_file: float, capacity: int) -> None:
        self.seconds_per_file = seconds_per_file
        self.pool = PoolSpec("local", capacity)

    def pool_for(self, credentials: Mapping[str, str]) -> PoolSpec:
        return self.pool

    def inspect(self, path: Path) -> float | None:
        audio.sniff(path)
        return None

    def preflight(self, credentials: Mapping[str, str]) -> None:
        del credentials

    def transcribe(self, request: EngineRequest) -> Transcript:
        with open(request.path, "rb") as handle:
            head = handle.read(_HEAD_BYTES)
        if b"sim:raise" in head:
            raise EngineRejected(f"{request.path.name}: the simulated engine was told to fail this file")
        if b"sim:transient" in head:
            raise TransientError(f"{request.path.name}: simulated transient failure", retry_after=0.1)
        if b"sim:hang" in head:
            # Deliberately deaf to should_stop: the daemon's timeout must cope with an engine that never returns.
            time.sleep(3600)
        match = _SECONDS.search(head)
        seconds = float(match.group(1)) if match else self.seconds_per_file
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            if request.should_stop():
                raise TransientError("stopped before the file was finished")
            time.sleep(min(remaining, 0.5))
        text = f"{PLACEHOLDER} {request.path.name}"
        return Transcript(
            text=text,
            words=(Word(PLACEHOLDER, 0, max(int(seconds * 1000), 1)),),
            audio_seconds=None,
            engine=self.name,
        )
