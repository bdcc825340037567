"""The `local` engine: offline speech recognition with PocketSphinx 5 and its shipped en-us model.

Works on a fresh machine with no key and no network. Audio of any container FFmpeg reads is decoded
in chunks to 16 kHz mono (`audio.decode_chunks`), split into utterances at pauses by PocketSphinx's
voice-activity endpointer, and each utterance is recognised on its own, so memory stays flat however
long the recording is: the decoder's search grows with the utterance, and utterances are capped.

Recognition runs in worker processes, one per concurrent transcription, because PocketSphinx holds
the GIL while it decodes: in threads, two transcriptions take as long as running them one after the
other (see bench/README.md). Worse, two decoders in two threads of one process crashed PocketSphinx
(a general protection fault) in that benchmark. A process also keeps a crash in FFmpeg or
PocketSphinx on a hostile file out of the daemon, and lets a stop take effect at once (it is ended).
"""

from __future__ import annotations

import logging
import multiprocessing
import re
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from pocketsphinx import Decoder, Endpointer, Vad, get_model_path

from fairscribe.shared.errors import (
    EngineRejected,
    EngineUnavailable,
    FileRejected,
    TaskFailure,
    TransientError,
)

from ..audio import AudioInfo, check_complete, decode_chunks, format_duration, probe
from .base import EngineRequest, PoolSpec, Transcript, Word

log = logging.getLogger(__name__)

MAX_SECONDS = 10 * 3600
SAMPLE_RATE = 16000
_BYTES_PER_SECOND = SAMPLE_RATE * 2
# Progress is reported and stop requests seen at least this often (in audio seconds decoded).
CHUNK_SECONDS = 10.0
# PocketSphinx's search memory grows with the utterance. Past the soft limit an utterance is cut at
# the next pause a strict voice detector finds; at the hard limit it is cut wherever it is (noise or
# music the endpointer takes for endless speech).
SOFT_UTTERANCE_SECONDS = 20.0
HARD_UTTERANCE_SECONDS = 40.0
# The endpointer declares speech a little after a word's soft onset ("and" loses its vowel), so
# this much audio before it goes into the utterance too.
PRE_ROLL_SECONDS = 0.2
# How often the daemon's thread checks for a stop request while its worker process recognises.
_POLL_SECONDS = 0.2
# A worker killed by one of these crashed on the file; by any other signal, it was killed from
# outside (out-of-memory killer, an operator) and the file deserves another try.
_CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGFPE, signal.SIGILL}
# What `Decoder()` loads by default: acoustic model, language model, pronunciation dictionary.
_MODEL_FILES = ("en-us/en-us", "en-us/en-us.lm.bin", "en-us/cmudict-en-us.dict")
_ALTERNATE = re.compile(r"\(\d+\)$")  # "read(2)": the dictionary's second pronunciation of "read"


@dataclass(frozen=True)
class RecognitionStats:
    decoded_seconds: float
    speech_seconds: float
    peak_rss_mb: float | None


