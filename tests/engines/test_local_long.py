"""Long recordings: the local engine's memory does not grow with the recording's length.

A recording is built from blocks: the five LibriVox clips read one after another (31 s), then
silence to the end of the block. Silence costs almost nothing to recognise (the endpointer drops it
before PocketSphinx sees it), so a long recording stays quick to test. The peak resident memory of
the worker process recognising a short and a long recording is compared; fresh engines (so fresh
worker processes) are used, since a process's peak only ever rises.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from fairscribe.daemon.engines.base import EngineRequest, Transcript
from fairscribe.daemon.engines.local import LocalEngine
from tests.support.media import pcm_of, write_wav
from tests.support.wer import corpus_wer, read_references

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "librivox"
REFERENCES = read_references(SAMPLES.parent / "references.tsv")
# Allowance for allocator noise between two runs; the words themselves are sent to the daemon
# chunk by chunk and do not accumulate in the worker.
MAX_GROWTH_MB = 25.0


def _recording(path: Path, minutes: float, block_seconds: float) -> tuple[Path, list[float]]:
    """A WAV of `minutes`, a reading at the start of every block; returns it and the readings' starts."""
    reading = bytes(32000).join(pcm_of(SAMPLES / name) for name in REFERENCES)
    total = round(minutes * 60 * 32000)
    block = round(block_seconds * 32000)
    starts = [i / 32000 for i in range(0, total - len(reading), block)]

    def blocks() -> Iterator[bytes]:
        written = 0
        for start in starts:
            at = round(start * 32000)
            yield bytes(at - written)  # silence up to the block's reading
            yield reading
            written = at + len(reading)
        yield bytes(total - written)

    return write_wav(path, blocks()), starts


def _transcribe_alone(path: Path, caplog: pytest.LogCaptureFixture) -> tuple[Transcript, float]:
    """Transcribe with a fresh engine; return the transcript and its worker's peak RSS in MB."""
    engine = LocalEngine(1)
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="fairscribe.daemon.engines.local"):
        transcript = engine.transcribe(EngineRequest(path=path, user="u", job_id=1, task_id=1))
    engine.close()
    peaks = [float(m) for m in re.findall(r"worker peak RSS (\d+) MB", caplog.text)]
    assert len(peaks) == 1, caplog.text
    return transcript, peaks[0]


def _check_readings(transcript: Transcript, starts: list[float]) -> None:
    """Every reading is recognised where it is: words begin within a second of each block."""
    for start in starts:
        inside = [w for w in transcript.words if start * 1000 <= w.start_ms < (start + 32) * 1000]
        assert inside and inside[0].start_ms < (start + 1) * 1000, f"no words at {start} s"
        text = " ".join(w.text for w in inside)
        assert corpus_wer([(" ".join(REFERENCES.values()), text)]) < 0.4


@pytest.mark.parametrize(
    ("short_minutes", "long_minutes", "block_seconds"),
    [
        pytest.param(2, 12, 240, id="2-vs-12-minutes"),
        pytest.param(5, 30, 180, id="5-vs-30-minutes", marks=pytest.mark.slow),
    ],
)
def test_memory_does_not_grow_with_length(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    short_minutes: float,
    long_minutes: float,
    block_seconds: float,
) -> None:
    peaks = {}
    for minutes in (short_minutes, long_minutes):
        path, starts = _recording(tmp_path / f"{minutes}min.wav", minutes, block_seconds)
        transcript, peaks[minutes] = _transcribe_alone(path, caplog)
        assert transcript.audio_seconds == pytest.approx(minutes * 60)
        _check_readings(transcript, starts)
        print(f"{minutes} min: {len(transcript.words)} words, worker peak RSS {peaks[minutes]:.0f} MB")
        path.unlink()
    growth = peaks[long_minutes] - peaks[short_minutes]
    print(f"growth from {short_minutes} to {long_minutes} min: {growth:+.0f} MB")
    assert growth < MAX_GROWTH_MB
