"""Output writers shared by every engine: txt, srt, vtt and json, each written atomically.

A transcript file either exists complete or not at all: each is written to a temporary file in the
same folder, flushed and fsynced, renamed over the final name, and the folder is fsynced so the
rename itself survives a crash. A worker marks its task done only after `write_outputs` returns.

Subtitle cues follow common captioning guidance (at most two lines of about 42 characters, a few
seconds on screen): a cue is closed before it would exceed `MAX_CUE_MS` or `MAX_LINES` lines of
`MAX_LINE_CHARS`, at a pause in speech, at a change of speaker, or after a sentence ends.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .engines.base import Transcript, Word

FORMATS: tuple[str, ...] = ("txt", "srt", "vtt", "json")

MAX_CUE_MS = 6000
MAX_LINE_CHARS = 42
MAX_LINES = 2
# A pause this long between two words starts a new cue, so text is not shown over silence.
PAUSE_MS = 1500
# A sentence end closes a cue that has been on screen at least this long (never a tiny cue).
SENTENCE_MIN_MS = 1500
# Reading speed used to give cues a duration when an engine returns text without word times and
# without the audio's duration.
CHARS_PER_SECOND = 15.0


def parse_formats(text: str) -> tuple[str, ...]:
    """Parse a comma-separated list such as "txt,srt" (case and spaces ignored, repeats dropped)."""
    formats: list[str] = []
    for item in text.split(","):
        name = item.strip().lower().lstrip(".")
        if not name:
            continue
        if name not in FORMATS:
            raise ValueError(f"formats: unknown output format {item.strip()!r}; choose from {', '.join(FORMATS)}")
        if name not in formats:
            formats.append(name)
    if not formats:
        raise ValueError(f"formats: no output format given; choose from {', '.join(FORMATS)}")
    return tuple(formats)


def output_paths(out_base: Path, formats: Sequence[str]) -> dict[str, Path]:
    """Map each format to its file: out/dir/NAME -> out/dir/NAME.txt, out/dir/NAME.srt, ...

    The extension is appended, never substituted, so a NAME containing dots ("talk.v2") keeps them.
    """
    paths: dict[str, Path] = {}
    for fmt in formats:
        if fmt not in FORMATS:
            raise ValueError(f"formats: unknown output format {fmt!r}; choose from {', '.join(FORMATS)}")
        paths[fmt] = out_base.with_name(f"{out_base.name}.{fmt}")
    return paths


def write_outputs(transcript: Transcript, out_base: Path, formats: Sequence[str]) -> list[Path]:
    """Write the transcript in each format next to `out_base`; return the paths written, in order.

    Creates missing parent folders. Raises OSError (naming the file) if a file cannot be written;
    no temporary file is left behind, and files written before the failure are complete.
    """
    paths = output_paths(out_base, formats)
    out_base.parent.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for fmt, path in paths.items():
        _write_atomically(path, _RENDERERS[fmt](transcript).encode("utf-8"))
        written.append(path)
    # One folder fsync makes every rename above durable: the task is marked done only after it.
    _fsync_dir(out_base.parent)
    return written


# --- cues -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cue:
    start_ms: int
    end_ms: int
    lines: tuple[str, ...]


def wrap_lines(text: str, width: int = MAX_LINE_CHARS) -> tuple[str, ...] | None:
    """Split text into at most two lines of at most `width` characters, as balanced as possible.

    Returns None when it does not fit (the caller then starts a new cue). A single word longer than
    `width` is returned alone on one line: there is no better place for it.
    """
    if len(text) <= width:
        return (text,)
    best: tuple[str, str] | None = None
    for i, char in enumerate(text):
        if char != " ":
            continue
        first, second = text[:i], text[i + 1 :]
        if len(first) > width or len(second) > width:
            continue
        if best is None or abs(len(first) - len(second)) < abs(len(best[0]) - len(best[1])):
            best = (first, second)
    if best is not None:
        return best
    return (text,) if " " not in text else None


def _clean(text: str) -> str:
    # Engines may return words with tabs or newlines; a newline inside SRT text would end the cue.
    return " ".join(text.split())


def build_cues(transcript: Transcript) -> list[Cue]:
    """Group the transcript's words into subtitle cues (see the module notes for the rules)."""
    words = [w for w in transcript.words if _clean(w.text)]
    if not words:
        return _cues_without_times(transcript)
    cues: list[Cue] = []
    group: list[Word] = []
    lines: tuple[str, ...] = ()

    def close() -> None:
        start = group[0].start_ms
        # A word that alone lasts longer than a cue may is shown for the longest time a cue may last.
        end = min(max(w.end_ms for w in group), start + MAX_CUE_MS)
        cues.append(Cue(start, max(start, end), lines))

    for word in words:
        if group:
            prev = group[-1]
            fitted = _fit([*group, word])
            if (
                fitted is None
                or word.end_ms - group[0].start_ms > MAX_CUE_MS
                or word.start_ms - prev.end_ms >= PAUSE_MS
                or word.speaker != prev.speaker
                or (_ends_sentence(prev.text) and prev.end_ms - group[0].start_ms >= SENTENCE_MIN_MS)
            ):
                close()
                group = []
            else:
                group.append(word)
                lines = fitted
                continue
        group = [word]
        # Only a labelled word can fail to fit alone: then the label gets a line of its own.
        lines = _fit(group) or (f"{word.speaker}:", _clean(word.text))
    close()
    return cues