class Recogniser:
    """PocketSphinx over a file's decoded audio, in the calling thread (which it holds the GIL of).

    Each utterance is buffered (at most HARD_UTTERANCE_SECONDS, 1.3 MB) and decoded whole: with
    the whole utterance PocketSphinx normalises the audio on the utterance itself, which is more
    accurate than streaming it and makes a file's words independent of the files decoded before.
    Loading the model takes a quarter of a second and about 90 MB, so a recogniser is reused for
    many files. Use one per process: not even two recognisers in two threads are safe (see above).
    """

    def __init__(self) -> None:
        self._decoder = Decoder(loglevel="ERROR")
        self._frame_seconds = 1.0 / int(self._decoder.config["frate"])
        self._strict_vad = Vad(Vad.STRICT, SAMPLE_RATE)

    def run(
        self,
        path: Path,
        duration: float,
        on_words: Callable[[list[Word]], None],
        on_progress: Callable[[float], None],
    ) -> RecognitionStats:
        """Recognise `path`, handing over words chunk by chunk (nothing accumulates here)."""
        endpointer = Endpointer(sample_rate=SAMPLE_RATE)
        frame_bytes, frame_seconds = endpointer.frame_bytes, endpointer.frame_length
        # The last raw frames, for the pre-roll. The endpointer declares speech a window (0.3 s)
        # after it starts, so a second more than the pre-roll is kept.
        recent: deque[bytes] = deque(maxlen=round((PRE_ROLL_SECONDS + 1.0) / frame_seconds))
        frames = 0  # raw frames given to the endpointer so far
        utterance = bytearray()
        start = 0.0  # stream time, in seconds, of the utterance's first byte
        recognised_until = 0.0  # stream time up to which audio went into utterances
        decoded = speech = 0
        pending = b""
        for chunk in decode_chunks(path, SAMPLE_RATE, CHUNK_SECONDS):
            decoded += len(chunk)
            data = pending + chunk
            usable = len(data) - len(data) % frame_bytes
            words: list[Word] = []
            for offset in range(0, usable, frame_bytes):
                frame = data[offset : offset + frame_bytes]
                recent.append(frame)
                frames += 1
                was_in_speech = endpointer.in_speech
                voiced = endpointer.process(frame)
                if voiced is None:
                    continue
                if not was_in_speech:
                    start = endpointer.speech_start
                    lead = _pre_roll(recent, frames, frame_seconds, start, recognised_until)
                    utterance += lead
                    start -= len(lead) / _BYTES_PER_SECOND
                utterance += voiced
                speech += len(voiced)
                if not endpointer.in_speech or self._too_long(utterance, voiced):
                    words += self._recognise(utterance, start)
                    start = recognised_until = start + len(utterance) / _BYTES_PER_SECOND
                    utterance.clear()
            pending = data[usable:]
            on_words(words)
            on_progress(min(1.0, decoded / _BYTES_PER_SECOND / duration) if duration else 0.0)
        if endpointer.in_speech:
            voiced = endpointer.end_stream(pending) or b""
            utterance += voiced
            speech += len(voiced)
        if utterance:
            on_words(self._recognise(utterance, start))
        return RecognitionStats(decoded / _BYTES_PER_SECOND, speech / _BYTES_PER_SECOND, _peak_rss_mb())

    def _too_long(self, utterance: bytearray, last_frame: bytes) -> bool:
        seconds = len(utterance) / _BYTES_PER_SECOND
        if seconds >= HARD_UTTERANCE_SECONDS:
            return True
        return (
            seconds >= SOFT_UTTERANCE_SECONDS
            and len(last_frame) == self._strict_vad.frame_bytes
            and not self._strict_vad.is_speech(last_frame)
        )

    def _recognise(self, utterance: bytearray, start: float) -> list[Word]:
        """The words of one utterance that begins at stream time `start` (seconds)."""
        self._decoder.start_utt()
        try:
            self._decoder.process_raw(bytes(utterance), full_utt=True)
        finally:
            self._decoder.end_utt()  # also when decoding failed: the decoder stays usable
        words = []
        for segment in self._decoder.seg():
            text = _word_text(segment.word)
            if text is None:
                continue
            words.append(
                Word(
                    text=text,
                    start_ms=round((start + segment.start_frame * self._frame_seconds) * 1000),
                    # end_frame is inclusive
                    end_ms=round((start + (segment.end_frame + 1) * self._frame_seconds) * 1000),
                    # A posterior probability; rounding error can put it a hair above 1.
                    confidence=round(min(1.0, max(0.0, segment.prob)), 3),
                )
            )
        return words


def _pre_roll(recent: deque[bytes], frames: int, frame_seconds: float, speech_start: float, floor: float) -> bytes:
    """The raw audio in the PRE_ROLL_SECONDS before `speech_start` (but not before `floor`, the
    end of the previous utterance). `recent` holds the last frames; the newest is number
    `frames` - 1 and starts at that many frames times `frame_seconds`."""
    first = frames - len(recent)
    lead = []
    for index, frame in enumerate(recent, start=first):
        at = index * frame_seconds
        if at >= speech_start - 1e-6:
            break
        if at >= max(floor, speech_start - PRE_ROLL_SECONDS) - 1e-6:
            lead.append(frame)
    return b"".join(lead)


def _word_text(token: str) -> str | None:
    """The word a PocketSphinx token stands for, or None for silence, noise and sentence marks
    (<s>, </s>, <sil>, [NOISE], [SPEECH], ++GARBAGE++ …)."""
    if not token or token[0] in "<[+":
        return None
    return _ALTERNATE.sub("", token)


def _peak_rss_mb() -> float | None:
    if sys.platform == "win32":
        return None
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # kilobytes on Linux, bytes on macOS
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


# --- worker processes -----------------------------------------------------------------------------


def _serve(conn: Connection) -> None:
    """A worker process: recognise one file per request until the daemon closes the pipe."""
    # Ctrl-C in a terminal reaches the whole process group; the daemon decides when work stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        recogniser = Recogniser()
    except Exception as err:  # a missing or broken model: every file would fail the same way
        broken: TaskFailure | None = EngineUnavailable(f"the local engine cannot load its speech model: {err!r}")
    else:
        broken = None
    while True:
        try:
            path, duration = conn.recv()
        except EOFError:
            return
        if broken is not None:
            conn.send(("failed", broken))
            continue
        try:
            stats = recogniser.run(
                Path(path),
                duration,
                lambda words: conn.send(("words", words)),
                lambda fraction: conn.send(("progress", fraction)),
            )
        except TaskFailure as err:
            conn.send(("failed", err))
        except Exception as err:  # anything else fails this file, not the worker
            conn.send(("failed", EngineRejected(f"{path}: the local engine failed: {err!r}")))
        else:
            conn.send(("done", stats))


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection

    def stop(self) -> None:
        self.conn.close()
        self.process.terminate()
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


