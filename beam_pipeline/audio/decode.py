"""From the raw bytes of one call recording to float32 channels at the model's rate.

Two decoders, tried in order:

1. libsndfile (through soundfile) on an in-memory buffer. It reads WAV in every
   PCM width, float, mu-law and A-law, FLAC, Ogg Vorbis, Ogg Opus and MP3
   (libsndfile >= 1.1) without a subprocess or a temporary file, which is what
   most call archives hold, so it is the fast path.
2. ffmpeg, in a subprocess on a temporary file, for everything libsndfile does
   not recognise: M4A/MP4 (AAC), raw AAC, WebM, WAV with exotic codecs. A file
   rather than a pipe because an MP4 whose index (moov) sits at the end cannot
   be read from a pipe, and ffmpeg writes it there by default.

Both produce the recording's own channels at its own rate; soxr (HQ) then
resamples when the rate is not the target, so every path resamples the same way.

Every way a recording can be unusable raises `AudioDecodeError` with a short
reason meant for the errors table ("truncated WAV stream: it ends at 31.2 s of
the 60.0 s its header declares"). Limits (length, channel count) are checked on the
header before decoding wherever the container states them, so a 20-hour file
costs a header read, not 20 hours of decoding.

Truncated recordings are rejected, not decoded in part. A recorder that died
mid-call leaves a file whose header promises more audio than it holds; decoding
what is present would give a call whose duration, talk shares and last customer
turn ("does the call end better than it started") are silently wrong. An errors
row saying "truncated" is visible and actionable (re-export, or repair the
header); a silently shortened call is neither. Truncation is detected where the
container makes that possible: the WAV data-chunk size, the FLAC/MP3 (Xing/Info)
frame count, the Ogg end-of-stream page, the MP4 index and the duration ffmpeg
reads from the container.
An MP3 without a length header, or a WAV whose writer left the length unset
(0 or 0xFFFFFFFF, as streaming recorders do), carries no promise to break and is
decoded as it stands.
"""
from __future__ import annotations

import dataclasses
import io
import math
import os
import re
import shutil
import struct
import subprocess
import tempfile
import threading

import numpy as np
import soundfile as sf
import soxr

_MAX_CHANNELS = 2                  # one channel per side of a call; more is not a call recording
_RESAMPLE_QUALITY = "HQ"
_MAX_REASON_DETAIL_CHARS = 160     # library messages quoted in a reason are cut to this
_FFMPEG_TIMEOUT_FLOOR_S = 120.0    # plus the recording's duration: decoding slower than real time means it hangs
_OGG_MAX_PAGE_BYTES = 27 + 255 + 255 * 255
_WAV_UNKNOWN_SIZES = (0, 0xFFFFFFFF)   # what streaming writers leave in the data-chunk size


@dataclasses.dataclass(frozen=True)
class DecodedAudio:
    """A recording's channels at one sample rate, and what it was before decoding.

    `channels` keeps the recording's channel order, because in a stereo call
    recording each channel is one side of the call (agent, customer).
    """

    channels: np.ndarray          # float32, shape (n_channels, n_samples), values in [-1, 1], at sample_rate_hz
    sample_rate_hz: int           # the target rate (16000 by default)
    source_sample_rate_hz: int
    source_format: str            # e.g. "wav/PCM_16", "wav/ULAW", "flac/PCM_16", "mp3", "m4a/aac"

    @property
    def duration_s(self) -> float:
        return self.channels.shape[1] / self.sample_rate_hz

    @property
    def n_channels(self) -> int:
        return self.channels.shape[0]


class AudioDecodeError(ValueError):
    """Carries a short human-readable reason that goes into the errors table."""


