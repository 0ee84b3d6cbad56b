"""Decoding recordings: every format and rate a call archive holds, and every way a file can be bad.

Each test writes its recording on the fly (soundfile for what libsndfile writes,
ffmpeg for M4A and LAME-encoded MP3) from a known signal: a 440 Hz tone on the
left channel and a 1 kHz tone on the right. Lossless formats must come back
sample for sample (up to quantisation and the resampler); lossy ones must keep
each tone on its own channel at about the same level and length. Channel order
matters because in a stereo call each channel is one side of the call.
"""
from __future__ import annotations

import io
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from beam_pipeline.audio.decode import AudioDecodeError, DecodedAudio, decode_audio

TONES_HZ = (440.0, 1000.0)     # left, right
AMPLITUDE = 0.5
DURATION_S = 2.0
TARGET_RATE_HZ = 16000
TONE_RMS = AMPLITUDE / np.sqrt(2)

# A skip the session fails on (tests/conftest.py): scripts/install_system_deps.sh installs ffmpeg.
NO_FFMPEG = "ffmpeg is not installed (scripts/install_system_deps.sh installs it)"
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason=NO_FFMPEG)


# --------------------------------------------------------------------------- signals and writers

def tone_frames(rate_hz: int, n_channels: int = 2, duration_s: float = DURATION_S,
                amplitude: float = AMPLITUDE) -> np.ndarray:
    """(n_frames, n_channels) float64: channel c carries TONES_HZ[c]."""
    time_s = np.arange(int(round(rate_hz * duration_s))) / rate_hz
    return np.stack([amplitude * np.sin(2 * np.pi * TONES_HZ[c % 2] * time_s) for c in range(n_channels)], axis=1)


def write_soundfile(path: Path, rate_hz: int, format_: str, subtype: str, n_channels: int = 2,
                    frames: np.ndarray | None = None) -> bytes:
    frames = tone_frames(rate_hz, n_channels) if frames is None else frames
    sf.write(path, frames, rate_hz, format=format_, subtype=subtype)
    return path.read_bytes()


def write_ffmpeg(path: Path, rate_hz: int, codec_args: list[str], n_channels: int = 2) -> bytes:
    """Encode the tone with ffmpeg from a float WAV, as a recorder or an export tool would."""
    source = path.with_name(path.stem + "-source.wav")
    sf.write(source, tone_frames(rate_hz, n_channels), rate_hz, subtype="FLOAT")
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(source), *codec_args, str(path)],
                   check=True, timeout=60)
    return path.read_bytes()


def dominant_hz(signal: np.ndarray, rate_hz: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(signal.size)))
    return float(np.fft.rfftfreq(signal.size, 1 / rate_hz)[np.argmax(spectrum)])


def assert_tones(audio: DecodedAudio, *, n_channels: int = 2, duration_tolerance_s: float,
                 rms_tolerance: float) -> None:
    """Shape, rate, dtype, range, length, each tone on its own channel, and its level."""
    assert audio.channels.dtype == np.float32
    assert audio.channels.ndim == 2 and audio.n_channels == n_channels
    assert audio.sample_rate_hz == TARGET_RATE_HZ
    assert abs(audio.duration_s - DURATION_S) <= duration_tolerance_s
    assert np.all(np.abs(audio.channels) <= 1.0)
    for channel, expected_hz in zip(audio.channels, TONES_HZ):
        assert dominant_hz(channel, audio.sample_rate_hz) == pytest.approx(expected_hz, abs=3.0)
        rms = float(np.sqrt(np.mean(channel[1600:-1600].astype(np.float64) ** 2)))
        assert rms == pytest.approx(TONE_RMS, rel=rms_tolerance)