class LocalEngine:
    """Engine `local`. `capacity` is the size of its pool: the daemon passes FAIRSCRIBE_WORKERS
    (default: CPU cores). At most `capacity` idle worker processes are kept for reuse."""

    name = "local"

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity: the local engine needs at least 1 worker, not {capacity}")
        self._capacity = capacity
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        # Never fork: the daemon has threads, and a forked child can inherit a lock held by one.
        self._context = multiprocessing.get_context("spawn")

    def pool_for(self, credentials: Mapping[str, str]) -> PoolSpec:
        del credentials  # one machine's CPUs, shared by every user
        return PoolSpec("local", self._capacity)

    def preflight(self, credentials: Mapping[str, str]) -> None:
        """At submit: the speech model PocketSphinx ships is in place (a broken install would
        otherwise fail every file of the job, one by one)."""
        del credentials
        missing = [name for name in _MODEL_FILES if not Path(get_model_path(name)).exists()]
        if missing:
            raise EngineUnavailable(
                f"the local engine's speech model is incomplete: {', '.join(missing)} missing under "
                f"{get_model_path()}; reinstall the pocketsphinx package"
            )

    def inspect(self, path: Path) -> float | None:
        """Duration in seconds, for ETA and validation at submit; FileRejected if unusable."""
        return probe(path, max_seconds=MAX_SECONDS).duration_seconds

    def transcribe(self, request: EngineRequest) -> Transcript:
        language = (request.language or "en").lower()
        if not language.startswith("en"):
            raise EngineUnavailable(
                f"language {request.language!r}: the local engine recognises only English (en); "
                "choose the assemblyai engine for other languages"
            )
        info = probe(request.path, max_seconds=MAX_SECONDS)
        worker = self._take()
        try:
            outcome = self._run(worker, request, info)
        except BaseException:
            worker.stop()  # it may be mid-file, dead, or holding a half-read message
            raise
        self._give(worker)  # it finished the file, failed or not, and waits for the next one
        if isinstance(outcome, TaskFailure):
            raise outcome
        words, stats = outcome
        log.debug(
            "local: %s: %.1f s decoded, %.1f s speech, %d words, worker peak RSS %s MB",
            request.path,
            stats.decoded_seconds,
            stats.speech_seconds,
            len(words),
            f"{stats.peak_rss_mb:.0f}" if stats.peak_rss_mb is not None else "?",
        )
        check_complete(request.path, info, stats.decoded_seconds)
        if not words:
            raise FileRejected(
                f"{request.path}: no speech found in its {format_duration(info.duration_seconds)} "
                "of audio (silent, or only noise or music)"
            )
        return Transcript(
            text=" ".join(w.text for w in words),
            words=tuple(words),
            audio_seconds=info.duration_seconds,
            language="en",
            engine=self.name,
        )

    def close(self) -> None:
        """End the idle worker processes (at daemon shutdown)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()

    def _take(self) -> _Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.process.is_alive():
                    return worker
                worker.stop()  # killed while idle (out of memory?): start a fresh one
        ours, theirs = self._context.Pipe()
        process = self._context.Process(target=_serve, args=(theirs,), name="fairscribe-local", daemon=True)
        process.start()
        theirs.close()  # the child holds its end; closing ours lets recv() see the child die
        return _Worker(process, ours)

    def _give(self, worker: _Worker) -> None:
        with self._lock:
            if len(self._idle) < self._capacity:
                self._idle.append(worker)
                return
        worker.stop()

    def _run(
        self, worker: _Worker, request: EngineRequest, info: AudioInfo
    ) -> tuple[list[Word], RecognitionStats] | TaskFailure:
        """Have the worker recognise the file; return its words, or the file's failure."""
        path = request.path
        words: list[Word] = []
        try:
            worker.conn.send((str(path), info.duration_seconds))
            while True:
                if request.should_stop():
                    raise TransientError(f"{path}: stopped before its transcript was finished")
                if not worker.conn.poll(_POLL_SECONDS):
                    continue
                message: tuple[str, Any] = worker.conn.recv()
                kind, payload = message
                if kind == "words":
                    words += payload
                elif kind == "progress":
                    request.report_progress(payload)
                elif kind == "failed":
                    failure: TaskFailure = payload
                    return failure
                else:
                    return words, payload
        except (EOFError, OSError):
            raise self._died(worker, path) from None

    @staticmethod
    def _died(worker: _Worker, path: Path) -> TaskFailure:
        worker.process.join(5)
        code = worker.process.exitcode
        if code is not None and code < 0 and -code in _CRASH_SIGNALS:
            return EngineRejected(f"{path}: the local engine crashed on this file ({signal.Signals(-code).name})")
        return TransientError(f"{path}: the local engine's worker process ended (exit code {code})")