def decode_audio(data: bytes, filename: str, *, target_rate_hz: int = 16000,
                 max_duration_s: float = 4 * 3600.0) -> DecodedAudio:
    """Decode one recording to float32 channels at `target_rate_hz`.

    Parameters
    ----------
    data
        The whole file, as read from storage.
    filename
        Its name or URI. Only the extension is used, as a hint to ffmpeg and to
        name the container in `source_format`; the content decides the format.
    target_rate_hz
        The rate of the returned channels (the model's feature rate).
    max_duration_s
        Longer recordings are rejected, from the header when it states the
        length, so that a mislabelled multi-hour file cannot exhaust a worker.

    Returns
    -------
    DecodedAudio
        Channels in the recording's order, clipped to [-1, 1] (float WAV and
        lossy decoders can overshoot full scale; downstream level maths assumes
        full scale is 1).

    Raises
    ------
    AudioDecodeError
        For anything wrong with the recording: empty, not audio, corrupt or
        truncated (see the module docstring for why truncation is an error),
        no frames, too long, more than two channels, NaN/inf samples. Any
        unexpected library exception is wrapped into one, with its type, so a
        single bad file never stops the run.
    TypeError, ValueError
        For wrong arguments (not bytes, a non-positive rate or limit): a
        programming or configuration error that should stop the run rather
        than turn every recording into an errors row.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    if int(target_rate_hz) <= 0 or int(target_rate_hz) != target_rate_hz:
        raise ValueError(f"target_rate_hz must be a positive integer, got {target_rate_hz!r}")
    if not max_duration_s > 0:
        raise ValueError(f"max_duration_s must be positive, got {max_duration_s!r}")
    data = bytes(data)
    try:
        frames, source_rate_hz, source_format = _decode_native(data, filename, max_duration_s)
        _check_finite(frames)
        channels = _resample_to_channels(frames, source_rate_hz, int(target_rate_hz))
    except AudioDecodeError:
        raise
    except Exception as exc:  # noqa: BLE001 - the contract: one bad file becomes one errors row
        raise AudioDecodeError(f"unexpected {type(exc).__name__} while decoding: "
                               f"{_short(str(exc))}") from exc
    return DecodedAudio(channels=channels, sample_rate_hz=int(target_rate_hz),
                        source_sample_rate_hz=int(source_rate_hz), source_format=source_format)


# --------------------------------------------------------------------------- orchestration

def _decode_native(data: bytes, filename: str, max_duration_s: float) -> tuple[np.ndarray, int, str]:
    """Frames (n_frames, n_channels) at the recording's own rate, its rate and its format name."""
    if not data:
        raise AudioDecodeError("empty file (0 bytes)")
    try:
        info = sf.info(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError) as exc:
        # libsndfile does not know this container or codec: ffmpeg's turn.
        return _decode_with_ffmpeg(data, filename, max_duration_s, soundfile_reason=str(exc))
    return _decode_with_soundfile(data, info, max_duration_s)


def _resample_to_channels(frames: np.ndarray, source_rate_hz: int, target_rate_hz: int) -> np.ndarray:
    """(n_frames, n_channels) at the source rate -> (n_channels, n_samples) at the target, in [-1, 1]."""
    frames = np.ascontiguousarray(frames, dtype=np.float32)
    if source_rate_hz != target_rate_hz:
        frames = soxr.resample(frames, source_rate_hz, target_rate_hz, quality=_RESAMPLE_QUALITY)
    channels = np.ascontiguousarray(frames.T, dtype=np.float32)
    np.clip(channels, -1.0, 1.0, out=channels)
    return channels


def _check_finite(frames: np.ndarray) -> None:
    """Float WAV can carry NaN/inf; they would poison every feature and level computed downstream."""
    finite = np.isfinite(frames)
    if not finite.all():
        n_bad = int(frames.size - np.count_nonzero(finite))
        raise AudioDecodeError(f"recording holds {n_bad} non-finite samples (NaN or inf)")


# --------------------------------------------------------------------------- soundfile path

def _decode_with_soundfile(data: bytes, info: sf._SoundFileInfo, max_duration_s: float
                           ) -> tuple[np.ndarray, int, str]:
    container = {"WAVEX": "wav"}.get(info.format, info.format.lower())
    source_format = "mp3" if info.format == "MP3" else f"{container}/{info.subtype}"
    rate_hz = int(info.samplerate)
    if rate_hz <= 0:
        raise AudioDecodeError(f"corrupt {container} header: sample rate {rate_hz} Hz")
    _check_channels(int(info.channels))

    wav_sizes = _wav_data_sizes(data) if container == "wav" else None
    header_frames = int(info.frames)
    if wav_sizes is not None and wav_sizes.declared_bytes not in _WAV_UNKNOWN_SIZES:
        # libsndfile quietly shortens a truncated WAV to what is present; the limit and the
        # truncation check want what the header promised.
        header_frames = wav_sizes.declared_bytes // wav_sizes.block_align
    _check_duration(header_frames / rate_hz, max_duration_s, source="header")
    if wav_sizes is not None and wav_sizes.declared_bytes not in _WAV_UNKNOWN_SIZES:
        present_frames = wav_sizes.present_bytes // wav_sizes.block_align
        _check_not_short(present_frames / rate_hz, header_frames / rate_hz, "WAV")
    if container == "ogg" and not _ogg_ends_with_eos_page(data):
        raise AudioDecodeError("truncated Ogg stream: it stops before its end-of-stream page")

    # Read at most one frame past the limit, so a header that understates the length
    # (an MP3 length estimated from its size) cannot make us decode hours.
    max_frames = int(math.floor(max_duration_s * rate_hz)) + 1
    try:
        frames = sf.read(io.BytesIO(data), frames=max_frames, dtype="float32", always_2d=True)[0]
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioDecodeError(f"corrupt or truncated {container} stream: {_libsndfile_detail(str(exc))}"
                               ) from exc
    _check_duration(frames.shape[0] / rate_hz, max_duration_s, source="decoded")
    if frames.shape[0] == 0:
        raise AudioDecodeError(f"recording holds no audio frames (empty {container} stream)")
    if _frame_count_is_exact(container, data) and header_frames > 0:
        _check_not_short(frames.shape[0] / rate_hz, header_frames / rate_hz, container)
    return frames, rate_hz, source_format


