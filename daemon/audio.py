"""Audio handling every engine shares: a cheap sniff, a probe with PyAV, and chunked decoding.

- `sniff` reads only the first few KB and no codec library, so it can vet 100,000 files at submit
  (and the simulated engine can call it) without noticeable cost.
- `probe` opens the file with FFmpeg (through PyAV) to learn duration and codec and to catch files
  that look right but cannot be played: no audio track, corrupt, or cut short.
- `decode_chunks` turns any container FFmpeg reads into 16 kHz mono signed 16-bit little-endian
  PCM, in chunks of bounded size, so memory does not grow with the recording's length.

Every problem is a `FileRejected` whose message names the file and says what a person can do about
it; engines let it propagate so the file fails alone with that reason.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import av.container

from fairscribe.shared.errors import FileRejected

# Enough for every container signature and a few MPEG audio frames found after leading junk.
SNIFF_BYTES = 8192
PCM_SAMPLE_BYTES = 2
# How far before the declared end `probe` seeks to check that the file really goes on that long.
_TAIL_CHECK_SECONDS = 3.0
# A declared duration this far beyond the audio found near the end means the file was cut short.
# Generous, because some containers (mp3 without a frame count) only estimate their duration.
_TAIL_TOLERANCE_SECONDS = 10.0
# Decoding skips a damaged packet as players do, but a file that is mostly damage fails.
_MAX_BAD_PACKET_SHARE = 0.05
# Decoded audio may fall this much short of the declared duration (see check_complete).
_MIN_MISSING_SECONDS = 2.0
_MAX_MISSING_SHARE = 0.1


@dataclass(frozen=True)
class AudioInfo:
    duration_seconds: float
    codec: str
    sample_rate: int
    channels: int


def sniff(path: Path) -> None:
    """Raise FileRejected unless `path` is a readable, non-empty file that starts like audio/video."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise FileRejected(f"{path}: not a regular file (a folder, device or pipe)")
        if info.st_size == 0:
            raise FileRejected(f"{path}: the file is empty (0 bytes)")
        with open(path, "rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except FileRejected:
        raise
    except FileNotFoundError:
        raise FileRejected(f"{path}: the file does not exist (moved or deleted?)") from None
    except PermissionError:
        raise FileRejected(f"{path}: cannot read the file: permission denied for the daemon's user") from None
    except OSError as err:
        raise FileRejected(f"{path}: cannot read the file: {err.strerror or err}") from None
    if not _is_media(head):
        hint = " (it looks like a text file)" if _looks_like_text(head) else ""
        raise FileRejected(f"{path}: not an audio or video file{hint}")


def probe(path: Path, max_seconds: float | None = None, min_seconds: float | None = None) -> AudioInfo:
    """Sniff, then open with PyAV: duration, codec, rate and channels of the first audio track.

    Raises FileRejected if the file has no audio track, cannot be decoded, ends before its declared
    duration, or is longer than `max_seconds` / shorter than `min_seconds`.
    """
    sniff(path)
    with _open(path) as container:
        stream = _audio_stream(container, path)
        ctx = stream.codec_context
        duration = _declared_duration(container, stream)
        if duration is None:
            duration = _demuxed_duration(container, stream)
        else:
            _check_tail(container, stream, duration, path)
        info = AudioInfo(
            duration_seconds=duration,
            codec=ctx.codec.canonical_name,
            sample_rate=ctx.sample_rate,
            channels=ctx.layout.nb_channels,
        )
    if max_seconds is not None and info.duration_seconds > max_seconds:
        raise FileRejected(
            f"{path}: too long: {format_duration(info.duration_seconds)} of audio, "
            f"the limit is {format_duration(max_seconds)}; split the recording into parts"
        )
    if min_seconds is not None and info.duration_seconds < min_seconds:
        raise FileRejected(
            f"{path}: too short: {format_duration(info.duration_seconds)} of audio, "
            f"the minimum is {format_duration(min_seconds)}"
        )
    return info


def decode_chunks(path: Path, sample_rate: int = 16000, chunk_seconds: float = 30.0) -> Iterator[bytes]:
    """Yield the first audio track as mono s16le PCM at `sample_rate`, `chunk_seconds` per chunk
    (the last one shorter). Raises FileRejected if the file is unreadable or mostly damaged."""
    chunk_bytes = max(1, int(chunk_seconds * sample_rate)) * PCM_SAMPLE_BYTES
    resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
    pending = bytearray()
    packets = bad = 0
    yielded = False
    with _open(path) as container:
        stream = _audio_stream(container, path)
        for packet in container.demux(stream):
            packets += 1
            try:
                frames = packet.decode()
            except av.FFmpegError:
                # A player skips a damaged packet and plays on; so do we, within a limit below.
                bad += 1
                continue
            for frame in frames:
                for out in resampler.resample(frame):
                    pending += _pcm(out)
            while len(pending) >= chunk_bytes:
                yield bytes(pending[:chunk_bytes])
                del pending[:chunk_bytes]
                yielded = True
        for out in resampler.resample(None):
            pending += _pcm(out)
    if bad > 1 and bad > _MAX_BAD_PACKET_SHARE * packets:
        raise FileRejected(f"{path}: corrupt: {bad} of {packets} audio packets cannot be decoded")
    if packets and bad == packets:
        raise FileRejected(f"{path}: corrupt: none of its audio can be decoded")
    if pending:
        yield bytes(pending)
    elif not yielded:
        raise FileRejected(f"{path}: corrupt: it contains no decodable audio")


def format_duration(seconds: float) -> str:
    """ "2.9 s" under a minute, else "H:MM:SS": what a person reads in an error message."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def check_complete(path: Path, info: AudioInfo, decoded_seconds: float) -> None:
    """Raise FileRejected if decoding yielded clearly less audio than `probe` found declared: the
    demuxer skipped damaged data silently, and a transcript of the rest would pass for the whole.
    The margin allows for containers that only estimate their duration from the bitrate."""
    missing = info.duration_seconds - decoded_seconds
    if missing > max(_MIN_MISSING_SECONDS, _MAX_MISSING_SHARE * info.duration_seconds):
        raise FileRejected(
            f"{path}: damaged: only {format_duration(decoded_seconds)} of its "
            f"{format_duration(info.duration_seconds)} of audio can be decoded"
        )


def _pcm(frame: av.AudioFrame) -> bytes:
    # The plane's buffer may be padded past the last sample; take exactly the samples.
    return bytes(memoryview(frame.planes[0])[: frame.samples * PCM_SAMPLE_BYTES])


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), mode="r", metadata_errors="ignore")
    except av.FFmpegError as err:
        raise FileRejected(f"{path}: corrupt or unsupported: FFmpeg cannot read it ({_reason(err)})") from None


def _reason(err: av.FFmpegError) -> str:
    # FFmpeg's decoders report damaged data as EPERM ("Operation not permitted"), which would send a
    # person looking at file permissions.
    if err.errno == errno.EPERM:
        return "invalid data"
    return str(err.strerror or err).rstrip(".")


def _audio_stream(container: av.container.InputContainer, path: Path) -> av.AudioStream:
    if container.streams.audio:
        return container.streams.audio[0]
    if container.streams.video:
        raise FileRejected(f"{path}: the video has no audio track (no sound to transcribe)")
    raise FileRejected(f"{path}: contains no audio track")


def _declared_duration(container: av.container.InputContainer, stream: av.AudioStream) -> float | None:
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    return None


def _demuxed_duration(container: av.container.InputContainer, stream: av.AudioStream) -> float:
    """Duration from packet timestamps, for containers that do not declare one (raw streams).
    Reads the file but decodes nothing."""
    end = 0.0
    for packet in container.demux(stream):
        if packet.pts is not None and packet.time_base is not None:
            end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    return end


def _check_tail(container: av.container.InputContainer, stream: av.AudioStream, duration: float, path: Path) -> None:
    """Decode a little audio near the declared end: a file cut short (an interrupted download or
    copy) declares a duration its data does not reach."""
    target = max(0.0, duration - _TAIL_CHECK_SECONDS)
    reached: float | None = None
    try:
        if stream.time_base is not None and target > 0:
            container.seek(int(target / stream.time_base), stream=stream, backward=True)
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.FFmpegError:
                continue  # one damaged packet is not yet a damaged file; see decode_chunks
            for frame in frames:
                reached = target
                if frame.pts is not None and frame.time_base is not None:
                    reached = float(frame.pts * frame.time_base) + frame.samples / frame.sample_rate
                if reached >= target:
                    return
    except av.FFmpegError as err:
        raise FileRejected(f"{path}: corrupt or truncated: FFmpeg cannot read it ({_reason(err)})") from None
    ends = f"its audio ends at {format_duration(reached)}" if reached else "its audio ends before that"
    if reached is None or reached + _TAIL_TOLERANCE_SECONDS < duration:
        raise FileRejected(
            f"{path}: truncated or corrupt: it declares {format_duration(duration)} of audio but "
            f"{ends} (an interrupted download or copy?)"
        )


# --- signatures -------------------------------------------------------------------------------------
# What the first bytes of each container FFmpeg commonly reads look like. A file passing here may
# still be damaged (probe finds that); a file failing here is certainly not something to transcribe.

_PREFIXES: tuple[bytes, ...] = (
    b"ID3",  # MP3 (or AAC) with an ID3v2 tag
    b"OggS",  # Ogg: Vorbis, Opus, Speex, FLAC
    b"fLaC",
    b"\x1a\x45\xdf\xa3",  # EBML: Matroska, WebM
    b"\x30\x26\xb2\x75\x8e\x66\xcf\x11",  # ASF: WMA, WMV
    b"#!AMR",  # AMR-NB and AMR-WB
    b"caff",  # Apple Core Audio Format
    b".snd",  # Sun/NeXT AU
    b"FLV\x01",
    b"riff\x2e\x91\xcf\x11",  # Sony Wave64
    b"wvpk",  # WavPack
    b"MAC ",  # Monkey's Audio
    b"MPCK",  # Musepack SV8
    b"MP+",  # Musepack SV7
    b"TTA1",
    b"APETAGEX",  # APE-tagged raw streams
    b".RMF",  # RealMedia
    b"\x7f\xfe\x80\x01",  # DTS
    b"\x00\x00\x01\xba",  # MPEG program stream (VOB, .mpg)
    b"\x00\x00\x01\xb3",  # MPEG video elementary stream
)
_RIFF_KINDS = (b"WAVE", b"AVI ", b"RMP3", b"CDXA")
# ISO-BMFF (mp4, m4a, mov, 3gp) opens with an `ftyp` box; old QuickTime files with one of these.
_BOX_TYPES = (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")

_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
# kbit/s by (MPEG-1?, layer) and bitrate index 1..14
_MPEG_KBPS = {
    (True, 3): (32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 1): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 3): (32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 1): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}


def _is_media(head: bytes) -> bool:
    if head.startswith(_PREFIXES):
        return True
    kind = head[8:12]
    if head[:4] in (b"RIFF", b"RF64", b"BW64") and kind in _RIFF_KINDS:
        return True
    if head[:4] == b"FORM" and kind in (b"AIFF", b"AIFC"):
        return True
    if head[4:8] in _BOX_TYPES:
        return True
    if _is_transport_stream(head):
        return True
    return _has_frame_run(head)


def _is_transport_stream(head: bytes) -> bool:
    # 188-byte packets (.ts) or 192-byte ones with a 4-byte time code (.m2ts), each starting 0x47.
    for size, offset in ((188, 0), (192, 4)):
        if len(head) >= offset + 2 * size + 1 and all(head[offset + k * size] == 0x47 for k in range(3)):
            return True
    return False


def _frame_length(head: bytes, i: int) -> int:
    """Length of the MPEG audio or ADTS AAC frame whose header starts at head[i], 0 if none."""
    if i + 7 > len(head) or head[i] != 0xFF or head[i + 1] & 0xE0 != 0xE0:
        return 0
    b1, b2 = head[i + 1], head[i + 2]
    layer = (b1 >> 1) & 3
    if layer == 0:  # ADTS: layer bits 00, 12-bit sync
        if b1 & 0xF0 != 0xF0 or (b2 >> 2) & 0xF > 12:
            return 0
        length = ((head[i + 3] & 3) << 11) | (head[i + 4] << 3) | (head[i + 5] >> 5)
        return length if length >= 7 else 0
    version, bitrate_index, rate_index = (b1 >> 3) & 3, b2 >> 4, (b2 >> 2) & 3
    if version == 1 or bitrate_index in (0, 15) or rate_index == 3 or head[i + 3] & 3 == 2:
        return 0
    bitrate = _MPEG_KBPS[(version == 3, layer)][bitrate_index - 1] * 1000
    rate = _MPEG_RATES[version][rate_index]
    padding = (b2 >> 1) & 1
    if layer == 3:
        return (12 * bitrate // rate + padding) * 4
    per_frame = 144 if version == 3 or layer == 2 else 72
    return per_frame * bitrate // rate + padding


def _has_frame_run(head: bytes) -> bool:
    """True if MPEG audio / ADTS frames follow one another: two from the first byte, or three
    after leading junk (random bytes imitate one frame header every few thousand bytes)."""
    i = head.find(b"\xff")
    while i != -1:
        needed = 2 if i == 0 else 3
        found, j = 0, i
        while found < needed:
            length = _frame_length(head, j)
            if not length:
                break
            found, j = found + 1, j + length
            if j >= len(head):
                # The run leaves what was read: two chained frames are convincing, and so is a
                # file that is exactly one frame.
                return found >= 2 or (i == 0 and j == len(head))
        if found >= needed:
            return True
        i = head.find(b"\xff", i + 1)
    return False


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        # A read that stops inside a multi-byte character is still text.
        return err.start >= len(head) - 3
    return True
