"""From the raw bytes of one call recording to float32 channels at the model's rate.

Two decoders, tried in order:

1. libsndfile (through soundfile) on the recording's file object (or an
   in-memory buffer). It reads WAV in every PCM width, float, mu-law and A-law,
   FLAC, Ogg Vorbis, Ogg Opus and MP3 (libsndfile >= 1.1) without a subprocess
   or a temporary file, which is what most call archives hold, so it is the fast path.
2. ffmpeg, in a subprocess on a temporary file, for everything libsndfile does
   not recognise: M4A/MP4 (AAC), raw AAC, WebM, WAV with exotic codecs. A file
   rather than a pipe because an MP4 whose index (moov) sits at the end cannot
   be read from a pipe, and ffmpeg writes it there by default.

Both decode in blocks of about a second, and each block is resampled at once
(soxr HQ, streaming: the same samples as resampling the whole recording) into
one array at the target rate, sized from the header. Memory is therefore the
call at the model's rate plus a block, whatever the source's rate or channel
count: three hours of 48 kHz stereo WAV (2.07 GB) would be 4.1 GB as float32 at
its own rate, and 1.4 GB at 16 kHz. Given a file object rather than bytes, the
recording itself is never held in memory either: only its header and tail are
read for the checks below, and the samples a block at a time.

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
from typing import BinaryIO

import numpy as np
import soundfile as sf
import soxr

from beam_pipeline.audio.dc import HighPass

_MAX_CHANNELS = 2                  # one channel per side of a call; more is not a call recording
_RESAMPLE_QUALITY = "HQ"
_MAX_REASON_DETAIL_CHARS = 160     # library messages quoted in a reason are cut to this
_FFMPEG_TIMEOUT_FLOOR_S = 120.0    # plus the recording's duration: decoding slower than real time means it hangs
_OGG_MAX_PAGE_BYTES = 27 + 255 + 255 * 255
_WAV_UNKNOWN_SIZES = (0, 0xFFFFFFFF)   # what streaming writers leave in the data-chunk size
_BLOCK_FRAMES = 1 << 16            # frames decoded and resampled at a time (1.4 s at 48 kHz)
_COPY_BLOCK_BYTES = 1 << 20        # spooling a file object to disk, for ffmpeg
_UNKNOWN_LENGTH_GUESS_S = 600.0    # first allocation when no header states the length; grown as needed


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


@dataclasses.dataclass(frozen=True)
class _Target:
    """What the decoder delivers: the sample rate, and the high-pass cutoff (None: the samples as decoded)."""

    rate_hz: int
    high_pass_hz: float | None


def decode_audio(data: bytes | BinaryIO, filename: str, *, target_rate_hz: int = 16000,
                 max_duration_s: float = 4 * 3600.0, high_pass_hz: float | None = None) -> DecodedAudio:
    """Decode one recording to float32 channels at `target_rate_hz`.

    Parameters
    ----------
    data
        The whole file as bytes, or a binary file object opened on it (seekable
        or not; a non-seekable one is spooled to a temporary file first). A file
        object is what keeps a long recording's bytes out of memory.
    filename
        Its name or URI. Only the extension is used, as a hint to ffmpeg and to
        name the container in `source_format`; the content decides the format.
    target_rate_hz
        The rate of the returned channels (the model's feature rate).
    max_duration_s
        Longer recordings are rejected, from the header when it states the
        length, so that a mislabelled multi-hour file cannot exhaust a worker.
    high_pass_hz
        If given, every channel goes through `audio.dc.HighPass` at this cutoff
        block by block at the source rate, before resampling (the job passes
        `dc.HIGH_PASS_HZ`; without it the samples are exactly the decoder's).

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
        For wrong arguments (not bytes or a binary file, a non-positive rate or limit): a
        programming or configuration error that should stop the run rather
        than turn every recording into an errors row.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)) and not callable(getattr(data, "read", None)):
        raise TypeError(f"data must be bytes or a binary file object, got {type(data).__name__}")
    if int(target_rate_hz) <= 0 or int(target_rate_hz) != target_rate_hz:
        raise ValueError(f"target_rate_hz must be a positive integer, got {target_rate_hz!r}")
    if not max_duration_s > 0:
        raise ValueError(f"max_duration_s must be positive, got {max_duration_s!r}")
    try:
        with _Source.of(data) as source:
            channels, source_rate_hz, source_format = _decode_native(
                source, filename, max_duration_s, _Target(int(target_rate_hz), high_pass_hz))
    except AudioDecodeError:
        raise
    except OSError as exc:       # the storage failed mid-read: not the recording's fault, but its row's
        raise AudioDecodeError(f"could not read the file: {_short(str(exc))}") from exc
    except Exception as exc:  # noqa: BLE001 - the contract: one bad file becomes one errors row
        raise AudioDecodeError(f"unexpected {type(exc).__name__} while decoding: "
                               f"{_short(str(exc))}") from exc
    return DecodedAudio(channels=channels, sample_rate_hz=int(target_rate_hz),
                        source_sample_rate_hz=int(source_rate_hz), source_format=source_format)


