"""The local engine (PocketSphinx): accuracy on the LibriVox samples, every common container,
progress and stop, bad files, and the worker processes' failure paths."""

from __future__ import annotations

import multiprocessing
import os
import random
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from fairscribe.daemon.engines import local
from fairscribe.daemon.engines.base import EngineRequest, PoolSpec, Transcript
from fairscribe.daemon.engines.local import LocalEngine, Recogniser
from fairscribe.shared.errors import EngineUnavailable, FileRejected, TransientError
from tests.support.media import encode, pcm_of, write_wav
from tests.support.wer import corpus_wer, read_references, wer

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "librivox"
REFERENCES = read_references(SAMPLES.parent / "references.tsv")
MAX_WER = 0.40
CONTAINERS = ("mp3", "opus", "flac", "m4a", "mp4", "webm")


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    engine = LocalEngine(capacity=2)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def reading() -> bytes:
    """The five clips one after another with a second of silence between: 31 s of 16 kHz PCM."""
    return bytes(32000).join(pcm_of(SAMPLES / name) for name in REFERENCES)


def _request(path: Path, **hooks: object) -> EngineRequest:
    return EngineRequest(path=path, user="alice", job_id=1, task_id=1, **hooks)  # type: ignore[arg-type]


def _check_words(transcript: Transcript, seconds: float) -> None:
    assert transcript.engine == "local" and transcript.language == "en"
    assert transcript.text == " ".join(w.text for w in transcript.words)
    previous_end = 0
    for word in transcript.words:
        assert word.text.isascii() and word.text[0] not in "<[+" and "(" not in word.text
        assert previous_end <= word.start_ms <= word.end_ms <= seconds * 1000 + 50
        assert word.confidence is not None and 0.0 <= word.confidence <= 1.0
        previous_end = word.end_ms


# --- accuracy ------------------------------------------------------------------------------------


def test_samples_word_error_rate(engine: LocalEngine) -> None:
    names = list(REFERENCES)
    with ThreadPoolExecutor(2) as pool:
        transcripts = list(pool.map(lambda n: engine.transcribe(_request(SAMPLES / n)), names))
    pairs = []
    for name, transcript in zip(names, transcripts, strict=True):
        reference = REFERENCES[name]
        print(f"{name}: WER {wer(reference, transcript.text):.0%}")
        print(f"  ref: {reference}\n  hyp: {transcript.text}")
        _check_words(transcript, transcript.audio_seconds or 0)
        pairs.append((reference, transcript.text))
    total = corpus_wer(pairs)
    print(f"corpus WER over {len(pairs)} LibriVox clips: {total:.1%}")
    assert total < MAX_WER


@pytest.fixture(scope="module")
def reading_run(
    engine: LocalEngine, reading: bytes, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Transcript, list[float]]:
    path = write_wav(tmp_path_factory.mktemp("reading") / "reading.wav", reading)
    progress: list[float] = []
    return engine.transcribe(_request(path, report_progress=progress.append)), progress


def test_reading_words_have_times_in_the_right_places(
    reading_run: tuple[Transcript, list[float]], reading: bytes
) -> None:
    transcript, _ = reading_run
    seconds = len(reading) / 32000
    _check_words(transcript, seconds)
    assert corpus_wer([(" ".join(REFERENCES.values()), transcript.text)]) < MAX_WER
    # The reading starts with speech and ends with it: times are measured from the file's start.
    assert transcript.words[0].start_ms < 600
    assert transcript.words[-1].end_ms > (seconds - 1.5) * 1000


def test_progress_rises_to_one(reading_run: tuple[Transcript, list[float]]) -> None:
    _, progress = reading_run
    assert len(progress) >= 3  # 31 s in 10 s chunks
    assert progress == sorted(progress) and 0 < progress[0] < 1 and progress[-1] == 1.0


def test_containers_give_the_same_words(
    engine: LocalEngine, reading: bytes, reading_run: tuple[Transcript, list[float]], tmp_path: Path
) -> None:
    wav_text = reading_run[0].text
    # mp4 carries a video track too: only the audio is decoded.
    paths = [encode(reading, tmp_path / f"reading.{ext}", video=ext == "mp4") for ext in CONTAINERS]
    with ThreadPoolExecutor(2) as pool:  # both workers: the suite stays quick on two cores
        transcripts = list(pool.map(lambda p: engine.transcribe(_request(p)), paths))
    differences = {}
    for path, transcript in zip(paths, transcripts, strict=True):
        differences[path.suffix] = wer(wav_text, transcript.text)
        print(f"{path.suffix}: {differences[path.suffix]:.1%} of words differ from the wav's")
        _check_words(transcript, len(reading) / 32000 + 0.2)
    # flac is lossless and already 16 kHz: the very same samples, so the very same words.
    assert differences[".flac"] == 0
    assert all(d <= 0.10 for d in differences.values()), differences