def assert_waveform(audio: DecodedAudio, tolerance: float) -> None:
    """Sample-exact length and shape against the tone computed directly at the target rate."""
    reference = tone_frames(audio.sample_rate_hz, audio.n_channels).T
    assert audio.channels.shape == reference.shape
    interior = slice(audio.sample_rate_hz // 10, -audio.sample_rate_hz // 10)   # resampler edges
    assert np.max(np.abs(audio.channels[:, interior] - reference[:, interior])) < tolerance


# --------------------------------------------------------------------------- formats

LOSSLESS_WAV = [  # subtype, expected source_format, waveform tolerance (quantisation of the format)
    ("PCM_U8", "wav/PCM_U8", 0.02),
    ("PCM_16", "wav/PCM_16", 2e-4),
    ("PCM_24", "wav/PCM_24", 1e-5),
    ("PCM_32", "wav/PCM_32", 1e-5),
    ("FLOAT", "wav/FLOAT", 1e-5),
    ("ULAW", "wav/ULAW", 0.03),
    ("ALAW", "wav/ALAW", 0.03),
]


@pytest.mark.parametrize(("subtype", "source_format", "tolerance"), LOSSLESS_WAV, ids=[c[0] for c in LOSSLESS_WAV])
def test_wav_encodings_come_back_sample_for_sample(tmp_path, subtype, source_format, tolerance):
    data = write_soundfile(tmp_path / "call.wav", 8000, "WAV", subtype)
    audio = decode_audio(data, "call.wav")
    assert audio.source_format == source_format
    assert audio.source_sample_rate_hz == 8000
    assert_waveform(audio, tolerance)
    assert_tones(audio, duration_tolerance_s=1e-3, rms_tolerance=0.02)


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24"])
def test_flac_comes_back_sample_for_sample(tmp_path, subtype):
    data = write_soundfile(tmp_path / "call.flac", 8000, "FLAC", subtype)
    audio = decode_audio(data, "call.flac")
    assert audio.source_format == f"flac/{subtype}"
    assert_waveform(audio, 2e-4)


LOSSY = [  # id, file name, writer, expected source_format, duration tolerance (codec priming), rms tolerance
    ("ogg-vorbis", "call.ogg", ("sf", "OGG", "VORBIS"), "ogg/VORBIS", 0.05, 0.05),
    ("ogg-opus", "call.opus", ("sf", "OGG", "OPUS"), "ogg/OPUS", 0.05, 0.08),
    ("mp3-libsndfile", "call.mp3", ("sf", "MP3", "MPEG_LAYER_III"), "mp3", 0.1, 0.05),
    ("mp3-lame", "call.mp3", ("ffmpeg", ["-c:a", "libmp3lame", "-q:a", "2"]), "mp3", 0.1, 0.05),
    ("m4a-aac", "call.m4a", ("ffmpeg", ["-c:a", "aac"]), "m4a/aac", 0.1, 0.05),
]


def write_lossy(path: Path, rate_hz: int, writer: tuple, n_channels: int = 2) -> bytes:
    if writer[0] == "sf":
        return write_soundfile(path, rate_hz, writer[1], writer[2], n_channels)
    return write_ffmpeg(path, rate_hz, writer[1], n_channels)


@pytest.mark.parametrize(("name", "writer", "source_format", "duration_tolerance_s", "rms_tolerance"),
                         [c[1:] for c in LOSSY], ids=[c[0] for c in LOSSY])
def test_lossy_formats_keep_each_tone_on_its_channel(tmp_path, name, writer, source_format,
                                                      duration_tolerance_s, rms_tolerance):
    if writer[0] == "ffmpeg" and shutil.which("ffmpeg") is None:
        pytest.skip(NO_FFMPEG)
    data = write_lossy(tmp_path / name, 8000, writer)
    audio = decode_audio(data, name)
    assert audio.source_format == source_format
    assert audio.source_sample_rate_hz == 8000
    assert_tones(audio, duration_tolerance_s=duration_tolerance_s, rms_tolerance=rms_tolerance)


RATES_HZ = [8000, 11025, 16000, 22050, 44100, 48000]


@pytest.mark.parametrize("rate_hz", RATES_HZ)
def test_every_call_sample_rate_is_resampled_to_the_target(tmp_path, rate_hz):
    wav = decode_audio(write_soundfile(tmp_path / "call.wav", rate_hz, "WAV", "PCM_16"), "call.wav")
    assert wav.source_sample_rate_hz == rate_hz
    assert_waveform(wav, 2e-4)


@needs_ffmpeg
@pytest.mark.parametrize("rate_hz", RATES_HZ)
def test_every_call_sample_rate_is_resampled_to_the_target_through_ffmpeg(tmp_path, rate_hz):
    """The m4a path (ffmpeg decodes, then the same resampler): its own test, so no ffmpeg is a skip, not a pass."""
    m4a = decode_audio(write_ffmpeg(tmp_path / "call.m4a", rate_hz, ["-c:a", "aac"]), "call.m4a")
    assert m4a.source_sample_rate_hz == rate_hz
    assert_tones(m4a, duration_tolerance_s=0.1, rms_tolerance=0.05)


def test_matching_rate_is_not_resampled(tmp_path):
    data = write_soundfile(tmp_path / "call.wav", TARGET_RATE_HZ, "WAV", "PCM_16")
    expected = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)[0].T
    audio = decode_audio(data, "call.wav")
    np.testing.assert_array_equal(audio.channels, expected)


