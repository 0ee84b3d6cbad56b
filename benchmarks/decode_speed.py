"""Decode speed of `decode_audio` on a 60 s, 8 kHz stereo call in each archive format.

Prints, per format: file size, wall time of one decode to 16 kHz (best of N, so a
busy shared machine disturbs it least), the real-time factor (decode seconds per
audio second: smaller is faster) and its inverse (times faster than real time).
The call is a speech-like signal (noise bursts shaped by a syllable-rate envelope,
a different one on each side) so the lossy encoders do realistic work; each file
is encoded by ffmpeg, as export tools and recorders write them.

Run: .venv/bin/python benchmarks/decode_speed.py [--repeats 5] [--seconds 60]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from beam_pipeline.audio.decode import decode_audio  # noqa: E402

RATE_HZ = 8000
FORMATS = {  # label: (file name, ffmpeg codec arguments)
    "wav/ULAW": ("call.wav", ["-c:a", "pcm_mulaw"]),
    "flac": ("call.flac", ["-c:a", "flac"]),
    "mp3": ("call.mp3", ["-c:a", "libmp3lame", "-q:a", "4"]),
    "ogg/vorbis": ("call.ogg", ["-c:a", "libvorbis"]),
    "ogg/opus": ("call.opus", ["-c:a", "libopus", "-b:a", "24k"]),
    "m4a/aac": ("call.m4a", ["-c:a", "aac"]),
}


def speech_like_call(duration_s: float, rate_hz: int, seed: int = 0) -> np.ndarray:
    """(n_frames, 2): band-limited noise gated at about 4 syllables/s, agent and customer taking turns."""
    rng = np.random.default_rng(seed)
    n_frames = int(duration_s * rate_hz)
    time_s = np.arange(n_frames) / rate_hz
    noise = rng.standard_normal((n_frames, 2))
    spectrum = np.fft.rfft(noise, axis=0)
    frequency_hz = np.fft.rfftfreq(n_frames, 1 / rate_hz)
    spectrum[(frequency_hz < 150) | (frequency_hz > 3400)] = 0        # the telephone band
    voiced = np.fft.irfft(spectrum, n=n_frames, axis=0)
    syllables = 0.5 * (1 + np.sin(2 * np.pi * 4.0 * time_s))
    agent_talks = (time_s % 10.0) < 5.0                                # 5 s turns, alternating
    envelope = np.stack([syllables * agent_talks, syllables * ~agent_talks], axis=1)
    call = voiced * envelope
    return (0.3 * call / np.max(np.abs(call))).astype(np.float32)


def encode_all(folder: Path, duration_s: float) -> dict[str, Path]:
    source = folder / "source.wav"
    sf.write(source, speech_like_call(duration_s, RATE_HZ), RATE_HZ, subtype="FLOAT")
    paths = {}
    for label, (name, codec_args) in FORMATS.items():
        path = folder / name
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(source), *codec_args, str(path)],
                       check=True)
        paths[label] = path
    return paths


def best_decode_s(data: bytes, name: str, repeats: int) -> tuple[float, float]:
    """Best wall time of `repeats` decodes, and the decoded duration."""
    best_s, duration_s = float("inf"), 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        audio = decode_audio(data, name)
        best_s = min(best_s, time.perf_counter() - start)
        duration_s = audio.duration_s
    return best_s, duration_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        paths = encode_all(Path(folder), args.seconds)
        print(f"{args.seconds:.0f} s, {RATE_HZ} Hz stereo call -> 16 kHz float32; best of {args.repeats}")
        print(f"{'format':<12}{'size KiB':>10}{'decode ms':>11}{'RTF':>10}{'x real time':>13}")
        for label, path in paths.items():
            data = path.read_bytes()
            decode_s, duration_s = best_decode_s(data, path.name, args.repeats)
            print(f"{label:<12}{len(data) / 1024:>10.0f}{decode_s * 1000:>11.1f}"
                  f"{decode_s / duration_s:>10.5f}{duration_s / decode_s:>13.0f}")


if __name__ == "__main__":
    main()
