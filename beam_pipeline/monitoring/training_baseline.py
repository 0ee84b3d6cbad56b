"""The training baseline for `callmood monitor --baseline training`: the corpora as the pipeline would see them.

Why: drift is judged against what the model was built on. Each corpus clip goes
through the telephone channel of the evaluation (8 kHz band, mu-law, line noise:
`ser_model.augment.EVALUATION_CHANNELS["telephone"]`), then through the job's own
turn cutting, loudness/SNR/speech-ratio measurement, windowing and scoring, and the
resulting turns are binned by the very aggregation the sinks run (a scratch DuckDB
file and `DuckDBSink.write_run_metrics`), so the file's bins are the warehouse's bins.

Only per-turn metrics are kept: the clips are 1-4 s utterances, not calls, so their
durations, sample rates and codecs say nothing about calls. The file is small (a
few hundred numbers) and ships in the model's directory,
`ser_model/artifacts/baseline_metrics.json`, because it describes that model's
outputs and must travel with it (a test fails when the versions differ); it is
built here because it runs the job's own stages. Regenerate it whenever the model changes:

    python -m beam_pipeline.monitoring.training_baseline --manifest ../shared/data/manifest.csv --data-root ../shared/data --corpora ravdess,emodb,turev

`--every k` subsamples deterministically (every k-th clip of each corpus and label in
path order) for a quick look; the shipped file uses every clip (about 4 minutes on one
busy core). Quiet clips in which the job's VAD finds no speech over the channel's line
noise give no turn, as they would in a call; the file counts them (clips_without_turn).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from ser_model.augment import EVALUATION_CHANNELS, apply_variant
from ser_model.corpus import Clip, load_clip, read_manifest
from ser_model.features import combine_window_probabilities, window_features
from ser_model.inference import DEFAULT_MODEL_DIR, EmotionScorer, ModelInfo

BASELINE_FILE = DEFAULT_MODEL_DIR / "baseline_metrics.json"
CHANNEL = "telephone"
RUN_ID = "training-baseline"
PAD_S = 1.0          # silence put before and after each clip, as around a turn in a call


def subsample(clips: Sequence[Clip], every: int) -> list[Clip]:
    """Every `every`-th clip of each (corpus, label) in path order: deterministic and balanced like the corpora."""
    groups: dict[tuple[str, str], list[Clip]] = defaultdict(list)
    for clip in sorted(clips, key=lambda c: str(c.path)):
        groups[(clip.corpus, clip.label)].append(clip)
    return [clip for key in sorted(groups) for clip in groups[key][::every]]


def _turn_rows(clips: Sequence[Clip], info: ModelInfo) -> list:
    """One CallResult per clip that has a turn: its turns measured and scored as the pipeline does."""
    from beam_pipeline.warehouse.rows import CIRCUMPLEX, CallResult
    from beam_pipeline.segment.turns import TurnOptions, mono_turns

    scorer = EmotionScorer(info)
    variant = EVALUATION_CHANNELS[CHANNEL]
    day, now = dt.date(2000, 1, 1), dt.datetime.now(dt.timezone.utc)
    results = []
    for number, clip in enumerate(clips):
        # A clip is one utterance with little silence around it; in a call a turn has pauses around it,
        # which is where the VAD and the SNR find the line's noise floor. So the clip gets some.
        pad = np.zeros(int(PAD_S * info.spec.sample_rate_hz), dtype=np.float32)
        clean = np.concatenate([pad, load_clip(clip.path, info.spec.sample_rate_hz), pad])
        audio = apply_variant(clean, info.spec.sample_rate_hz, variant, seed=number)
        turns = mono_turns(audio, info.spec.sample_rate_hz, TurnOptions())
        if not turns:
            continue
        rate_hz = info.spec.sample_rate_hz
        stacks, weights = zip(*(window_features(audio[int(round(t.start_s * rate_hz)):int(round(t.end_s * rate_hz))],
                                                info.spec) for t in turns))
        uri = f"corpus://{clip.path.name}"
        stamp = {"call_id": clip.path.stem, "recording_uri": uri, "call_date": day, "model_version":
                 info.model_version, "run_id": RUN_ID, "processed_at": now}
        segments = []
        for index, (turn, window_probs, w) in enumerate(zip(turns, scorer.predict_stacks(list(stacks)), weights)):
            probs = dict(zip(info.classes, combine_window_probabilities(window_probs, w).tolist()))
            top = max(probs, key=probs.get)
            segments.append({**stamp, "turn_index": index, "speaker": turn.speaker,
                             **{f"prob_{e}": probs.get(e, 0.0) for e in CIRCUMPLEX}, "top_emotion": top,
                             "loudness_dbfs": turn.loudness_dbfs, "snr_db": turn.snr_db,
                             "speech_ratio": turn.speech_ratio})
        results.append(CallResult(uri, stamp, tuple(segments)))
    return results


def compute_baseline(manifest: Path, data_root: Path, every: int, model_dir: Path = DEFAULT_MODEL_DIR,
                     corpora: Sequence[str] = ()) -> dict:
    """The baseline document: per-turn metrics of the (subsampled) corpora in the warehouse's bins.

    `corpora`: the corpora the model was trained on (all of the manifest's if empty), so the
    baseline is what the model was built on and not every corpus the manifest has since gained.
    """
    from beam_pipeline.warehouse.run_metrics import METRICS
    from beam_pipeline.warehouse.duckdb_sink import DuckDBSink

    info = ModelInfo.read(model_dir)
    all_clips = [clip for clip in read_manifest(manifest, data_root, info.classes)
                 if not corpora or clip.corpus in corpora]
    clips = subsample(all_clips, every)
    results = _turn_rows(clips, info)
    with tempfile.TemporaryDirectory() as scratch:
        sink = DuckDBSink(str(Path(scratch) / "baseline.duckdb"))
        sink.ensure_tables()
        for start in range(0, len(results), 200):
            sink.replace_calls(results[start:start + 200])
        sink.write_run_metrics(RUN_ID, dt.datetime.now(dt.timezone.utc))
        import duckdb

        with duckdb.connect(sink.path, read_only=True) as con:
            rows = con.execute("SELECT metric, bin_label, bin_count, n_items, mean_value FROM run_metrics "
                               "WHERE population = 'turns' ORDER BY metric, bin_index").fetchall()
    metrics: dict[str, dict] = {}
    for metric, label, count, n_items, mean_value in rows:
        entry = metrics.setdefault(metric, {"population": "turns", "n_items": n_items,
                                            "mean_value": None if mean_value is None else round(mean_value, 6),
                                            "bins": {}})
        entry["bins"][label] = count
    order = [m.name for m in METRICS]
    return {
        "description": "callmood training baseline: the corpora's clips through the telephone channel, cut into "
                       "turns and scored by the shipped model as the nightly job does, in run_metrics' bins "
                       "(per-turn metrics only; clips are not calls). Made by beam_pipeline/monitoring/training_baseline.py.",
        "model_version": info.model_version,
        "channel": CHANNEL,
        "clips": len(clips),
        "clips_in_manifest": len(all_clips),
        "subsample": "every clip" if every == 1 else f"every {every}th clip of each corpus and label, in path order",
        "clips_without_turn": len(clips) - len(results),
        "corpora": sorted({clip.corpus for clip in all_clips}),
        "turns": sum(len(r.segment_rows) for r in results),
        "metrics": {name: metrics[name] for name in order if name in metrics},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m beam_pipeline.monitoring.training_baseline", description=__doc__.split("\n")[0])
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--every", type=int, default=1, help="use every k-th clip of each corpus and label")
    parser.add_argument("--model-dir", default=str(DEFAULT_MODEL_DIR))
    parser.add_argument("--out", default=str(BASELINE_FILE))
    parser.add_argument("--corpora", default="",
                        help="comma-separated corpora the model was trained on (default: every corpus of the manifest)")
    args = parser.parse_args(argv)
    baseline = compute_baseline(Path(args.manifest), Path(args.data_root), args.every, Path(args.model_dir),
                                [c for c in args.corpora.split(",") if c])
    Path(args.out).write_text(json.dumps(baseline, indent=1) + "\n")
    print(f"wrote {args.out}: {baseline['clips']} clips, {baseline['turns']} turns, model {baseline['model_version']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