# --------------------------------------------------------------------------- the source: bytes or a file

class _Source:
    """The recording as a seekable binary file, with the few byte ranges the checks read.

    The checks need the header (magic bytes, WAV chunks, an MP3's first frame),
    the tail (the last Ogg page) and the size; the decoders need a file to read
    from. Bytes are wrapped without a copy; a seekable file object is used as it
    is; anything else is spooled to a temporary file in 1 MB pieces, never to memory.
    """

    def __init__(self, handle: BinaryIO, spooled: bool):
        self.file = handle
        self._spooled = spooled
        handle.seek(0, io.SEEK_END)
        self.size = handle.tell()
        handle.seek(0)
        self.head = self.read_at(0, 4096)

    @classmethod
    def of(cls, data: bytes | BinaryIO) -> "_Source":
        if isinstance(data, (bytes, bytearray, memoryview)):
            return cls(io.BytesIO(data), spooled=False)
        seekable = getattr(data, "seekable", None)
        if callable(seekable) and seekable():
            return cls(data, spooled=False)
        spool = tempfile.TemporaryFile(prefix="callmood-source-")
        shutil.copyfileobj(data, spool, _COPY_BLOCK_BYTES)
        return cls(spool, spooled=True)

    def __enter__(self) -> "_Source":
        return self

    def __exit__(self, *exc_info) -> None:
        if self._spooled:
            self.file.close()

    def read_at(self, offset: int, n_bytes: int) -> bytes:
        """Bytes at `offset`, leaving the file where it was: libsndfile reads the same file object."""
        position = self.file.tell()
        self.file.seek(max(0, offset))
        chunk = self.file.read(max(0, n_bytes)) if offset < self.size else b""
        self.file.seek(position)
        return chunk

    def tail(self, n_bytes: int) -> bytes:
        return self.read_at(self.size - n_bytes, n_bytes)

    def copy_to(self, path: str) -> None:
        self.file.seek(0)
        with open(path, "wb") as handle:
            shutil.copyfileobj(self.file, handle, _COPY_BLOCK_BYTES)
        self.file.seek(0)


# --------------------------------------------------------------------------- blocks in, channels out

