"""Make test media with PyAV: re-encode speech into other containers, build long recordings,
videos with and without sound — so no binary fixtures beyond the LibriVox clips live in the repo."""

from __future__ import annotations

import wave
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import av

from fairscribe.daemon.audio import decode_chunks

# extension -> (container format, audio codec, sample rate, bit rate): typical published speech
# (LibriVox distributes 64 kbit/s mp3). Left to FFmpeg, lame would pick 24 kbit/s at 16 kHz.
AUDIO_FORMATS: dict[str, tuple[str, str, int, int]] = {
    "mp3": ("mp3", "libmp3lame", 16000, 64000),
    "opus": ("ogg", "libopus", 48000, 48000),
    "flac": ("flac", "flac", 16000, 0),
    "m4a": ("ipod", "aac", 16000, 64000),
    "webm": ("webm", "libopus", 48000, 48000),
    "mp4": ("mp4", "aac", 16000, 64000),
}


def pcm_of(path: Path) -> bytes:
    """The 16 kHz mono s16le samples of any media file."""
    return b"".join(decode_chunks(path))


def write_wav(path: Path, pcm: bytes | Iterable[bytes], rate: int = 16000) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        for block in [pcm] if isinstance(pcm, bytes) else pcm:
            out.writeframes(block)
    return path


def encode(
    pcm: bytes | Iterable[bytes],
    dst: Path,
    *,
    video: bool = False,
    audio: bool = True,
    bitrate: int | None = None,
) -> Path:
    """Encode 16 kHz mono s16le PCM into dst, whose extension picks container and codec.

    With `video`, a tiny solid-colour mpeg4 track is added (with `audio=False`, only that)."""
    container, codec, rate, default_bitrate = AUDIO_FORMATS[dst.suffix.lstrip(".")]
    bitrate = bitrate or default_bitrate
    blocks: Iterable[bytes] = [pcm] if isinstance(pcm, bytes) else pcm
    with av.open(str(dst), "w", format=container) as out:
        vstream = None
        if video:
            vstream = out.add_stream("mpeg4", rate=5)
            vstream.width, vstream.height, vstream.pix_fmt = 64, 48, "yuv420p"
        astream = out.add_stream(codec, rate=rate, layout="mono") if audio else None
        if astream is not None and bitrate:
            astream.bit_rate = bitrate
        seconds = 0.0
        if astream is not None:
            resampler = av.AudioResampler(format=astream.format.name, layout="mono", rate=rate)
            for frame in _frames(blocks):
                seconds += frame.samples / 16000
                for out_frame in resampler.resample(frame):
                    out.mux(astream.encode(out_frame))
            out.mux(astream.encode(None))
        else:
            seconds = sum(len(b) for b in blocks) / 32000
        if vstream is not None:
            for index in range(max(1, int(seconds * 5))):
                picture = av.VideoFrame(64, 48, "yuv420p")
                for plane in picture.planes:
                    plane.update(bytes([128]) * plane.buffer_size)
                picture.pts = index
                picture.time_base = Fraction(1, 5)
                out.mux(vstream.encode(picture))
            out.mux(vstream.encode(None))
    return dst


def _frames(blocks: Iterable[bytes], samples: int = 1024) -> Iterator[av.AudioFrame]:
    pts = 0
    pending = b""
    for block in blocks:
        pending += block
        while len(pending) >= samples * 2:
            yield _frame(pending[: samples * 2], pts)
            pending = pending[samples * 2 :]
            pts += samples
    if pending:
        yield _frame(pending, pts)


def _frame(data: bytes, pts: int) -> av.AudioFrame:
    frame = av.AudioFrame(format="s16", layout="mono", samples=len(data) // 2)
    frame.planes[0].update(data)
    frame.rate = 16000
    frame.pts = pts
    frame.time_base = Fraction(1, 16000)
    return frame