def _fit(group: Sequence[Word]) -> tuple[str, ...] | None:
    text = " ".join(_clean(w.text) for w in group)
    # The speaker label is shown on screen, so it counts against the line width like a word.
    speaker = group[0].speaker
    return wrap_lines(f"{speaker}: {text}" if speaker else text)


def _ends_sentence(text: str) -> bool:
    return text.rstrip("\"')]").endswith((".", "?", "!"))


def _cues_without_times(transcript: Transcript) -> list[Cue]:
    """Cues for a transcript that has text but no word times: the text is cut into cue-sized pieces
    spread evenly over the audio, each shown for at most `MAX_CUE_MS`."""
    text = _clean(transcript.text)
    if not text:
        return []
    pieces: list[tuple[str, ...]] = []
    current: list[str] = []
    lines: tuple[str, ...] = ()
    for token in text.split(" "):
        # A single token always fits (wrap_lines keeps an overlong word whole), so a piece is never empty.
        fitted = wrap_lines(" ".join([*current, token]))
        if fitted is None:
            pieces.append(lines)
            current, fitted = [], (token,)
        current.append(token)
        lines = fitted
    pieces.append(lines)
    if transcript.audio_seconds and transcript.audio_seconds > 0:
        total_ms = int(transcript.audio_seconds * 1000)
    else:
        total_ms = int(len(transcript.text) / CHARS_PER_SECOND * 1000)
    slot = max(1, total_ms // len(pieces))
    return [Cue(i * slot, i * slot + min(slot, MAX_CUE_MS), lines) for i, lines in enumerate(pieces)]


# --- renderers ------------------------------------------------------------------------------------


def _timestamp(ms: int, separator: str) -> str:
    ms = max(0, ms)
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


def render_txt(transcript: Transcript) -> str:
    text = transcript.text.strip() or " ".join(_clean(w.text) for w in transcript.words).strip()
    return text + "\n" if text else ""


def render_srt(transcript: Transcript) -> str:
    blocks = []
    for number, cue in enumerate(build_cues(transcript), start=1):
        text = "\n".join(cue.lines)
        span = f"{_timestamp(cue.start_ms, ',')} --> {_timestamp(cue.end_ms, ',')}"
        blocks.append(f"{number}\n{span}\n{text}\n")
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    # WebVTT cue text is markup: these three characters must be escaped (and "-->" then cannot occur).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_vtt(transcript: Transcript) -> str:
    blocks = ["WEBVTT\n"]
    for cue in build_cues(transcript):
        lines = [_vtt_escape(line) for line in cue.lines]
        span = f"{_timestamp(cue.start_ms, '.')} --> {_timestamp(cue.end_ms, '.')}"
        blocks.append(f"{span}\n" + "\n".join(lines) + "\n")
    return "\n".join(blocks)


def render_json(transcript: Transcript) -> str:
    document = {
        "text": transcript.text,
        "words": [
            {
                "text": w.text,
                "start": w.start_ms,
                "end": w.end_ms,
                "confidence": w.confidence,
                "speaker": w.speaker,
            }
            for w in transcript.words
        ],
        "audio_seconds": transcript.audio_seconds,
        "language": transcript.language,
        "engine": transcript.engine,
    }
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"


_RENDERERS: dict[str, Callable[[Transcript], str]] = {
    "txt": render_txt,
    "srt": render_srt,
    "vtt": render_vtt,
    "json": render_json,
}


# --- atomic writing -------------------------------------------------------------------------------


def _write_atomically(path: Path, data: bytes) -> None:
    # The temporary name starts with a dot so folder watchers and users skip it, and is random so two
    # writers never share one. Mode 0o666 lets the umask decide, as for any ordinary new file
    # (tempfile.mkstemp would make transcripts private to the daemon's user).
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _fsync_dir(folder: Path) -> None:
    # Makes the rename durable. Windows cannot open a directory for fsync; NTFS journals renames.
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