def test_other_target_rate(tmp_path):
    data = write_soundfile(tmp_path / "call.flac", 48000, "FLAC", "PCM_24")
    audio = decode_audio(data, "call.flac", target_rate_hz=8000)
    assert audio.sample_rate_hz == 8000 and audio.channels.shape == (2, int(8000 * DURATION_S))
    assert dominant_hz(audio.channels[1], 8000) == pytest.approx(1000.0, abs=3.0)


@needs_ffmpeg
@pytest.mark.parametrize(("name", "writer"), [("call.wav", ("sf", "WAV", "ULAW")),
                                              ("call.m4a", ("ffmpeg", ["-c:a", "aac"]))])
def test_mono(tmp_path, name, writer):
    audio = decode_audio(write_lossy(tmp_path / name, 8000, writer, n_channels=1), name)
    assert audio.channels.shape[0] == 1 and audio.n_channels == 1
    assert dominant_hz(audio.channels[0], TARGET_RATE_HZ) == pytest.approx(440.0, abs=3.0)


@needs_ffmpeg
def test_content_not_extension_decides_the_format(tmp_path):
    data = write_ffmpeg(tmp_path / "call.m4a", 8000, ["-c:a", "aac"])
    audio = decode_audio(data, "gs://calls/2026-11-23/call.wav")
    assert audio.source_format.endswith("/aac")
    assert_tones(audio, duration_tolerance_s=0.1, rms_tolerance=0.05)


def test_float_wav_over_full_scale_is_clipped(tmp_path):
    data = write_soundfile(tmp_path / "hot.wav", 8000, "WAV", "FLOAT", frames=tone_frames(8000, amplitude=1.5))
    audio = decode_audio(data, "hot.wav")
    assert float(np.max(np.abs(audio.channels))) == 1.0


def test_streaming_wav_without_a_length_is_decoded(tmp_path):
    """Recorders that stream leave 0xFFFFFFFF in the data size: no promise, so nothing is truncated."""
    data = bytearray(write_soundfile(tmp_path / "call.wav", 8000, "WAV", "PCM_16"))
    data_chunk = data.find(b"data")
    data[data_chunk + 4:data_chunk + 8] = struct.pack("<I", 0xFFFFFFFF)
    audio = decode_audio(bytes(data), "call.wav")
    assert_waveform(audio, 2e-4)


# --------------------------------------------------------------------------- errors

def decode_error(data: bytes, filename: str, **kwargs) -> str:
    with pytest.raises(AudioDecodeError) as caught:
        decode_audio(data, filename, **kwargs)
    return str(caught.value)


def test_empty_file():
    assert decode_error(b"", "call.wav") == "empty file (0 bytes)"


@pytest.mark.parametrize(("data", "name"), [(b"callmood is not audio\n" * 200, "call.wav"),
                                            (b"callmood is not audio\n" * 200, "call.m4a"),
                                            (np.random.default_rng(7).bytes(20000), "call.mp3")],
                         ids=["text-as-wav", "text-as-m4a", "random-as-mp3"])
def test_not_audio(data, name):
    reason = decode_error(data, name)
    assert reason.startswith("not an audio file or unrecognised format")
    assert "/tmp" not in reason     # no temporary paths in the errors table