def test_same_file_same_words_whatever_came_before(engine: LocalEngine) -> None:
    # A worker decodes many files in turn; no state may leak from one file to the next.
    names = list(REFERENCES)[:3]
    forward = [engine.transcribe(_request(SAMPLES / n)).text for n in names]
    backward = [engine.transcribe(_request(SAMPLES / n)).text for n in reversed(names)]
    assert forward == backward[::-1]


# --- engine interface -----------------------------------------------------------------------------


def test_pool_and_inspect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = LocalEngine(3)
    assert engine.name == "local"
    assert engine.pool_for({}) == PoolSpec("local", 3)
    clip = SAMPLES / next(iter(REFERENCES))
    assert engine.inspect(clip) == pytest.approx(7.1, abs=0.01)
    monkeypatch.setattr(local, "MAX_SECONDS", 5.0)
    with pytest.raises(FileRejected, match=r"too long: 7\.1 s of audio, the limit is 5\.0 s"):
        engine.inspect(clip)
    with pytest.raises(ValueError, match="capacity"):
        LocalEngine(0)


def test_preflight_checks_the_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    engine = LocalEngine(1)
    engine.preflight({})
    monkeypatch.setattr(local, "get_model_path", lambda name=None: str(tmp_path / (name or "")))
    with pytest.raises(EngineUnavailable, match=r"speech model is incomplete: en-us/en-us, .*reinstall"):
        engine.preflight({})


def test_other_languages_fail_the_job(engine: LocalEngine) -> None:
    clip = SAMPLES / next(iter(REFERENCES))
    with pytest.raises(EngineUnavailable, match=r"'fr'.*only English"):
        engine.transcribe(EngineRequest(path=clip, user="a", job_id=1, task_id=1, language="fr"))
    assert engine.transcribe(EngineRequest(path=clip, user="a", job_id=1, task_id=1, language="en-GB")).words


def test_stop_hands_the_task_back_and_the_engine_goes_on(engine: LocalEngine, reading: bytes, tmp_path: Path) -> None:
    path = write_wav(tmp_path / "reading.wav", reading * 4)
    progressed = threading.Event()
    with pytest.raises(TransientError, match=r"reading\.wav: stopped"):
        engine.transcribe(_request(path, report_progress=lambda f: progressed.set(), should_stop=progressed.is_set))
    assert engine.transcribe(_request(SAMPLES / next(iter(REFERENCES)))).words


def test_a_killed_worker_is_a_transient_failure(engine: LocalEngine, reading: bytes, tmp_path: Path) -> None:
    path = write_wav(tmp_path / "reading.wav", reading * 4)
    me = psutil.Process()

    def kill_workers_on_first_progress(fraction: float) -> None:
        for child in me.children():
            if "spawn_main" in " ".join(child.cmdline()):  # not multiprocessing's resource tracker
                child.kill()

    with pytest.raises(TransientError, match=r"reading.wav: the local engine's worker process ended"):
        engine.transcribe(_request(path, report_progress=kill_workers_on_first_progress))
    assert engine.transcribe(_request(SAMPLES / next(iter(REFERENCES)))).words


# --- bad files ----------------------------------------------------------------------------------