def _frame_count_is_exact(container: str, data: bytes) -> bool:
    """Whether libsndfile's frame count is a promise from the header rather than an estimate.

    FLAC's STREAMINFO holds the exact count; an MP3 holds one only in a Xing/Info
    or VBRI frame (otherwise libsndfile guesses from the file size, and a VBR file
    would look truncated). WAV is checked on its data chunk, Ogg on its last page.
    """
    if container == "flac":
        return True
    if container == "mp3":
        return _mp3_has_length_header(data)
    return False


@dataclasses.dataclass(frozen=True)
class _WavSizes:
    declared_bytes: int
    present_bytes: int
    block_align: int


def _wav_data_sizes(data: bytes) -> _WavSizes | None:
    """The data chunk's declared and present byte counts from a RIFF/RIFX WAVE header.

    libsndfile hides a truncation (it trims the frame count to the bytes present),
    so the chunk walk is done here. None when the header is not one this walk
    understands (RF64, W64, a missing fmt or data chunk): no check is then made.
    """
    if len(data) < 12 or data[8:12] != b"WAVE" or data[:4] not in (b"RIFF", b"RIFX"):
        return None
    endian = "<" if data[:4] == b"RIFF" else ">"
    offset, block_align = 12, 0
    while offset + 8 <= len(data):
        chunk_id = data[offset:offset + 4]
        (chunk_size,) = struct.unpack(endian + "I", data[offset + 4:offset + 8])
        body = offset + 8
        if chunk_id == b"fmt " and body + 14 <= len(data):
            (block_align,) = struct.unpack(endian + "H", data[body + 12:body + 14])
        elif chunk_id == b"data":
            if block_align <= 0:
                return None
            return _WavSizes(declared_bytes=chunk_size, present_bytes=len(data) - body, block_align=block_align)
        offset = body + chunk_size + (chunk_size & 1)   # chunks are padded to even sizes
    return None


def _ogg_ends_with_eos_page(data: bytes) -> bool:
    """Whether the last Ogg page is complete and flagged end-of-stream.

    A writer closes an Ogg stream with a page whose header_type has bit 0x04 set;
    a stream cut short ends mid-page or on an ordinary page. libsndfile decodes
    such a stream without complaint (sometimes to nothing), so this is the only
    sign of the truncation. Candidates are tried from the end because "OggS" may
    occur by chance inside compressed data.
    """
    search_from = max(0, len(data) - _OGG_MAX_PAGE_BYTES)
    position = data.rfind(b"OggS", search_from)
    while position >= 0:
        header_end = position + 27
        if header_end <= len(data):
            n_segments = data[position + 26]
            table_end = header_end + n_segments
            if table_end <= len(data):
                page_end = table_end + sum(data[header_end:table_end])
                if page_end == len(data):
                    return bool(data[position + 5] & 0x04)
        position = data.rfind(b"OggS", search_from, position)
    return False


def _mp3_has_length_header(data: bytes) -> bool:
    """An MP3 whose first frame is a Xing/Info/VBRI frame, which states the exact frame count."""
    start = 0
    if data[:3] == b"ID3" and len(data) >= 10:
        size = 0
        for byte in data[6:10]:                      # ID3v2 sizes are "syncsafe": 7 bits per byte
            size = (size << 7) | (byte & 0x7F)
        start = 10 + size + (10 if data[5] & 0x10 else 0)   # plus the footer, when flagged
    first_frame = data[start:start + 200]
    return any(tag in first_frame for tag in (b"Xing", b"Info", b"VBRI"))