@needs_ffmpeg
def test_image_is_not_audio(tmp_path):
    image = tmp_path / "call.png"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "color=c=red:s=32x32",
                    "-frames:v", "1", str(image)], check=True, timeout=60)
    assert decode_error(image.read_bytes(), "call.wav") == "not an audio file: no audio stream (only video streams)"


TRUNCATABLE = [  # id, file name, writer
    ("wav", "call.wav", ("sf", "WAV", "PCM_16")),
    ("wav-ulaw", "call.wav", ("sf", "WAV", "ULAW")),
    ("flac", "call.flac", ("sf", "FLAC", "PCM_16")),
    ("ogg-vorbis", "call.ogg", ("sf", "OGG", "VORBIS")),
    ("ogg-opus", "call.opus", ("sf", "OGG", "OPUS")),
    ("mp3-lame", "call.mp3", ("ffmpeg", ["-c:a", "libmp3lame"])),
    ("m4a", "call.m4a", ("ffmpeg", ["-c:a", "aac"])),
    ("m4a-faststart", "call.m4a", ("ffmpeg", ["-c:a", "aac", "-movflags", "+faststart"])),
]


@pytest.mark.parametrize(("name", "writer"), [c[1:] for c in TRUNCATABLE], ids=[c[0] for c in TRUNCATABLE])
def test_truncated_recording_is_rejected(tmp_path, name, writer):
    if writer[0] == "ffmpeg" and shutil.which("ffmpeg") is None:
        pytest.skip(NO_FFMPEG)
    data = write_lossy(tmp_path / name, 8000, writer)
    assert "truncated" in decode_error(data[: len(data) * 6 // 10], name)


def test_truncated_wav_reason_says_how_much_is_there(tmp_path):
    data = write_soundfile(tmp_path / "call.wav", 8000, "WAV", "PCM_16")
    cut = 44 + int(0.5 * DURATION_S * 8000) * 4       # header + half the frames
    assert decode_error(data[:cut], "call.wav") == \
        "truncated WAV stream: it ends at 1.0 s of the 2.0 s its header declares"


def test_corrupt_flac(tmp_path):
    data = bytearray(write_soundfile(tmp_path / "call.flac", 8000, "FLAC", "PCM_16"))
    middle = len(data) // 2
    data[middle:middle + 400] = bytes(400)
    reason = decode_error(bytes(data), "call.flac")
    assert reason.startswith("corrupt or truncated flac stream")


def test_without_ffmpeg_libsndfile_formats_still_decode_and_m4a_says_why(tmp_path, monkeypatch):
    if shutil.which("ffmpeg"):
        m4a = write_ffmpeg(tmp_path / "call.m4a", 8000, ["-c:a", "aac"])
    else:
        m4a = b"\0\0\0\x20ftypM4A " + bytes(64)      # an M4A's first box is all this test needs
    flac = write_soundfile(tmp_path / "call.flac", 8000, "FLAC", "PCM_16")
    monkeypatch.setenv("PATH", str(tmp_path))          # a worker image without ffmpeg
    assert decode_audio(flac, "call.flac").n_channels == 2
    assert decode_error(m4a, "call.m4a").startswith("format needs ffmpeg, which is not installed")


def test_wav_with_no_frames(tmp_path):
    data = write_soundfile(tmp_path / "call.wav", 8000, "WAV", "PCM_16", frames=np.zeros((0, 2)))
    assert "no audio frames" in decode_error(data, "call.wav")


@pytest.mark.parametrize(("name", "writer"), [("call.wav", ("sf", "WAV", "PCM_16")),
                                              ("call.flac", ("sf", "FLAC", "PCM_16")),
                                              ("call.mp3", ("sf", "MP3", "MPEG_LAYER_III")),
                                              ("call.m4a", ("ffmpeg", ["-c:a", "aac"]))])
def test_too_long(tmp_path, name, writer):
    if writer[0] == "ffmpeg" and shutil.which("ffmpeg") is None:
        pytest.skip(NO_FFMPEG)
    data = write_lossy(tmp_path / name, 8000, writer)
    assert decode_error(data, name, max_duration_s=1.5) == "recording is 2.0 s, over the 1.5 s limit"


def test_too_long_is_judged_from_the_wav_header_before_decoding(tmp_path):
    """The header promises 5 h but holds 2 s: had it been decoded, the reason would be "truncated"."""
    data = bytearray(write_soundfile(tmp_path / "call.wav", 8000, "WAV", "PCM_16"))
    data_chunk = data.find(b"data")
    data[data_chunk + 4:data_chunk + 8] = struct.pack("<I", 5 * 3600 * 8000 * 4)
    assert decode_error(bytes(data), "call.wav") == "recording is 5.0 h, over the 4.0 h limit"


def test_too_long_is_judged_from_the_flac_header_before_decoding(tmp_path):
    data = bytearray(write_soundfile(tmp_path / "call.flac", 8000, "FLAC", "PCM_16"))
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0           # STREAMINFO comes first
    (packed,) = struct.unpack(">Q", data[18:26])                   # rate:20 channels:3 bits:5 total:36
    packed = (packed & ~((1 << 36) - 1)) | (5 * 3600 * 8000)
    data[18:26] = struct.pack(">Q", packed)
    assert decode_error(bytes(data), "call.flac") == "recording is 5.0 h, over the 4.0 h limit"


@pytest.mark.parametrize(("name", "writer", "n_channels"), [("call.wav", ("sf", "WAV", "PCM_16"), 3),
                                                            ("call.m4a", ("ffmpeg", ["-c:a", "aac"]), 6)])
def test_more_than_two_channels(tmp_path, name, writer, n_channels):
    if writer[0] == "ffmpeg" and shutil.which("ffmpeg") is None:
        pytest.skip(NO_FFMPEG)
    data = write_lossy(tmp_path / name, 8000, writer, n_channels=n_channels)
    assert decode_error(data, name).startswith(f"recording has {n_channels} channels")


@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_non_finite_samples(tmp_path, bad_value):
    frames = tone_frames(8000)
    frames[1000, 1] = bad_value
    data = write_soundfile(tmp_path / "call.wav", 8000, "WAV", "FLOAT", frames=frames)
    assert decode_error(data, "call.wav") == "recording holds 1 non-finite samples (NaN or inf)"


@needs_ffmpeg
def test_mangled_files_never_escape_as_other_exceptions(tmp_path):
    """Cut and scribbled-over files of every container: a decoded recording or an AudioDecodeError."""
    rng = np.random.default_rng(3)
    sources = [write_soundfile(tmp_path / "a.wav", 8000, "WAV", "PCM_16"),
               write_soundfile(tmp_path / "a.flac", 8000, "FLAC", "PCM_16"),
               write_soundfile(tmp_path / "a.ogg", 8000, "OGG", "VORBIS"),
               write_ffmpeg(tmp_path / "a.mp3", 8000, ["-c:a", "libmp3lame"]),
               write_ffmpeg(tmp_path / "a.m4a", 8000, ["-c:a", "aac", "-movflags", "+faststart"])]
    outcomes = {"decoded": 0, "rejected": 0}
    for data, name in zip(sources, ["a.wav", "a.flac", "a.ogg", "a.mp3", "a.m4a"]):
        for _ in range(4):
            mangled = bytearray(data)
            start = int(rng.integers(0, min(len(data), 200)))    # headers are where the damage hurts
            mangled[start:start + 16] = rng.bytes(16)
            for candidate in (bytes(mangled), bytes(mangled[: int(rng.integers(1, len(data)))])):
                try:
                    audio = decode_audio(candidate, name)
                except AudioDecodeError as exc:
                    assert str(exc) and not str(exc).startswith("unexpected")   # every case has a named reason
                    outcomes["rejected"] += 1
                else:
                    assert audio.channels.dtype == np.float32 and np.all(np.abs(audio.channels) <= 1)
                    outcomes["decoded"] += 1
    assert outcomes["rejected"] > 0


@pytest.mark.parametrize(("data", "kwargs", "error"), [("not bytes", {}, TypeError),
                                                       (b"x", {"target_rate_hz": 0}, ValueError),
                                                       (b"x", {"max_duration_s": 0.0}, ValueError)])
def test_bad_arguments_are_not_recording_errors(data, kwargs, error):
    """A wrong argument is the caller's bug: it must stop the run, not become an errors row per file."""
    with pytest.raises(error) as caught:
        decode_audio(data, "call.wav", **kwargs)
    assert not isinstance(caught.value, AudioDecodeError)


# --------------------------------------------------------------------------- streaming in blocks

def _whole_file_reference(path: Path, target_rate_hz: int = TARGET_RATE_HZ) -> np.ndarray:
    """What decoding used to be: every frame at the source rate in memory, then one resample of it all."""
    import soxr

    frames, rate_hz = sf.read(path, dtype="float32", always_2d=True)
    resampled = soxr.resample(frames, rate_hz, target_rate_hz, quality="HQ") if rate_hz != target_rate_hz else frames
    return np.clip(resampled.T, -1.0, 1.0)


class _PipeLike(io.RawIOBase):
    """A file object that cannot seek, as some storage clients' readers are."""

    def __init__(self, data: bytes):
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._inner.read(len(buffer))
        buffer[:len(chunk)] = chunk
        return len(chunk)


@pytest.mark.parametrize(("name", "subtype"), [("call.wav", "PCM_16"), ("call.flac", "PCM_24"), ("call.wav", "FLOAT")])
def test_block_decoding_gives_the_samples_of_whole_file_decoding(tmp_path, name, subtype):
    """Seven seconds of 48 kHz stereo span several decode blocks; the blocks must join without a seam."""
    path = tmp_path / name
    rng = np.random.default_rng(5)
    frames = np.clip(0.3 * rng.standard_normal((7 * 48000 + 123, 2)), -1, 1)
    sf.write(path, frames, 48000, subtype=subtype)
    reference = _whole_file_reference(path)
    with open(path, "rb") as handle:
        from_file = decode_audio(handle, name)
    from_bytes = decode_audio(path.read_bytes(), name)
    from_pipe = decode_audio(_PipeLike(path.read_bytes()), name)
    for audio in (from_file, from_bytes, from_pipe):
        assert audio.channels.flags["C_CONTIGUOUS"]
        np.testing.assert_array_equal(audio.channels, reference)


@needs_ffmpeg
def test_ffmpeg_output_read_in_blocks_gives_the_same_samples(tmp_path):
    data = write_ffmpeg(tmp_path / "call.m4a", 48000, ["-c:a", "aac"])
    with open(tmp_path / "call.m4a", "rb") as handle:
        from_file = decode_audio(handle, "call.m4a")
    np.testing.assert_array_equal(from_file.channels, decode_audio(data, "call.m4a").channels)
    assert_tones(from_file, duration_tolerance_s=0.1, rms_tolerance=0.05)


def test_truncation_and_header_limits_are_still_found_from_a_file_object(tmp_path):
    data = write_soundfile(tmp_path / "call.wav", 8000, "WAV", "PCM_16")
    (tmp_path / "cut.wav").write_bytes(data[: 44 + 8000 * 4])
    with open(tmp_path / "cut.wav", "rb") as handle:
        with pytest.raises(AudioDecodeError, match="truncated WAV stream: it ends at 1.0 s of the 2.0 s"):
            decode_audio(handle, "cut.wav")
    with open(tmp_path / "call.wav", "rb") as handle:
        with pytest.raises(AudioDecodeError, match="over the 1.5 s limit"):
            decode_audio(handle, "call.wav", max_duration_s=1.5)


def test_memory_is_the_decoded_call_at_the_model_rate_plus_a_block(tmp_path):
    """A minute of 48 kHz stereo: 23 MB as float32 at its own rate, 7.7 MB at 16 kHz."""
    import tracemalloc

    path = tmp_path / "long.wav"
    sf.write(path, tone_frames(48000, duration_s=60.0), 48000, subtype="PCM_16")
    decoded_bytes = 60 * TARGET_RATE_HZ * 2 * 4
    with open(path, "rb") as handle:
        tracemalloc.start()
        try:
            audio = decode_audio(handle, "long.wav")
            _, peak_bytes = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert audio.channels.nbytes == decoded_bytes
    assert peak_bytes < decoded_bytes + 3 * 2**20, f"peak {peak_bytes / 2**20:.1f} MB"