def _bad_files(folder: Path, reading: bytes) -> dict[str, tuple[Path, str]]:
    """name -> (file, what its reason must say)"""
    (folder / "empty.wav").write_bytes(b"")
    (folder / "noise.mp3").write_bytes(random.Random(7).randbytes(50_000))
    (folder / "notes.txt").write_text("Minutes of the meeting\n" * 40)
    mp3 = encode(reading * 3, folder / "whole.mp3").read_bytes()
    (folder / "truncated.mp3").write_bytes(mp3[: len(mp3) // 2])
    write_wav(folder / "silence.wav", bytes(32000 * 20))
    encode(bytes(32000 * 3), folder / "screen.mp4", video=True, audio=False)
    return {
        "empty": (folder / "empty.wav", "empty"),
        "random bytes": (folder / "noise.mp3", "not an audio or video file"),
        "text": (folder / "notes.txt", "not an audio or video file (it looks like a text file)"),
        "truncated mp3": (folder / "truncated.mp3", "truncated"),
        "silence": (folder / "silence.wav", "no speech found"),
        "video without audio": (folder / "screen.mp4", "no audio track"),
    }


def test_bad_files_fail_alone_with_a_reason_naming_them(engine: LocalEngine, reading: bytes, tmp_path: Path) -> None:
    for label, (path, reason) in _bad_files(tmp_path, reading).items():
        with pytest.raises(FileRejected) as caught:
            engine.transcribe(_request(path))
        message = str(caught.value)
        print(f"{label}: {message}")
        assert str(path) in message and reason in message, label
        if label != "silence":  # silence is only found by listening; the rest fail at submit
            with pytest.raises(FileRejected):
                engine.inspect(path)
    # ... and the engine goes on with good files.
    assert engine.transcribe(_request(SAMPLES / next(iter(REFERENCES)))).words


def test_damage_in_the_middle_is_reported(engine: LocalEngine, reading: bytes, tmp_path: Path) -> None:
    data = bytearray(encode(reading, tmp_path / "ok.webm").read_bytes())
    third = len(data) // 3
    data[third : 2 * third] = random.Random(3).randbytes(third)
    (tmp_path / "damaged.webm").write_bytes(bytes(data))
    with pytest.raises(FileRejected, match=r"damaged\.webm: damaged: only .* can be decoded"):
        engine.transcribe(_request(tmp_path / "damaged.webm"))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(engine: LocalEngine, tmp_path: Path) -> None:
    path = tmp_path / "private.wav"
    path.write_bytes((SAMPLES / next(iter(REFERENCES))).read_bytes())
    path.chmod(0)
    with pytest.raises(FileRejected, match=r"private\.wav: cannot read the file: permission denied"):
        engine.transcribe(_request(path))


# --- the recogniser itself ------------------------------------------------------------------------


def test_filler_tokens_are_cleaned() -> None:
    assert [
        local._word_text(t) for t in ["<s>", "</s>", "<sil>", "[NOISE]", "[SPEECH]", "++UH++", "read(2)", "don't"]
    ] == [None, None, None, None, None, None, "read", "don't"]


def test_long_speech_is_cut_into_bounded_utterances(
    reading: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without pauses the endpointer would hand over one endless utterance (noise, music, a fast
    # talker): past the limits it is cut, so the decoder's memory stays bounded.
    monkeypatch.setattr(local, "SOFT_UTTERANCE_SECONDS", 2.0)
    monkeypatch.setattr(local, "HARD_UTTERANCE_SECONDS", 4.0)
    recogniser = Recogniser()
    lengths: list[int] = []
    real: Callable[[bytearray, float], list[local.Word]] = recogniser._recognise

    def spy(utterance: bytearray, start: float) -> list[local.Word]:
        lengths.append(len(utterance))
        return real(utterance, start)

    monkeypatch.setattr(recogniser, "_recognise", spy)
    path = write_wav(tmp_path / "reading.wav", reading)
    words: list[local.Word] = []
    stats = recogniser.run(path, len(reading) / 32000, words.extend, lambda f: None)
    assert max(lengths) <= 4.0 * 32000 + 2000  # one 30 ms frame of slack
    assert len(lengths) >= 8
    assert stats.decoded_seconds == pytest.approx(len(reading) / 32000)
    assert [w.start_ms for w in words] == sorted(w.start_ms for w in words)
    assert corpus_wer([(" ".join(REFERENCES.values()), " ".join(w.text for w in words))]) < 0.6


def test_a_model_that_cannot_load_fails_the_job(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every file would fail the same way, so the worker answers EngineUnavailable (fails the job).
    def broken() -> Recogniser:
        raise RuntimeError("acoustic model not found")

    monkeypatch.setattr(local, "Recogniser", broken)
    monkeypatch.setattr(local.signal, "signal", lambda *args: None)  # only the main thread may
    ours, theirs = multiprocessing.Pipe()
    worker = threading.Thread(target=local._serve, args=(theirs,))
    worker.start()
    ours.send(("/any/file.wav", 1.0))
    kind, failure = ours.recv()
    ours.close()
    worker.join(5)
    assert kind == "failed" and isinstance(failure, EngineUnavailable)
    assert "cannot load its speech model" in str(failure) and "acoustic model not found" in str(failure)
