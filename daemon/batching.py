"""Per-user adaptive batch sizer and ETA.

Claiming one task per round trip to the store is wasteful when files take milliseconds (the
simulated engine, tiny clips) and claiming many is unfair when files take minutes (a worker would
sit on a batch another user's newcomer should get).  So a claim takes as many tasks as fit in
``target_claim_seconds`` of estimated work, and one when files are slow.

Estimates are kept per ``(user, engine)``: one user's hour-long recordings must never make another
user's short clips look slow, nor the local engine's speed stand in for AssemblyAI's.  Each
estimate is an exponentially weighted moving average, so it follows a user whose files change
character without being thrown by one odd file.

The sizer holds state but does no I/O and reads no clock: the caller measures wall time and
reports it.  It is not thread-safe; the caller serialises calls (the dispatch loop owns it).
"""

import math
from dataclasses import dataclass

Key = tuple[str, str]
"""A ``(user, engine)`` pair."""


@dataclass(frozen=True)
class Estimate:
    """The moving estimate for one user and engine; both rates are None until observed."""

    seconds_per_file: float | None
    seconds_per_audio_minute: float | None
    samples: int


_NO_ESTIMATE = Estimate(seconds_per_file=None, seconds_per_audio_minute=None, samples=0)


def _check_non_negative(name: str, value: float) -> None:
    """Reject negative, NaN and infinite measurements, which would poison a moving average."""
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")


class BatchSizer:
    """Moving per-(user, engine) speed estimates that size claims and predict completion."""

    def __init__(self, target_claim_seconds: float = 0.5, max_batch: int = 64, smoothing: float = 0.2) -> None:
        """Configure the sizer.

        ``smoothing`` is the weight of each new observation in the moving average (0 < s <= 1;
        1 keeps only the latest).  ``max_batch`` bounds a claim even when files are instant, so a
        single claim never hoards a user's whole queue.
        """
        if not (math.isfinite(target_claim_seconds) and target_claim_seconds > 0):
            raise ValueError(f"target_claim_seconds must be finite and > 0, got {target_claim_seconds}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if not 0 < smoothing <= 1:
            raise ValueError(f"smoothing must be in (0, 1], got {smoothing}")
        self._target = target_claim_seconds
        self._max_batch = max_batch
        self._smoothing = smoothing
        self._estimates: dict[Key, Estimate] = {}

    def _blend(self, old: float | None, new: float) -> float:
        """Exponentially weighted moving average; the first observation sets the estimate."""
        return new if old is None else (1 - self._smoothing) * old + self._smoothing * new

    def observe(self, user: str, engine: str, seconds: float, audio_seconds: float | None = None) -> None:
        """Record that one of ``user``'s files took ``seconds`` of worker wall time on ``engine``.

        ``audio_seconds`` is the file's duration when known; a zero duration updates only the
        per-file rate, since it says nothing about speed per audio minute.
        """
        _check_non_negative("seconds", seconds)
        if audio_seconds is not None:
            _check_non_negative("audio_seconds", audio_seconds)
        old = self._estimates.get((user, engine), _NO_ESTIMATE)
        per_minute = old.seconds_per_audio_minute
        if audio_seconds:
            per_minute = self._blend(per_minute, seconds * 60 / audio_seconds)
        self._estimates[(user, engine)] = Estimate(
            seconds_per_file=self._blend(old.seconds_per_file, seconds),
            seconds_per_audio_minute=per_minute,
            samples=old.samples + 1,
        )

    def estimate(self, user: str, engine: str) -> Estimate:
        """The current estimate for ``user`` on ``engine`` (empty until the first observation)."""
        return self._estimates.get((user, engine), _NO_ESTIMATE)

    def claim_size(self, user: str, engine: str) -> int:
        """How many tasks one claim should take: enough to fill the target claim time, at least 1.

        Without an estimate the answer is 1, the safe choice: a first slow file then holds up
        nobody else's turn.
        """
        per_file = self.estimate(user, engine).seconds_per_file
        if per_file is None:
            return 1
        if per_file == 0:
            return self._max_batch
        return max(1, math.floor(min(self._target / per_file, self._max_batch)))

    def eta_seconds(
        self,
        user: str,
        engine: str,
        remaining_files: int,
        workers: int,
        remaining_audio_seconds: float | None = None,
    ) -> float | None:
        """Seconds until ``remaining_files`` are done by ``workers`` workers, or None if unknown.

        The per-audio-minute rate is preferred when the remaining duration is known, because file
        counts hide a mix of short and long recordings.  With no worker at the moment the estimate
        is for one worker: the user is waiting for a slot, not stuck forever.
        """
        if remaining_files < 0:
            raise ValueError(f"remaining_files must be >= 0, got {remaining_files}")
        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        if remaining_audio_seconds is not None:
            _check_non_negative("remaining_audio_seconds", remaining_audio_seconds)
        current = self.estimate(user, engine)
        if current.seconds_per_file is None:
            return None
        if remaining_audio_seconds is not None and current.seconds_per_audio_minute is not None:
            work = remaining_audio_seconds / 60 * current.seconds_per_audio_minute
        else:
            work = remaining_files * current.seconds_per_file
        return work / max(workers, 1)
