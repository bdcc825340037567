"""Output writers: format parsing, file names, rendering, cue limits and atomic writing."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairscribe.daemon import outputs
from fairscribe.daemon.engines.base import Transcript, Word
from fairscribe.daemon.outputs import (
    FORMATS,
    MAX_CUE_MS,
    MAX_LINE_CHARS,
    MAX_LINES,
    build_cues,
    output_paths,
    parse_formats,
    write_outputs,
)


def _words(*spec: tuple[str, int, int]) -> tuple[Word, ...]:
    return tuple(Word(text, start, end, confidence=0.9) for text, start, end in spec)


SAMPLE = Transcript(
    text="Hello world. This is fairscribe.",
    words=_words(
        ("Hello", 0, 400),
        ("world.", 450, 900),
        ("This", 2600, 2800),
        ("is", 2850, 2950),
        ("fairscribe.", 3000, 3700),
    ),
    audio_seconds=4.0,
    language="en",
    engine="local",
)


# --- parse_formats / output_paths ----------------------------------------------------------------


def test_parse_formats_accepts_spaces_case_and_repeats() -> None:
    assert parse_formats(" TXT, srt ,txt,.json") == ("txt", "srt", "json")
    assert parse_formats(",".join(FORMATS)) == FORMATS


@pytest.mark.parametrize("text", ["txt,docx", "pdf"])
def test_parse_formats_names_the_bad_format(text: str) -> None:
    with pytest.raises(ValueError, match=r"docx|pdf"):
        parse_formats(text)


def test_parse_formats_rejects_empty() -> None:
    with pytest.raises(ValueError, match="no output format"):
        parse_formats(" , ")


def test_output_paths_append_extension(tmp_path: Path) -> None:
    paths = output_paths(tmp_path / "sub" / "talk.v2", ("txt", "srt"))
    assert paths == {
        "txt": tmp_path / "sub" / "talk.v2.txt",
        "srt": tmp_path / "sub" / "talk.v2.srt",
    }
    with pytest.raises(ValueError, match="doc"):
        output_paths(tmp_path / "x", ("doc",))


# --- rendering ------------------------------------------------------------------------------------


def test_write_all_formats(tmp_path: Path) -> None:
    base = tmp_path / "a" / "b" / "clip"
    written = write_outputs(SAMPLE, base, FORMATS)
    assert written == [base.with_name(f"clip.{f}") for f in FORMATS]
    assert (tmp_path / "a/b/clip.txt").read_text() == "Hello world. This is fairscribe.\n"
    srt = (tmp_path / "a/b/clip.srt").read_text()
    # The long pause after "world." (and the sentence end) splits the cues.
    assert srt == (
        "1\n00:00:00,000 --> 00:00:00,900\nHello world.\n\n2\n00:00:02,600 --> 00:00:03,700\nThis is fairscribe.\n"
    )
    vtt = (tmp_path / "a/b/clip.vtt").read_text()
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:00.900\nHello world.\n")
    doc = json.loads((tmp_path / "a/b/clip.json").read_text())
    assert doc["text"] == SAMPLE.text
    assert doc["words"][1] == {
        "text": "world.",
        "start": 450,
        "end": 900,
        "confidence": 0.9,
        "speaker": None,
    }
    assert doc["audio_seconds"] == 4.0 and doc["language"] == "en" and doc["engine"] == "local"


def test_vtt_escapes_markup() -> None:
    t = Transcript(
        text="a <b> & c",
        words=_words(("a", 0, 100), ("<b>", 100, 200), ("&", 200, 300), ("c", 300, 400)),
    )
    assert "a &lt;b&gt; &amp; c" in outputs.render_vtt(t)


def test_speaker_change_starts_a_cue_and_is_labelled() -> None:
    words = (Word("yes", 0, 300, speaker="A"), Word("no", 400, 600, speaker="B"))
    cues = build_cues(Transcript(text="yes no", words=words))
    assert [c.lines for c in cues] == [("A: yes",), ("B: no",)]


def test_no_words_gives_cues_spread_over_the_audio() -> None:
    cues = build_cues(Transcript(text="short text", audio_seconds=3.0))
    assert [(c.start_ms, c.end_ms, c.lines) for c in cues] == [(0, 3000, ("short text",))]
    long = Transcript(text=" ".join(["word"] * 200), audio_seconds=600.0)
    cues = build_cues(long)
    assert len(cues) > 1
    assert all(c.end_ms - c.start_ms <= MAX_CUE_MS for c in cues)
    assert " ".join(" ".join(c.lines) for c in cues) == long.text


def test_empty_transcript_writes_empty_but_valid_files(tmp_path: Path) -> None:
    write_outputs(Transcript(text="", audio_seconds=5.0, engine="local"), tmp_path / "silence", FORMATS)
    assert (tmp_path / "silence.txt").read_text() == ""
    assert (tmp_path / "silence.srt").read_text() == ""
    assert (tmp_path / "silence.vtt").read_text() == "WEBVTT\n"
    assert json.loads((tmp_path / "silence.json").read_text())["words"] == []


def test_timestamps_past_an_hour() -> None:
    t = Transcript(text="late", words=_words(("late", 3_723_004, 3_724_000)))
    assert "01:02:03,004 --> 01:02:04,000" in outputs.render_srt(t)


# --- cue limits (property) -----------------------------------------------------------------------

_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz.,?!'", min_size=1, max_size=16)


@st.composite
def _timed_words(draw: st.DrawFn) -> tuple[Word, ...]:
    texts = draw(st.lists(_token, max_size=120))
    speakers = draw(st.lists(st.sampled_from([None, "A", "Speaker B"]), min_size=len(texts), max_size=len(texts)))
    words = []
    t = draw(st.integers(0, 10_000))
    for text, speaker in zip(texts, speakers, strict=True):
        t += draw(st.integers(0, 3000))  # gap before the word
        length = draw(st.integers(0, 8000))  # includes words longer than a whole cue
        words.append(Word(text, t, t + length, speaker=speaker))
        t += length
    return tuple(words)


@settings(max_examples=300, deadline=None)
@given(_timed_words())
def test_cues_respect_length_limits_and_keep_every_word(words: tuple[Word, ...]) -> None:
    t = Transcript(text=" ".join(w.text for w in words), words=words)
    cues = build_cues(t)
    for cue in cues:
        assert 0 <= cue.end_ms - cue.start_ms <= MAX_CUE_MS
        assert 1 <= len(cue.lines) <= MAX_LINES
        for line in cue.lines:
            # Only a single word longer than a line may overflow it.
            assert len(line) <= MAX_LINE_CHARS or " " not in line.split(": ", 1)[-1]
    for before, after in itertools.pairwise(cues):
        assert before.end_ms <= after.start_ms
    # Words are lower case, so the labels' tokens cannot be mistaken for words.
    shown = [s for c in cues for line in c.lines for s in line.split() if s not in ("A:", "Speaker", "B:")]
    assert shown == [w.text for w in words]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="abc xyz", max_size=400), st.one_of(st.none(), st.floats(0.1, 36_000)))
def test_cues_without_times_respect_limits(text: str, seconds: float | None) -> None:
    cues = build_cues(Transcript(text=text, audio_seconds=seconds))
    assert " ".join(" ".join(c.lines) for c in cues).split() == text.split()
    for cue in cues:
        assert 0 <= cue.end_ms - cue.start_ms <= MAX_CUE_MS
        assert len(cue.lines) <= MAX_LINES


# --- atomic writing ------------------------------------------------------------------------------


def test_failed_write_leaves_no_partial_or_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "clip.txt").write_text("old transcript\n")
    real_write = os.write

    def failing_write(fd: int, data: bytes | memoryview) -> int:
        real_write(fd, bytes(data)[:3])  # part of the data reaches the temporary file, then the disk fills
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(outputs.os, "write", failing_write)
    with pytest.raises(OSError, match="No space left"):
        write_outputs(SAMPLE, tmp_path / "clip", ("txt",))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.txt"]
    assert (tmp_path / "clip.txt").read_text() == "old transcript\n"


def test_failed_rename_leaves_no_temp_file(tmp_path: Path) -> None:
    (tmp_path / "clip.srt").mkdir()  # a folder in the way: os.replace fails
    with pytest.raises(OSError, match=r"clip\.srt"):
        write_outputs(SAMPLE, tmp_path / "clip", ("txt", "srt", "json"))
    # The txt before the failure is complete; nothing temporary remains; json was never started.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.srt", "clip.txt"]
    assert (tmp_path / "clip.txt").read_text() == SAMPLE.text + "\n"


def test_unwritable_folder_raises_oserror_naming_it(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError, match="file"):
        write_outputs(SAMPLE, blocker / "clip", ("txt",))


def test_rewrite_replaces_atomically_and_respects_umask(tmp_path: Path) -> None:
    write_outputs(SAMPLE, tmp_path / "clip", ("txt",))
    write_outputs(Transcript(text="second"), tmp_path / "clip", ("txt",))
    assert (tmp_path / "clip.txt").read_text() == "second\n"
    old = os.umask(0o022)
    os.umask(old)
    assert (tmp_path / "clip.txt").stat().st_mode & 0o777 == 0o666 & ~old