# --------------------------------------------------------------------------- ffmpeg path

@dataclasses.dataclass(frozen=True)
class _FfmpegInput:
    """What ffmpeg's log says about the input, read before the samples are."""

    container: str
    codec: str
    duration_s: float | None
    stream_kinds: tuple[str, ...]     # "audio", "video", ... for every stream of the input


def _decode_with_ffmpeg(data: bytes, filename: str, max_duration_s: float, *, soundfile_reason: str
                        ) -> tuple[np.ndarray, int, str]:
    """One ffmpeg process: float32 WAV on stdout, its log in a file, checks made between the two.

    A single process rather than ffprobe then ffmpeg, because starting ffmpeg
    (loading its libraries) costs more than decoding a minute of AAC. The length
    and channel checks still come before the decoding: ffmpeg logs the input's
    duration and writes the WAV header after its first frame, and the process is
    killed there when either is over the limit. The log goes to a file, not a
    pipe, so a stream that logs an error per frame cannot block ffmpeg while we
    read its stdout.
    """
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AudioDecodeError(f"format needs ffmpeg, which is not installed "
                               f"(libsndfile: {_libsndfile_detail(soundfile_reason)})")
    extension = os.path.splitext(filename)[1].lower()
    suffix = extension if re.fullmatch(r"\.[a-z0-9]{1,8}", extension) else ""
    with tempfile.TemporaryDirectory(prefix="callmood-decode-") as folder:
        path = os.path.join(folder, "recording" + suffix)
        with open(path, "wb") as handle:
            handle.write(data)
        frames, rate_hz, source = _run_ffmpeg(ffmpeg, path, os.path.join(folder, "ffmpeg.log"), data,
                                              extension, max_duration_s, soundfile_reason)
    source_format = source.container if source.codec == source.container else f"{source.container}/{source.codec}"
    _check_duration(frames.shape[0] / rate_hz, max_duration_s, source="decoded")
    if frames.shape[0] == 0:
        raise AudioDecodeError(f"recording holds no audio frames (empty {source.container} stream)")
    if source.duration_s is not None:
        _check_not_short(frames.shape[0] / rate_hz, source.duration_s, source.container)
    return frames, rate_hz, source_format


def _run_ffmpeg(ffmpeg: str, path: str, log_path: str, data: bytes, extension: str,
                max_duration_s: float, soundfile_reason: str) -> tuple[np.ndarray, int, _FfmpegInput]:
    limit_s = max_duration_s + 1.0     # `-t`: never decode far past the limit, even with no length in the header
    command = [ffmpeg, "-nostdin", "-hide_banner", "-nostats", "-loglevel", "level+info", "-i", path,
               "-map", "0:a:0", "-t", f"{limit_s:.3f}", "-c:a", "pcm_f32le", "-bitexact", "-map_metadata", "-1",
               "-f", "wav", "pipe:1"]
    timeout_s = _FFMPEG_TIMEOUT_FLOOR_S + limit_s
    with open(log_path, "ab") as log:     # append-only: our reads never move where ffmpeg writes
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
    timed_out = threading.Event()

    def expire() -> None:
        timed_out.set()
        process.kill()

    watchdog = threading.Timer(timeout_s, expire)
    watchdog.start()
    try:
        assert process.stdout is not None
        layout = _read_wav_stream_header(process.stdout)
        source = _parse_ffmpeg_log(_read_log(log_path), extension)
        if layout is not None:
            _check_channels(layout.n_channels)
            if source.duration_s is not None:
                _check_duration(source.duration_s, max_duration_s, source="header")
        samples = process.stdout.read()
        return_code = process.wait()
    finally:
        watchdog.cancel()
        if process.poll() is None:       # a check above refused the recording: stop decoding it
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
    if timed_out.is_set():
        raise AudioDecodeError(f"ffmpeg did not finish decoding within {timeout_s:.0f} s")
    lines = _read_log(log_path)
    if layout is None:
        raise AudioDecodeError(_ffmpeg_open_failure(lines, path, data, soundfile_reason))
    if return_code != 0:
        errors = _ffmpeg_errors(lines, path)
        raise AudioDecodeError(f"corrupt or truncated {source.container} stream: "
                               f"{_short(errors[-1] if errors else f'ffmpeg exited with {return_code}')}")
    if layout.bits != 32 or layout.n_channels <= 0 or layout.rate_hz <= 0:
        raise AudioDecodeError(f"ffmpeg produced unexpected output ({layout})")
    n_frames = len(samples) // (4 * layout.n_channels)
    frames = np.frombuffer(samples, dtype="<f4", count=n_frames * layout.n_channels)
    return frames.reshape(n_frames, layout.n_channels), layout.rate_hz, source


