"""Audio handling: sniff (cheap signature check), probe (PyAV) and chunked decoding."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from fairscribe.daemon.audio import check_complete, decode_chunks, format_duration, probe, sniff
from fairscribe.shared.errors import FileRejected
from tests.support.media import AUDIO_FORMATS, encode, pcm_of, write_wav

CLIP = Path(__file__).resolve().parents[2] / "samples" / "librivox" / "sense_and_sensibility_01_austen_64kb-0880.wav"


@pytest.fixture(scope="module")
def pcm() -> bytes:
    return pcm_of(CLIP)


def _rejected(path: Path, *words: str) -> str:
    with pytest.raises(FileRejected) as caught:
        probe(path)
    message = str(caught.value)
    assert str(path) in message, "the reason must name the file"
    for word in words:
        assert word in message
    return message


# --- sniff -------------------------------------------------------------------------------------


def test_sniff_rejects_empty_missing_and_folders(tmp_path: Path) -> None:
    (tmp_path / "empty.wav").write_bytes(b"")
    _rejected(tmp_path / "empty.wav", "empty")
    _rejected(tmp_path / "gone.wav", "does not exist")
    (tmp_path / "dir.wav").mkdir()
    _rejected(tmp_path / "dir.wav", "not a regular file")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_sniff_rejects_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "secret.wav"
    path.write_bytes(CLIP.read_bytes())
    path.chmod(0)
    _rejected(path, "permission denied")


def test_sniff_rejects_text_and_random_bytes(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp3"
    text.write_text("Meeting notes\nnot audio at all\n" * 50)
    assert "looks like a text file" in _rejected(text, "not an audio or video file")
    rng = random.Random(4)
    for n in range(300):
        noise = tmp_path / f"noise{n}.mp3"
        noise.write_bytes(rng.randbytes(rng.choice([5, 700, 9000, 40000])))
        with pytest.raises(FileRejected, match="not an audio or video file"):
            sniff(noise)


@pytest.mark.parametrize(
    "head",
    [
        b"RIFF\0\0\0\0WAVE",
        b"RIFF\0\0\0\0AVI LIST",
        b"FORM\0\0\0\0AIFF",
        b"ID3\x04\0\0\0\0\0\0",
        b"OggS\0\x02",
        b"fLaC\0\0\0\x22",
        b"\0\0\0\x18ftyp3gp4",
        b"\0\0\0\x08wide",
        b"\x1a\x45\xdf\xa3\x9f\x42\x86",
        b"\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9",
        b"#!AMR\n",
        b"caff\0\x01",
    ],
)
def test_sniff_accepts_container_signatures(tmp_path: Path, head: bytes) -> None:
    path = tmp_path / "file.bin"
    path.write_bytes(head + bytes(200))
    sniff(path)


@pytest.mark.parametrize("ext", ["mp3", "aac"])
def test_sniff_finds_raw_frames_even_after_junk(tmp_path: Path, pcm: bytes, ext: str) -> None:
    # Raw MPEG audio / ADTS streams have no container header: sniff recognises chained frames.
    import av

    src = encode(pcm, tmp_path / ("clip.mp3" if ext == "mp3" else "clip.m4a"))
    raw = tmp_path / f"raw.{ext}"
    # id3v2_version=0: no ID3 tag, so the stream starts with a bare frame header.
    options = {"id3v2_version": "0"} if ext == "mp3" else {}
    with (
        av.open(str(src)) as inp,
        av.open(str(raw), "w", format="mp3" if ext == "mp3" else "adts", options=options) as out,
    ):
        stream = out.add_stream_from_template(inp.streams.audio[0])
        for packet in inp.demux(inp.streams.audio[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    data = raw.read_bytes()
    assert data[0] == 0xFF
    sniff(raw)
    assert probe(raw).duration_seconds == pytest.approx(len(pcm) / 32000, abs=0.2)
    (tmp_path / "junk.mp3").write_bytes(b"\0junk\0" * 20 + data)
    sniff(tmp_path / "junk.mp3")


def test_sniff_is_cheap(tmp_path: Path) -> None:
    big = tmp_path / "big.wav"
    big.write_bytes(CLIP.read_bytes() + bytes(20_000_000))
    noise = tmp_path / "noise.mp3"
    noise.write_bytes(random.Random(1).randbytes(100_000))
    start = time.perf_counter()
    for _ in range(1000):
        sniff(big)
        with pytest.raises(FileRejected):
            sniff(noise)
    # 2,000 calls; 100,000 files must be vetted in seconds, not minutes.
    assert time.perf_counter() - start < 2.0


# --- probe ---------------------------------------------------------------------------------------


def test_probe_wav() -> None:
    info = probe(CLIP)
    assert (info.codec, info.sample_rate, info.channels) == ("pcm_s16le", 16000, 1)
    assert info.duration_seconds == pytest.approx(os.path.getsize(CLIP) / 32000, abs=0.01)


@pytest.mark.parametrize("ext", sorted(AUDIO_FORMATS))
def test_probe_and_decode_every_container(tmp_path: Path, pcm: bytes, ext: str) -> None:
    path = encode(pcm, tmp_path / f"clip.{ext}", video=ext == "mp4")
    info = probe(path)
    seconds = len(pcm) / 32000
    assert info.duration_seconds == pytest.approx(seconds, abs=0.1)
    assert info.codec == {"mp3": "mp3", "opus": "opus", "webm": "opus", "flac": "flac"}.get(ext, "aac")
    decoded = pcm_of(path)
    assert len(decoded) / 32000 == pytest.approx(seconds, abs=0.1)


def test_probe_limits_name_the_limit(tmp_path: Path) -> None:
    with pytest.raises(FileRejected, match=r"too long: 3\.0 s of audio, the limit is 2\.0 s"):
        probe(CLIP, max_seconds=2)
    with pytest.raises(FileRejected, match=r"too short: 3\.0 s of audio, the minimum is 5\.0 s"):
        probe(CLIP, min_seconds=5)
    assert format_duration(36_000) == "10:00:00" and format_duration(3599.6) == "1:00:00"


def test_probe_rejects_video_without_audio(tmp_path: Path) -> None:
    path = encode(bytes(32000 * 2), tmp_path / "screen.mp4", video=True, audio=False)
    _rejected(path, "no audio track")


def test_probe_rejects_truncated_mp3(tmp_path: Path, pcm: bytes) -> None:
    full = encode(pcm * 20, tmp_path / "full.mp3").read_bytes()
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(full[: len(full) // 2])
    _rejected(cut, "truncated")
    header_only = tmp_path / "header.mp3"
    header_only.write_bytes(full[:300])
    _rejected(header_only, "corrupt")


def test_probe_rejects_corrupt_container(tmp_path: Path, pcm: bytes) -> None:
    data = bytearray(encode(pcm, tmp_path / "ok.m4a").read_bytes())
    data[-3000:-10] = random.Random(2).randbytes(2990)  # the index (moov box) sits at the end
    bad = tmp_path / "bad.m4a"
    bad.write_bytes(bytes(data))
    _rejected(bad, "corrupt")


def test_damage_in_the_middle_is_not_silently_skipped(tmp_path: Path, pcm: bytes) -> None:
    # Demuxers resynchronise past garbage without an error: the audio just comes out shorter.
    data = bytearray(encode(pcm * 5, tmp_path / "ok.webm").read_bytes())
    third = len(data) // 3
    data[third : 2 * third] = random.Random(3).randbytes(third)
    bad = tmp_path / "bad.webm"
    bad.write_bytes(bytes(data))
    info = probe(bad)
    decoded = len(pcm_of(bad)) / 32000
    with pytest.raises(FileRejected, match=r"bad\.webm: damaged: only .* can be decoded"):
        check_complete(bad, info, decoded)
    check_complete(bad, info, info.duration_seconds - 1.0)  # a small shortfall is tolerated


# --- decode_chunks -------------------------------------------------------------------------------


def test_decode_chunks_are_bounded_and_complete(tmp_path: Path, pcm: bytes) -> None:
    path = encode(pcm * 4, tmp_path / "four.flac")
    chunks = list(decode_chunks(path, chunk_seconds=1.0))
    assert all(len(c) == 32000 for c in chunks[:-1]) and 0 < len(chunks[-1]) <= 32000
    assert b"".join(chunks) == pcm * 4  # flac is lossless, and 16 kHz mono needs no resampling


def test_decode_resamples_stereo_44k(tmp_path: Path) -> None:
    import av

    path = tmp_path / "stereo.wav"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=44100, layout="stereo")
        frame = av.AudioFrame(format="s16", layout="stereo", samples=44100)
        frame.planes[0].update(bytes(44100 * 4))
        frame.rate = 44100
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    assert probe(path).channels == 2
    assert len(b"".join(decode_chunks(path))) == pytest.approx(32000, abs=200)


def test_decode_rejects_a_file_without_audio_frames(tmp_path: Path, pcm: bytes) -> None:
    data = bytearray(encode(pcm, tmp_path / "ok.flac").read_bytes())
    data[100:] = bytes(len(data) - 100)
    bad = tmp_path / "zeroed.flac"
    bad.write_bytes(bytes(data))
    with pytest.raises(FileRejected, match=r"zeroed\.flac: corrupt"):
        list(decode_chunks(bad))


def test_decode_rejects_text(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "x.wav", b"")
    path.write_text("not audio")
    with pytest.raises(FileRejected, match=r"x\.wav"):
        list(decode_chunks(path))
