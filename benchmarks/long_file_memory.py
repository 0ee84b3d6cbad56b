"""Peak memory of decoding (and preparing) one long 48 kHz stereo WAV, per duration.

A 3 h, 48 kHz stereo PCM_16 WAV is 2.07 GB, inside the default 4 h limit. The
question is whether one such file can take a worker down: what matters is the
peak resident memory of the process that decodes it, and how it grows with
duration. Each measurement runs in a fresh subprocess (so peaks do not carry
over) and prints `resource.getrusage` peak RSS, the RSS after imports (the
constant: NumPy, SciPy, soundfile, TensorFlow for the prepare step) and, for
scale, the size of the decoded audio at the model's 16 kHz (float32, stereo).

Modes:
  decode-file    decode_audio on an open file object (what PrepareRecording can pass from ReadableFile.open())
  decode-bytes   decode_audio on the whole file read into one bytes object (readable.read(), as today)
  prepare-file   prepare_call (decode, DC removal, turns, windows) on an open file object
  prepare-bytes  prepare_call on the whole file's bytes

The WAV is the demo call call_0003.flac resampled to 48 kHz and repeated to the
length asked for, written to /tmp once per duration (never committed) and
reused; `--keep` leaves it there, otherwise it is removed at the end.

Run: .venv/bin/python benchmarks/long_file_memory.py [--hours 0.5 1 3] [--modes decode-file decode-bytes]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SOURCE_CALL = REPO / "examples" / "calls" / "call_0003.flac"
RATE_HZ = 48000
MODEL_RATE_HZ = 16000
MODES = ("decode-file", "decode-bytes", "prepare-file", "prepare-bytes")


def long_wav(hours: float, folder: Path) -> Path:
    """A 48 kHz stereo PCM_16 WAV of `hours`, written block by block (the writer's memory stays small)."""
    import numpy as np
    import soundfile as sf
    import soxr

    path = folder / f"callmood-long-{hours:g}h-48k-stereo.wav"
    n_frames = int(round(hours * 3600 * RATE_HZ))
    if path.exists() and sf.info(str(path)).frames == n_frames:
        return path
    call, call_rate_hz = sf.read(str(SOURCE_CALL), dtype="float32", always_2d=True)
    call = soxr.resample(call, call_rate_hz, RATE_HZ, quality="HQ").astype(np.float32)
    with sf.SoundFile(str(path), "w", samplerate=RATE_HZ, channels=2, subtype="PCM_16", format="WAV") as out:
        written = 0
        while written < n_frames:
            piece = call[: n_frames - written]
            out.write(piece)
            written += piece.shape[0]
    return path


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0   # Linux: kilobytes


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(mode: str, path: str) -> dict:
    """Runs in the child: one decode or prepare of `path`, and its memory figures."""
    import datetime as dt

    from beam_pipeline.audio.decode import decode_audio

    if mode.startswith("prepare"):
        from beam_pipeline.options import CallmoodOptions
        from beam_pipeline.prepare import prepare_call
        from beam_pipeline.sources.recordings import CallIdentity
        from ser_model.inference import DEFAULT_MODEL_DIR, ModelInfo

        spec = ModelInfo.read(DEFAULT_MODEL_DIR).spec
        options = CallmoodOptions(input=path)
        identity = CallIdentity(call_id="long", call_date=dt.date(2026, 11, 23))
    baseline_mb = _current_rss_mb()
    started = time.perf_counter()
    with open(path, "rb") as handle:
        source = handle.read() if mode.endswith("bytes") else handle
        if mode.startswith("decode"):
            audio = decode_audio(source, path)
            result = {"duration_s": audio.duration_s}
        else:
            prepared = prepare_call(source, path, identity, options, spec)
            result = {"duration_s": prepared.call.duration_s, "turns": len(prepared.turns),
                      "windows_mb": sum(w.nbytes for w in prepared.windows) / 2**20}
        del source
    result.update(mode=mode, wall_s=time.perf_counter() - started, baseline_rss_mb=baseline_mb,
                  peak_rss_mb=_peak_rss_mb())
    return result


def _run_child(mode: str, path: Path) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", mode, str(path)], capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if done.returncode != 0:
        return {"mode": mode, "error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, nargs="+", default=[0.5, 1.0, 3.0])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=["decode-file", "decode-bytes", "prepare-file"])
    parser.add_argument("--folder", default="/tmp", help="where the generated WAVs go (default /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the generated WAVs for the next run")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child)))
        return
    print(f"{'hours':>5} {'wav GB':>7} {'mode':<14} {'16 kHz GB':>9} {'after imports MB':>16} "
          f"{'peak RSS MB':>11} {'peak - imports':>14} {'wall s':>7}")
    for hours in args.hours:
        path = long_wav(hours, Path(args.folder))
        decoded_gb = hours * 3600 * MODEL_RATE_HZ * 2 * 4 / 1e9
        try:
            for mode in args.modes:
                row = _run_child(mode, path)
                if "error" in row:
                    print(f"{hours:>5g} {path.stat().st_size / 1e9:>7.2f} {mode:<14} failed: {row['error']}")
                    continue
                print(f"{hours:>5g} {path.stat().st_size / 1e9:>7.2f} {mode:<14} {decoded_gb:>9.2f} "
                      f"{row['baseline_rss_mb']:>16,.0f} {row['peak_rss_mb']:>11,.0f} "
                      f"{row['peak_rss_mb'] - row['baseline_rss_mb']:>14,.0f} {row['wall_s']:>7.1f}", flush=True)
        finally:
            if not args.keep:
                path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