@dataclasses.dataclass(frozen=True)
class _WavLayout:
    n_channels: int
    rate_hz: int
    bits: int


def _read_wav_stream_header(stream: io.BufferedReader) -> _WavLayout | None:
    """Read a streamed WAV header chunk by chunk, stopping exactly where the samples begin.

    None when the stream ends (ffmpeg could not open the input) or is not WAV.
    Stopping exactly at the samples lets the rest be read as one buffer that
    numpy wraps without a copy.
    """
    riff = stream.read(12)
    if len(riff) < 12 or riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
        return None
    layout = None
    while True:
        head = stream.read(8)
        if len(head) < 8:
            return None
        chunk_id, (size,) = head[:4], struct.unpack("<I", head[4:])
        if chunk_id == b"data":
            return layout
        body = stream.read(size + (size & 1))
        if len(body) < size:
            return None
        if chunk_id == b"fmt " and size >= 16:
            n_channels, rate_hz = struct.unpack("<HI", body[2:8])
            (bits,) = struct.unpack("<H", body[14:16])
            layout = _WavLayout(n_channels=n_channels, rate_hz=rate_hz, bits=bits)


_FFMPEG_LOG_LINE = re.compile(r"^(?:\[[^\]]*@ 0x[0-9a-f]+\] )?\[(\w+)\] (.*)$")
_FFMPEG_INPUT = re.compile(r"^Input #0, (.+), from '")
_FFMPEG_DURATION = re.compile(r"^\s*Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_FFMPEG_STREAM = re.compile(r"^\s*Stream #0:\d+\S*: (\w+): (\w+)")


def _read_log(log_path: str) -> list[tuple[str, str]]:
    """(level, message) for every line ffmpeg has logged so far."""
    with open(log_path, "rb") as log:
        text = log.read().decode("utf-8", "replace")
    lines = []
    for raw in text.splitlines():
        match = _FFMPEG_LOG_LINE.match(raw)
        if match:
            lines.append((match[1], match[2]))
        elif raw.strip():
            lines.append(("info", raw))     # a message's continuation line
    return lines


def _parse_ffmpeg_log(lines: list[tuple[str, str]], extension: str) -> _FfmpegInput:
    """Container, codec, duration and stream kinds from the input section of ffmpeg's log.

    Only names and the length come from here (a log format that has been stable
    for many releases); the sample layout comes from the WAV header ffmpeg
    writes, so a change in the log can cost a check but never garble samples.
    """
    container, codec, duration_s, kinds = "unknown", "unknown", None, []
    in_input = False
    for level, message in lines:
        if level != "info":
            continue
        if match := _FFMPEG_INPUT.match(message):
            names = match[1].split(",")
            container = extension.lstrip(".") if extension.lstrip(".") in names else names[0]
            in_input = True
        elif message.startswith(("Stream mapping:", "Output #")):
            in_input = False
        elif in_input and (match := _FFMPEG_DURATION.match(message)):
            duration_s = _positive_float(int(match[1]) * 3600 + int(match[2]) * 60 + float(match[3]))
        elif in_input and (match := _FFMPEG_STREAM.match(message)):
            kinds.append(match[1].lower())
            if match[1] == "Audio" and codec == "unknown":
                codec = match[2]
    return _FfmpegInput(container=container, codec=codec, duration_s=duration_s, stream_kinds=tuple(kinds))


def _ffmpeg_errors(lines: list[tuple[str, str]], path: str) -> list[str]:
    """ffmpeg's error messages, with the temporary file's path taken out."""
    return [message.replace(path + ": ", "").replace(path, "the file") for level, message in lines
            if level in ("error", "fatal", "panic")]


def _ffmpeg_open_failure(lines: list[tuple[str, str]], path: str, data: bytes, soundfile_reason: str) -> str:
    errors = _ffmpeg_errors(lines, path)
    if any("matches no streams" in message for message in errors):
        kinds = sorted(set(_parse_ffmpeg_log(lines, "").stream_kinds))
        what = f"only {'/'.join(kinds)} streams" if kinds else "no streams"
        name = _audio_container_from_magic(data)
        if name is not None:     # an audio container that lost its audio track: damage, not the wrong file
            return f"corrupt {name} file: no audio stream ({what})"
        return f"not an audio file: no audio stream ({what})"
    return _unreadable_reason(data, errors, soundfile_reason)


_MAGIC_NAMES = ((b"RIFF", 0, "WAV"), (b"RIFX", 0, "WAV"), (b"fLaC", 0, "FLAC"), (b"OggS", 0, "Ogg"),
                (b"ftyp", 4, "MP4/M4A"), (b"ID3", 0, "MP3"), (b"FORM", 0, "AIFF"))


def _unreadable_reason(data: bytes, ffmpeg_messages: list[str], soundfile_reason: str) -> str:
    """Neither decoder could open the file: say whether it looked like audio at all.

    ffmpeg falls back to guessing the demuxer from the extension, so its message
    alone ("moov atom not found") would call a text file named .m4a a broken M4A.
    The file's magic bytes decide between "corrupt X" and "not an audio file".
    """
    ffmpeg_detail = _short(ffmpeg_messages[-1]) if ffmpeg_messages else "no message"
    name = _audio_container_from_magic(data)
    if name is None:
        return f"not an audio file or unrecognised format ({len(data)} bytes; ffmpeg: {ffmpeg_detail})"
    if name == "MP4/M4A" and any("moov atom not found" in line for line in ffmpeg_messages):
        return "truncated or corrupt MP4/M4A: its index (moov atom) is missing"
    libsndfile_detail = _libsndfile_detail(soundfile_reason)
    if libsndfile_detail == "Format not recognised":     # says nothing: libsndfile does not read MP4 at all
        return f"corrupt or truncated {name} file (ffmpeg: {ffmpeg_detail})"
    return f"corrupt or truncated {name} file (libsndfile: {libsndfile_detail}; ffmpeg: {ffmpeg_detail})"


def _audio_container_from_magic(data: bytes) -> str | None:
    for magic, offset, name in _MAGIC_NAMES:
        if data[offset:offset + len(magic)] == magic:
            return name
    return None


# --------------------------------------------------------------------------- shared checks and formatting

def _check_channels(n_channels: int) -> None:
    if n_channels > _MAX_CHANNELS:
        raise AudioDecodeError(f"recording has {n_channels} channels; only mono or stereo "
                               f"(one channel per side of the call) is supported")
    if n_channels <= 0:
        raise AudioDecodeError(f"corrupt header: {n_channels} channels")


def _check_duration(duration_s: float, max_duration_s: float, *, source: str) -> None:
    if duration_s > max_duration_s:
        length, limit = _format_pair(duration_s, max_duration_s)
        where = "" if source == "header" else " once decoded"
        raise AudioDecodeError(f"recording is {length}{where}, over the {limit} limit")


def _check_not_short(decoded_s: float, header_s: float, container: str) -> None:
    """A stream that stops well before the length its header states was cut short.

    The slack absorbs codec priming and padding (AAC, Opus, MP3 differ from the
    header by tens of milliseconds) without hiding a real truncation.
    """
    slack_s = max(0.25, 0.01 * header_s)
    if decoded_s < header_s - slack_s:
        raise AudioDecodeError(f"truncated {container} stream: it ends at {decoded_s:.1f} s of the "
                               f"{header_s:.1f} s its header declares")


def _format_pair(value_s: float, limit_s: float) -> tuple[str, str]:
    """Both durations in the limit's unit, with enough decimals that they differ."""
    unit, scale = ("h", 3600.0) if limit_s >= 3600 else ("min", 60.0) if limit_s >= 60 else ("s", 1.0)
    for decimals in (1, 2, 3):
        value, limit = f"{value_s / scale:.{decimals}f} {unit}", f"{limit_s / scale:.{decimals}f} {unit}"
        if value != limit:
            break
    return value, limit


def _positive_float(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _libsndfile_detail(message: str) -> str:
    """libsndfile's reason without its "Error opening <_io.BytesIO object at 0x...>:" or "Error :" preamble."""
    detail = message.split(">:", 1)[-1].strip()
    detail = detail.removeprefix("Error :").strip().rstrip(".")
    return _short(detail)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_REASON_DETAIL_CHARS else text[:_MAX_REASON_DETAIL_CHARS - 3] + "..."
