"""CPU cost of turn cutting (VAD + turns + loudness + pitch) per second of stereo call.

Builds a 90 s synthetic stereo call at 16 kHz shaped like a real one (alternating
turns of 2-8 s with syllable-rate modulation, a few overlaps, ~15 % mutual silence,
line noise, and each side's voice leaking into the other channel 25 dB down), runs
`stereo_turns` on it repeatedly and prints the best CPU time per second of audio,
split into voice activity + turn cutting and pitch.

Budget (issue 2): <= 0.4 ms of CPU per second of stereo audio for this stage, within
the job's 2 ms per second (>= 500x real time per core).

    .venv/bin/python benchmarks/turns_speed.py [--repeats 30] [--duration-s 90]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# one core, as on a Dataflow worker thread: thread pools would hide CPU in other threads' clocks
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from beam_pipeline.segment import turns as turns_module  # noqa: E402
from beam_pipeline.segment.turns import TurnOptions, stereo_turns  # noqa: E402

SAMPLE_RATE_HZ = 16000
BUDGET_MS_PER_S = 0.4


def voice(duration_s: float, f0_hz: float, rng: np.random.Generator) -> np.ndarray:
    """A voiced-speech stand-in: harmonics of a slowly wandering F0 under a 4 Hz syllable envelope."""
    t_s = np.arange(int(duration_s * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    f0_track_hz = f0_hz * (1.0 + 0.05 * np.sin(2 * np.pi * 0.7 * t_s + rng.uniform(0, 6.28)))
    phase = 2 * np.pi * np.cumsum(f0_track_hz) / SAMPLE_RATE_HZ
    signal = sum(np.sin(k * phase) / k for k in range(1, int(3400 / f0_hz)))
    envelope = 0.5 * (1.0 - np.cos(2 * np.pi * 4.0 * t_s))
    return signal * envelope


def synthetic_call(duration_s: float, seed: int = 0) -> np.ndarray:
    """(2, n) float32 stereo call: agent on 0, customer on 1, with leak, line noise, overlaps."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * SAMPLE_RATE_HZ)
    clean = np.zeros((2, n))
    time_s, side = 0.5, 0
    while time_s < duration_s - 1.0:
        length_s = min(rng.uniform(2.0, 8.0), duration_s - time_s - 0.2)
        start = int(time_s * SAMPLE_RATE_HZ)
        burst = voice(length_s, (120.0, 210.0)[side], rng)
        clean[side, start: start + burst.size] += 10 ** (-20 / 20) * burst / np.sqrt(np.mean(burst ** 2))
        # a pause between turns, or now and then the next side starting 0.5 s early
        time_s += length_s + (rng.uniform(0.2, 1.2) if rng.random() > 0.2 else -0.5)
        side = 1 - side
    leak = 10 ** (-25 / 20) * clean[::-1]
    noise = 10 ** (-65 / 20) * rng.standard_normal((2, n))
    return (clean + leak + noise).astype(np.float32)


def best_cpu_s(function, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        function()
        best = min(best, time.process_time() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration-s", type=float, default=90.0)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    call = synthetic_call(args.duration_s)
    options = TurnOptions()
    roles = {0: "agent", 1: "customer"}
    turns = stereo_turns(call, SAMPLE_RATE_HZ, roles, options)     # warm-up (imports, FFT plans)

    total_s = best_cpu_s(lambda: stereo_turns(call, SAMPLE_RATE_HZ, roles, options), args.repeats)
    vad_s = best_cpu_s(lambda: [turns_module._cut_turns(row, options)
                                for row in turns_module.speech_frames(call, SAMPLE_RATE_HZ, options)],
                       args.repeats)
    frame_length = turns_module._frame_length(SAMPLE_RATE_HZ, options)
    speech = turns_module.speech_frames(call, SAMPLE_RATE_HZ, options)
    ranges = [(c, s, e) for c in range(2) for s, e in turns_module._cut_turns(speech[c], options)]
    pitch_s = best_cpu_s(lambda: turns_module._turn_pitches_hz(call, SAMPLE_RATE_HZ, frame_length, ranges, speech),
                         args.repeats)

    per_s = 1000.0 / args.duration_s
    print(f"synthetic stereo call: {args.duration_s:.0f} s at {SAMPLE_RATE_HZ} Hz, {len(turns)} turns, "
          f"best of {args.repeats} runs, CPU time (process_time)")
    print(f"  VAD + turn cutting   {vad_s * 1000:7.2f} ms  = {vad_s * per_s:.3f} ms per s of audio")
    print(f"  pitch                {pitch_s * 1000:7.2f} ms  = {pitch_s * per_s:.3f} ms per s of audio")
    print(f"  stereo_turns, all    {total_s * 1000:7.2f} ms  = {total_s * per_s:.3f} ms per s of audio "
          f"(budget {BUDGET_MS_PER_S} ms/s: {'OK' if total_s * per_s <= BUDGET_MS_PER_S else 'OVER'}); "
          f"{args.duration_s / total_s:.0f}x real time per core")


if __name__ == "__main__":
    main()
