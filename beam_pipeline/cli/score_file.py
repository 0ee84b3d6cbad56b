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


class NotARecordingFile(ValueError):
    """The path given to `callmood score` is not a file that can be opened (missing, a folder, a link loop)."""


def _checked_path(path: str) -> str:
    """The absolute path of a regular file, or NotARecordingFile saying in one line what it is instead.

    Checked before the model loads, so a typo costs no TensorFlow start-up and
    prints no traceback.
    """
    try:
        resolved = Path(path).resolve(strict=True)
    except FileNotFoundError as exc:
        what = "is a symbolic link to nothing" if os.path.islink(path) else "does not exist"
        raise NotARecordingFile(what) from exc
    except (RuntimeError, OSError) as exc:      # RuntimeError: Python 3.11's "Symlink loop from ..."
        raise NotARecordingFile("is a symbolic link loop" if "loop" in str(exc).lower()
                                else f"cannot be opened ({getattr(exc, 'strerror', None) or exc})") from exc
    if resolved.is_dir():
        raise NotARecordingFile("is a folder: give one recording (callmood run --input takes folders)")
    if not resolved.is_file():
        raise NotARecordingFile("is not a regular file")
    return str(resolved)


def score_file(path: str, *, model_dir: str | None = None,
               channel_map: Mapping[int, str] = DEFAULT_CHANNEL_MAP) -> CallResult:
    """Scored rows of one local recording; raises StageError where the job would write an error row.

    Raises NotARecordingFile when `path` is not a file at all (missing, a folder,
    a symbolic link loop): there is no recording to have a stage fail on.
    """
    path = _checked_path(path)
    info = ModelInfo.read(model_dir or DEFAULT_MODEL_DIR)
    options = CallmoodOptions(input=path, model_dir=str(info.model_dir), channel_map=dict(channel_map))
    try:
        identity = read_identity(path, os.path.getmtime(path), refuse_unkeyed_numbers=False)   # prints, stores nothing
    except SidecarError as exc:
        raise StageError("sidecar", str(exc)) from exc
    try:
        handle = open(path, "rb")       # streamed: a long recording's bytes are never held whole
    except OSError as exc:
        raise StageError("read", f"could not read the file ({exc.strerror or exc})") from exc
    with handle:
        prepared = prepare_call(handle, path, identity, options, info.spec)
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
