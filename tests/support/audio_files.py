"""Folders of small, distinct WAV files for engine tests and benchmarks.

Each file is seeded noise, so every file has its own content (and so its own transcript on the fake
AssemblyAI service), and FFmpeg reads it as the audio it is."""

from __future__ import annotations

import random
import wave
from pathlib import Path

from .media import write_wav


def noise_wavs(folder: Path, count: int, seconds: float = 0.5, seed: int | str = 0) -> list[Path]:
    """`count` 16 kHz mono WAVs of `seconds` each, named 0000.wav, 0001.wav, … in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    samples = max(1, int(seconds * 16000))
    return [
        write_wav(folder / f"{i:04d}.wav", random.Random(f"{seed}:{i}").randbytes(samples * 2)) for i in range(count)
    ]


def long_silent_wav(path: Path, seconds: float) -> Path:
    """A WAV of `seconds` of silence at 100 Hz, 8-bit: hours of audio in a few megabytes."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(100)
        out.writeframes(b"\x80" * int(seconds * 100))
    return path
