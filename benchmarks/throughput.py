"""Throughput and memory of `callmood run` on a night of N calls, with one worker process and with all cores.

Two kinds of night, both built here:

* ``wav``: the realistic night of issue 17: stereo 8 kHz calls of 80 s, half
  16-bit PCM WAV and half G.711 mu-law WAV (the demo calls' audio, decoded and
  cut or looped to 80 s);
* ``demo``: the bundled demo calls as they are (MP3, Ogg Vorbis, FLAC, mu-law WAV).

Each (night, N, workers) runs `callmood run` in a fresh process, so process start
(imports, TensorFlow, model load) is included and peak memory is its own. It prints
audio hours, wall time, CPU time of the launcher and its worker processes,
real-time factor per CPU core (audio seconds per CPU second), wall real-time factor,
the peak resident memory of the launcher and of its largest child process (a worker, or a
forked helper such as ffmpeg, whose peak counts the parent pages it forked with), and CPU seconds
per stage as the job's own counters see them. In the same run it measures the
floor: decoding every recording to the model's rate plus the log-mel of the turns
the job found, nothing else, and prints the job's CPU as a multiple of it.

    .venv/bin/python benchmarks/throughput.py                       # wav night, N = 200 and 1000, 1 and all cores
    .venv/bin/python benchmarks/throughput.py --night demo --sizes 200 --workers 1
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "examples" / "calls"
GOOD = sorted(p for p in DEMO.iterdir() if p.suffix in (".mp3", ".ogg", ".flac", ".wav") and "corrupt" not in p.name
              and "broken" not in p.name)
CALL_S = 80.0
RATE_HZ = 8000


def _wav_sources(folder: Path) -> list[Path]:
    """The demo calls as 80 s stereo 8 kHz WAV, each once as 16-bit PCM and once as mu-law."""
    import soundfile as sf

    from beam_pipeline.audio.decode import decode_audio

    sources = []
    for source in GOOD:
        audio = decode_audio(source.read_bytes(), source.name, target_rate_hz=RATE_HZ)
        channels = audio.channels if audio.n_channels == 2 else np.repeat(audio.channels, 2, axis=0)
        n = int(CALL_S * RATE_HZ)
        frames = np.tile(channels, (1, int(np.ceil(n / channels.shape[1]))))[:, :n].T
        for subtype in ("PCM_16", "ULAW"):
            target = folder / f"{source.stem}_{subtype.lower()}.wav"
            sf.write(target, frames, RATE_HZ, subtype=subtype)
            sources.append(target)
    return sources


def make_night(folder: Path, n_calls: int, night: str = "demo") -> list[Path]:
    """N recordings in `folder` (symlinks to a few sources, each with a sidecar naming a new call id)."""
    if night == "wav":
        sources_dir = folder.parent / "sources"
        sources_dir.mkdir(exist_ok=True)
        sources = _wav_sources(sources_dir)
    else:
        sources = GOOD
    made = []
    for i in range(n_calls):
        source = sources[i % len(sources)]
        target = folder / f"bench_{i:05d}{source.suffix}"
        target.symlink_to(source)
        demo_sidecar = DEMO / (source.name.split("_pcm_16")[0].split("_ulaw")[0].removesuffix(source.suffix) + ".json")
        data = json.loads(demo_sidecar.read_text()) if demo_sidecar.exists() else {}
        data["call_id"] = f"BENCH-{i:05d}"
        target.with_suffix(".json").write_text(json.dumps(data))
        made.append(target)
    return made


def floor_cpu_s(db: Path) -> float:
    """CPU seconds to decode every recording the run wrote and take the log-mel of its turns: the least any job does."""
    import duckdb

    from beam_pipeline.audio.decode import decode_audio
    from ser_model.features import DEFAULT_SPEC, log_mel

    with duckdb.connect(str(db), read_only=True) as con:
        turns = con.execute("SELECT recording_uri, channel, start_s, end_s FROM segments").fetchall()
    by_uri: dict[str, list[tuple[int, float, float]]] = {}
    for uri, channel, start_s, end_s in turns:
        by_uri.setdefault(uri, []).append((channel, start_s, end_s))
    started = time.process_time()
    for uri, spans in by_uri.items():
        audio = decode_audio(Path(uri).read_bytes(), uri, target_rate_hz=DEFAULT_SPEC.sample_rate_hz)
        for channel, start_s, end_s in spans:
            samples = audio.channels[channel, int(start_s * audio.sample_rate_hz):int(end_s * audio.sample_rate_hz)]
            log_mel(samples, DEFAULT_SPEC)
    return time.process_time() - started


def run_one(n_calls: int, night: str, workers: int) -> dict:
    """Runs the job on one night in this process (its workers are children) and returns its figures."""
    from beam_pipeline.options import CallmoodOptions
    from beam_pipeline.pipeline import run

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "night"
        folder.mkdir()
        night_started = time.process_time()
        make_night(folder, n_calls, night)
        night_cpu_s = time.process_time() - night_started          # building the night is not the job's
        db = Path(tmp) / "bench.duckdb"
        options = CallmoodOptions(input=str(folder), output=str(db), workers=workers)
        summary = run(options, [])
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        # Process start is in the launcher's CPU (it was measured from exec, not from the first call).
        cpu_s = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime - night_cpu_s
        floor_s = floor_cpu_s(db)
    return {"night": night, "n_calls": n_calls, "workers": workers, "calls_ok": summary.calls_ok,
            "audio_h": summary.audio_s / 3600, "wall_s": summary.wall_s, "cpu_s": cpu_s,
            "rtf_wall": summary.audio_s / summary.wall_s, "rtf_per_core": summary.audio_s / cpu_s,
            "peak_rss_mb": own.ru_maxrss / 1024, "peak_worker_rss_mb": children.ru_maxrss / 1024,
            "stage_s": summary.stage_s, "floor_cpu_s": floor_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--night", choices=("wav", "demo"), default="wav")
    parser.add_argument("--sizes", default="200,1000")
    parser.add_argument("--workers", default=f"1,{os.cpu_count()}", help="worker processes to try, comma-separated")
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(run_one(args.one, args.night, int(args.workers))))
        return
    print(f"{'night':>5} {'calls':>6} {'workers':>7} {'audio_h':>8} {'wall_s':>7} {'cpu_s':>7} {'x_rt_wall':>9} "
          f"{'x_rt_core':>9} {'peak_MB':>8} {'worker_MB':>9} {'x_floor':>7}  cpu-side stage seconds")
    for n_calls in [int(n) for n in args.sizes.split(",")]:
        for workers in [int(w) for w in args.workers.split(",")]:
            command = [sys.executable, __file__, "--one", str(n_calls), "--night", args.night,
                       "--workers", str(workers)]
            done = subprocess.run(command, capture_output=True, text=True, cwd=REPO,
                                  env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
            if done.returncode != 0:
                sys.exit(done.stderr[-3000:])
            r = json.loads(done.stdout.strip().splitlines()[-1])
            stages = " ".join(f"{k}={v:.1f}" for k, v in sorted(r["stage_s"].items()))
            print(f"{r['night']:>5} {r['n_calls']:>6} {r['workers']:>7} {r['audio_h']:>8.2f} {r['wall_s']:>7.1f} "
                  f"{r['cpu_s']:>7.1f} {r['rtf_wall']:>9.0f} {r['rtf_per_core']:>9.0f} {r['peak_rss_mb']:>8.0f} "
                  f"{r['peak_worker_rss_mb']:>9.0f} {r['cpu_s'] / r['floor_cpu_s']:>7.1f}  {stages}", flush=True)


if __name__ == "__main__":
    main()
