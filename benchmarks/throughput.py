"""Throughput and memory of `callmood run` on N demo calls (N = 10, 100, 1000 by default).

Prints, per N: audio hours, wall time, CPU time, real-time factor per CPU core
(audio seconds per CPU second), peak resident memory, and CPU-side time per stage.
Each N runs in a fresh process so its peak memory is its own. The N calls are the
bundled demo calls repeated under new names (symlinks, with their sidecars).

Target (issue 2): >= 500x real time per core end to end, peak memory flat in N.
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

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "examples" / "calls"
GOOD = sorted(p for p in DEMO.iterdir() if p.suffix in (".mp3", ".ogg", ".flac", ".wav") and "corrupt" not in p.name
              and "broken" not in p.name)


def make_night(folder: Path, n_calls: int) -> None:
    for i in range(n_calls):
        source = GOOD[i % len(GOOD)]
        target = folder / f"bench_{i:05d}{source.suffix}"
        target.symlink_to(source)
        sidecar = source.with_suffix(".json")
        if sidecar.exists():
            data = json.loads(sidecar.read_text())
            data["call_id"] = f"BENCH-{i:05d}"
            target.with_suffix(".json").write_text(json.dumps(data))


def run_one(n_calls: int, model_dir: str | None) -> dict:
    """Runs the job on N calls in this process and returns its figures."""
    from beam_pipeline.options import CallmoodOptions
    from beam_pipeline.pipeline import run

    with tempfile.TemporaryDirectory() as tmp:
        night = Path(tmp) / "night"
        night.mkdir()
        make_night(night, n_calls)
        options = CallmoodOptions(input=str(night), output=str(Path(tmp) / "bench.duckdb"),
                                  **({"model_dir": model_dir} if model_dir else {}))
        cpu_before = time.process_time()
        summary = run(options, [])
        cpu_s = time.process_time() - cpu_before
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"n_calls": n_calls, "calls_ok": summary.calls_ok, "audio_h": summary.audio_s / 3600,
            "wall_s": summary.wall_s, "cpu_s": cpu_s, "rtf_wall": summary.audio_s / summary.wall_s,
            "rtf_per_core": summary.audio_s / cpu_s, "peak_rss_mb": usage.ru_maxrss / 1024,
            "stage_s": summary.stage_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--model-dir", default=None)
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(run_one(args.one, args.model_dir)))
        return
    print(f"{'calls':>6} {'audio_h':>8} {'wall_s':>7} {'cpu_s':>7} {'x_rt_wall':>9} {'x_rt_core':>9} "
          f"{'peak_MB':>8}  cpu-side stage seconds")
    for n_calls in [int(n) for n in args.sizes.split(",")]:
        command = [sys.executable, __file__, "--one", str(n_calls)] + (
            ["--model-dir", args.model_dir] if args.model_dir else [])
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        if done.returncode != 0:
            sys.exit(done.stderr[-3000:])
        r = json.loads(done.stdout.strip().splitlines()[-1])
        stages = " ".join(f"{k}={v:.1f}" for k, v in sorted(r["stage_s"].items()))
        print(f"{r['n_calls']:>6} {r['audio_h']:>8.2f} {r['wall_s']:>7.1f} {r['cpu_s']:>7.1f} {r['rtf_wall']:>9.0f} "
              f"{r['rtf_per_core']:>9.0f} {r['peak_rss_mb']:>8.0f}  {stages}", flush=True)


if __name__ == "__main__":
    main()
