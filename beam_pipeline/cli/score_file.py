"""`callmood score FILE`: one recording through the same stages as the nightly job, without Beam.

For a supervisor checking one call, or a developer checking a change: the turns
printed here are the rows the job would write for this file.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from beam_pipeline.options import DEFAULT_CHANNEL_MAP, CallmoodOptions
from beam_pipeline.records import StageError
from beam_pipeline.prepare import prepare_call
from beam_pipeline.warehouse.rows import CallResult, ScoredTurn, call_result, processed_at
from beam_pipeline.sources.recordings import SidecarError, read_identity
from ser_model.features import combine_window_probabilities
from ser_model.inference import DEFAULT_MODEL_DIR, EmotionScorer, ModelInfo


def score_file(path: str, *, model_dir: str | None = None,
               channel_map: Mapping[int, str] = DEFAULT_CHANNEL_MAP) -> CallResult:
    """Scored rows of one local recording; raises StageError where the job would write an error row."""
    path = str(Path(path).resolve())
    info = ModelInfo.read(model_dir or DEFAULT_MODEL_DIR)
    options = CallmoodOptions(input=path, model_dir=str(info.model_dir), channel_map=dict(channel_map))
    try:
        identity = read_identity(path, os.path.getmtime(path), refuse_unkeyed_numbers=False)   # prints, stores nothing
    except SidecarError as exc:
        raise StageError("sidecar", str(exc)) from exc
    prepared = prepare_call(Path(path).read_bytes(), path, identity, options, info.spec)
    per_turn = EmotionScorer(info).predict_stacks(prepared.windows)
    scored = [ScoredTurn(ref, combine_window_probabilities(probabilities, ref.window_weights))
              for ref, probabilities in zip(prepared.turns, per_turn)]
    return call_result(scored, info.classes, info.model_version, run_id="score", processed_at=processed_at())


def turns_table(result: CallResult) -> str:
    """A fixed-width table of the turns, then the call's summary line."""
    header = f"{'#':>3} {'speaker':<10} {'start_s':>8} {'end_s':>8}  {'emotion':<8} {'conf':>5}  " \
             f"{'arousal':>7} {'valence':>7} {'dBFS':>6} {'f0_hz':>6}"
    lines = [header, "-" * len(header)]
    for row in result.segment_rows:
        pitch = f"{row['pitch_median_hz']:.0f}" if row["pitch_median_hz"] else "-"
        lines.append(f"{row['turn_index']:>3} {row['speaker']:<10} {row['start_s']:>8.2f} {row['end_s']:>8.2f}  "
                     f"{row['top_emotion']:<8} {row['top_confidence']:>5.2f}  {row['arousal']:>7.2f} "
                     f"{row['valence']:>7.2f} {row['loudness_dbfs']:>6.1f} {pitch:>6}")
    call = result.call_row
    frustration = "-" if call["frustration_score"] is None else f"{call['frustration_score']:.2f}"
    lines.append("")
    lines.append(f"call {call['call_id']}: {call['duration_s']:.1f} s, {call['turn_count']} turns, "
                 f"customer {call['first_customer_emotion']} -> {call['last_customer_emotion']}, "
                 f"frustration {frustration}, model {call['model_version']}")
    return "\n".join(lines)