class _ResampledChannels:
    """Receives decoded blocks at the source rate; holds the recording at the target rate, high-passed if asked.

    The output array is allocated once, from the expected number of source
    frames, and written block by block (transposed, resampled and clipped), so
    the peak is the result plus one block. A stream longer than expected (a
    header that understated it, or none) grows the array by half each time.
    Non-finite samples are counted over the whole stream, so the reason can say
    how many there are; resampling stops at the first (the recording is rejected).
    """

    def __init__(self, n_channels: int, source_rate_hz: int, target: "_Target", expected_frames: int):
        self.n_channels = n_channels
        self.source_rate_hz = source_rate_hz
        self.target_rate_hz = target_rate_hz = target.rate_hz
        self.source_frames = 0
        self.non_finite = 0
        # before the resampler: at a call's own 8 kHz that is half the samples of filtering at 16 kHz
        self._high_pass = (HighPass(n_channels, source_rate_hz, target.high_pass_hz)
                           if target.high_pass_hz is not None else None)
        self._stream = (soxr.ResampleStream(source_rate_hz, target_rate_hz, n_channels, dtype="float32",
                                            quality=_RESAMPLE_QUALITY)
                        if source_rate_hz != target_rate_hz else None)
        self._buffer = np.empty((n_channels, self._output_frames(max(0, expected_frames)) + 2), dtype=np.float32)
        self._written = 0

    def _output_frames(self, source_frames: int) -> int:
        return int(round(source_frames * self.target_rate_hz / self.source_rate_hz))

    def add(self, frames: np.ndarray) -> None:
        """One block, (n_frames, n_channels) float32 at the source rate."""
        self.source_frames += frames.shape[0]
        finite = np.isfinite(frames)
        if not finite.all():
            self.non_finite += int(frames.size - np.count_nonzero(finite))
        if self.non_finite:
            return
        if self._high_pass is not None:
            frames = self._high_pass(frames)
        if self._stream is not None:
            frames = self._stream.resample_chunk(np.ascontiguousarray(frames, dtype=np.float32), last=False)
        self._write(frames)

    def finish(self) -> np.ndarray:
        """(n_channels, n_samples) at the target rate, in [-1, 1]; raises on non-finite samples."""
        if self.non_finite:
            raise AudioDecodeError(f"recording holds {self.non_finite} non-finite samples (NaN or inf)")
        if self._stream is not None:
            self._write(self._stream.resample_chunk(np.zeros((0, self.n_channels), dtype=np.float32), last=True))
        return _trimmed(self._buffer, self._written)

    def _write(self, frames: np.ndarray) -> None:
        end = self._written + frames.shape[0]
        if end > self._buffer.shape[1]:
            grown = np.empty((self.n_channels, max(end, self._buffer.shape[1] * 3 // 2)), dtype=np.float32)
            grown[:, : self._written] = self._buffer[:, : self._written]
            self._buffer = grown
        target = self._buffer[:, self._written:end]
        target[...] = frames.T
        np.clip(target, -1.0, 1.0, out=target)
        self._written = end


def _trimmed(buffer: np.ndarray, n_samples: int) -> np.ndarray:
    """The first `n_samples` of each row as a C-contiguous array, without a second full-size copy.

    Rows are moved down inside the buffer's own memory (forward, a megabyte at a
    time through a small temporary, which is safe because each row moves to an
    earlier address); the result is a view of the buffer. When the buffer is
    much larger than the result (a header that overstated the length), a fresh
    array is cheaper to keep than the slack.
    """
    n_channels, capacity = buffer.shape
    if n_samples == capacity:
        return buffer
    if capacity > 2 * n_samples + _BLOCK_FRAMES:
        return np.ascontiguousarray(buffer[:, :n_samples])
    flat = buffer.reshape(-1)
    step = 1 << 18
    for channel in range(1, n_channels):
        source, target = channel * capacity, channel * n_samples
        for offset in range(0, n_samples, step):
            count = min(step, n_samples - offset)
            flat[target + offset:target + offset + count] = flat[source + offset:source + offset + count].copy()
    return flat[: n_channels * n_samples].reshape(n_channels, n_samples)


# --------------------------------------------------------------------------- orchestration

def _decode_native(source: _Source, filename: str, max_duration_s: float, target: "_Target"
                   ) -> tuple[np.ndarray, int, str]:
    """Channels (n_channels, n_samples) at the target rate, the recording's own rate and its format name.

    Non-finite samples (float WAV can carry NaN/inf) are an error: they would
    poison every feature and level computed downstream.
    """
    if source.size == 0:
        raise AudioDecodeError("empty file (0 bytes)")
    try:
        sound = sf.SoundFile(source.file)
    except (sf.LibsndfileError, RuntimeError) as exc:
        # libsndfile does not know this container or codec: ffmpeg's turn.
        source.file.seek(0)
        return _decode_with_ffmpeg(source, filename, max_duration_s, target, soundfile_reason=str(exc))
    with sound:
        return _decode_with_soundfile(source, sound, max_duration_s, target)


# --------------------------------------------------------------------------- soundfile path

def _decode_with_soundfile(source: _Source, info: sf.SoundFile, max_duration_s: float, target: "_Target"
                           ) -> tuple[np.ndarray, int, str]:
    container = {"WAVEX": "wav"}.get(info.format, info.format.lower())
    source_format = "mp3" if info.format == "MP3" else f"{container}/{info.subtype}"
    rate_hz = int(info.samplerate)
    if rate_hz <= 0:
        raise AudioDecodeError(f"corrupt {container} header: sample rate {rate_hz} Hz")
    _check_channels(int(info.channels))

    wav_sizes = _wav_data_sizes(source) if container == "wav" else None
    header_frames = int(info.frames)
    if wav_sizes is not None and wav_sizes.declared_bytes not in _WAV_UNKNOWN_SIZES:
        # libsndfile quietly shortens a truncated WAV to what is present; the limit and the
        # truncation check want what the header promised.
        header_frames = wav_sizes.declared_bytes // wav_sizes.block_align
    _check_duration(header_frames / rate_hz, max_duration_s, source="header")
    if wav_sizes is not None and wav_sizes.declared_bytes not in _WAV_UNKNOWN_SIZES:
        present_frames = wav_sizes.present_bytes // wav_sizes.block_align
        _check_not_short(present_frames / rate_hz, header_frames / rate_hz, "WAV")
    if container == "ogg" and not _ogg_ends_with_eos_page(source.tail(_OGG_MAX_PAGE_BYTES)):
        raise AudioDecodeError("truncated Ogg stream: it stops before its end-of-stream page")

    # Read at most one frame past the limit, so a header that understates the length
    # (an MP3 length estimated from its size) cannot make us decode hours.
    max_frames = int(math.floor(max_duration_s * rate_hz)) + 1
    output = _ResampledChannels(int(info.channels), rate_hz, target,
                                expected_frames=min(max(header_frames, int(info.frames)), max_frames))
    try:
        while output.source_frames < max_frames:
            block = info.read(frames=min(_BLOCK_FRAMES, max_frames - output.source_frames), dtype="float32",
                              always_2d=True)
            if block.shape[0] == 0:
                break
            output.add(block)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioDecodeError(f"corrupt or truncated {container} stream: {_libsndfile_detail(str(exc))}"
                               ) from exc
    n_frames = output.source_frames
    _check_duration(n_frames / rate_hz, max_duration_s, source="decoded")
    if n_frames == 0:
        raise AudioDecodeError(f"recording holds no audio frames (empty {container} stream)")
    channels = output.finish()
    if _frame_count_is_exact(container, source) and header_frames > 0:
        _check_not_short(n_frames / rate_hz, header_frames / rate_hz, container)
    return channels, rate_hz, source_format


def _frame_count_is_exact(container: str, source: _Source) -> bool:
    """Whether libsndfile's frame count is a promise from the header rather than an estimate.

    FLAC's STREAMINFO holds the exact count; an MP3 holds one only in a Xing/Info
    or VBRI frame (otherwise libsndfile guesses from the file size, and a VBR file
    would look truncated). WAV is checked on its data chunk, Ogg on its last page.
    """
    if container == "flac":
        return True
    if container == "mp3":
        return _mp3_has_length_header(source)
    return False


@dataclasses.dataclass(frozen=True)
class _WavSizes:
    declared_bytes: int
    present_bytes: int
    block_align: int


def _wav_data_sizes(source: _Source) -> _WavSizes | None:
    """The data chunk's declared and present byte counts from a RIFF/RIFX WAVE header.

    libsndfile hides a truncation (it trims the frame count to the bytes present),
    so the chunk walk is done here. None when the header is not one this walk
    understands (RF64, W64, a missing fmt or data chunk): no check is then made.
    Only the chunk headers are read, so a long file costs a few small reads.
    """
    head = source.head
    if source.size < 12 or head[8:12] != b"WAVE" or head[:4] not in (b"RIFF", b"RIFX"):
        return None
    endian = "<" if head[:4] == b"RIFF" else ">"
    offset, block_align = 12, 0
    while offset + 8 <= source.size:
        chunk = source.read_at(offset, 22)       # id, size, and the fmt fields up to block_align
        chunk_id = chunk[:4]
        (chunk_size,) = struct.unpack(endian + "I", chunk[4:8])
        body = offset + 8
        if chunk_id == b"fmt " and len(chunk) >= 22:
            (block_align,) = struct.unpack(endian + "H", chunk[20:22])
        elif chunk_id == b"data":
            if block_align <= 0:
                return None
            return _WavSizes(declared_bytes=chunk_size, present_bytes=source.size - body, block_align=block_align)
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


def _mp3_has_length_header(source: _Source) -> bool:
    """An MP3 whose first frame is a Xing/Info/VBRI frame, which states the exact frame count."""
    start, data = 0, source.head
    if data[:3] == b"ID3" and len(data) >= 10:
        size = 0
        for byte in data[6:10]:                      # ID3v2 sizes are "syncsafe": 7 bits per byte
            size = (size << 7) | (byte & 0x7F)
        start = 10 + size + (10 if data[5] & 0x10 else 0)   # plus the footer, when flagged
    first_frame = source.read_at(start, 200)
    return any(tag in first_frame for tag in (b"Xing", b"Info", b"VBRI"))


# --------------------------------------------------------------------------- ffmpeg path

@dataclasses.dataclass(frozen=True)
class _FfmpegInput:
    """What ffmpeg's log says about the input, read before the samples are."""

    container: str
    codec: str
    duration_s: float | None
    stream_kinds: tuple[str, ...]     # "audio", "video", ... for every stream of the input


def _decode_with_ffmpeg(source: _Source, filename: str, max_duration_s: float, target: "_Target", *,
                        soundfile_reason: str) -> tuple[np.ndarray, int, str]:
    """One ffmpeg process: float32 WAV on stdout, its log in a file, checks made between the two.

    A single process rather than ffprobe then ffmpeg, because starting ffmpeg
    (loading its libraries) costs more than decoding a minute of AAC. The length
    and channel checks still come before the decoding: ffmpeg logs the input's
    duration and writes the WAV header after its first frame, and the process is
    killed there when either is over the limit. The log goes to a file, not a
    pipe, so a stream that logs an error per frame cannot block ffmpeg while we
    read its stdout. The samples are read from the pipe a block at a time and
    resampled as they come, like libsndfile's.
    """
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AudioDecodeError(f"format needs ffmpeg, which is not installed "
                               f"(libsndfile: {_libsndfile_detail(soundfile_reason)})")
    extension = os.path.splitext(filename)[1].lower()
    suffix = extension if re.fullmatch(r"\.[a-z0-9]{1,8}", extension) else ""
    with tempfile.TemporaryDirectory(prefix="callmood-decode-") as folder:
        path = os.path.join(folder, "recording" + suffix)
        source.copy_to(path)
        output, found = _run_ffmpeg(ffmpeg, path, os.path.join(folder, "ffmpeg.log"), source, extension,
                                    max_duration_s, target, soundfile_reason)
    source_format = found.container if found.codec == found.container else f"{found.container}/{found.codec}"
    decoded_s = output.source_frames / output.source_rate_hz
    _check_duration(decoded_s, max_duration_s, source="decoded")
    if output.source_frames == 0:
        raise AudioDecodeError(f"recording holds no audio frames (empty {found.container} stream)")
    channels = output.finish()
    if found.duration_s is not None:
        _check_not_short(decoded_s, found.duration_s, found.container)
    return channels, output.source_rate_hz, source_format


def _run_ffmpeg(ffmpeg: str, path: str, log_path: str, recording: _Source, extension: str,
                max_duration_s: float, target: "_Target", soundfile_reason: str
                ) -> tuple[_ResampledChannels, _FfmpegInput]:
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
        output = None
        if layout is not None:
            _check_channels(layout.n_channels)
            if source.duration_s is not None:
                _check_duration(source.duration_s, max_duration_s, source="header")
            if layout.bits != 32 or layout.rate_hz <= 0:
                raise AudioDecodeError(f"ffmpeg produced unexpected output ({layout})")
            output = _read_ffmpeg_samples(process.stdout, layout, source.duration_s, target)
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
        raise AudioDecodeError(_ffmpeg_open_failure(lines, path, recording, soundfile_reason))
    if return_code != 0:
        errors = _ffmpeg_errors(lines, path)
        raise AudioDecodeError(f"corrupt or truncated {source.container} stream: "
                               f"{_short(errors[-1] if errors else f'ffmpeg exited with {return_code}')}")
    assert output is not None       # layout is not None, so the samples were read
    return output, source


def _read_ffmpeg_samples(stream: io.BufferedReader, layout: "_WavLayout", duration_s: float | None,
                         target: "_Target") -> _ResampledChannels:
    """ffmpeg's float32 samples from its stdout, a block at a time, into channels at the target rate."""
    expected_s = duration_s if duration_s is not None else _UNKNOWN_LENGTH_GUESS_S
    output = _ResampledChannels(layout.n_channels, layout.rate_hz, target,
                                expected_frames=int(math.ceil(expected_s * layout.rate_hz)))
    frame_bytes = 4 * layout.n_channels
    pending = b""
    while True:
        chunk = stream.read(_BLOCK_FRAMES * frame_bytes)
        if not chunk:
            break
        chunk = pending + chunk
        usable = len(chunk) - len(chunk) % frame_bytes
        pending = chunk[usable:]
        if usable:
            frames = np.frombuffer(chunk, dtype="<f4", count=usable // 4).reshape(-1, layout.n_channels)
            output.add(frames)
    return output


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


def _ffmpeg_open_failure(lines: list[tuple[str, str]], path: str, source: _Source, soundfile_reason: str) -> str:
    errors = _ffmpeg_errors(lines, path)
    if any("matches no streams" in message for message in errors):
        kinds = sorted(set(_parse_ffmpeg_log(lines, "").stream_kinds))
        what = f"only {'/'.join(kinds)} streams" if kinds else "no streams"
        name = _audio_container_from_magic(source.head)
        if name is not None:     # an audio container that lost its audio track: damage, not the wrong file
            return f"corrupt {name} file: no audio stream ({what})"
        return f"not an audio file: no audio stream ({what})"
    return _unreadable_reason(source, errors, soundfile_reason)


_MAGIC_NAMES = ((b"RIFF", 0, "WAV"), (b"RIFX", 0, "WAV"), (b"fLaC", 0, "FLAC"), (b"OggS", 0, "Ogg"),
                (b"ftyp", 4, "MP4/M4A"), (b"ID3", 0, "MP3"), (b"FORM", 0, "AIFF"))


def _unreadable_reason(source: _Source, ffmpeg_messages: list[str], soundfile_reason: str) -> str:
    """Neither decoder could open the file: say whether it looked like audio at all.

    ffmpeg falls back to guessing the demuxer from the extension, so its message
    alone ("moov atom not found") would call a text file named .m4a a broken M4A.
    The file's magic bytes decide between "corrupt X" and "not an audio file".
    """
    ffmpeg_detail = _short(ffmpeg_messages[-1]) if ffmpeg_messages else "no message"
    name = _audio_container_from_magic(source.head)
    if name is None:
        return f"not an audio file or unrecognised format ({source.size} bytes; ffmpeg: {ffmpeg_detail})"
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
