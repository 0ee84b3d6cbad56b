"""Warehouse rows from scored turns: the output contract in one place.

Column names and order follow `sql/tables/*.sql`; a test checks the two agree.
Arousal and valence are the probability-weighted positions of the six emotions on
Russell's circumplex, so a dashboard can plot a turn's mood on two axes without a
second model.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Sequence

import numpy as np

from beam_pipeline.prepare import CallContext, TurnRef
from beam_pipeline.records import StageError
from beam_pipeline.sources.pseudonyms import redact_phone_numbers
from beam_pipeline.sources.text import capped, printable

# (arousal, valence) per emotion, after Russell (1980) and the placements commonly
# used for categorical-to-dimensional mapping in SER work.
CIRCUMPLEX: dict[str, tuple[float, float]] = {
    "angry": (0.8, -0.6),
    "disgust": (0.3, -0.7),
    "fear": (0.7, -0.6),
    "happy": (0.6, 0.8),
    "neutral": (0.0, 0.0),
    "sad": (-0.6, -0.6),
}
NEGATIVE_EMOTIONS = ("angry", "disgust", "fear", "sad")


@dataclasses.dataclass(frozen=True)
class ScoredTurn:
    ref: TurnRef
    probabilities: np.ndarray      # one per class, sums to 1


@dataclasses.dataclass(frozen=True)
class CallResult:
    """Everything one call writes: its segments and its call row, replaced together or not at all."""

    recording_uri: str
    call_row: dict
    segment_rows: tuple[dict, ...]
    clear_uri: str | None = None      # the path as read, when it differs from recording_uri: recording_paths


@dataclasses.dataclass(frozen=True)
class ErrorResult:
    recording_uri: str
    error_row: dict
    clear_uri: str | None = None


def path_row(result: "CallResult | ErrorResult", written_at: dt.datetime) -> dict | None:
    """The recording_paths row of a result (stored uri -> clear uri), or None when the two are the same."""
    if not result.clear_uri or result.clear_uri == result.recording_uri:
        return None
    row = result.call_row if isinstance(result, CallResult) else result.error_row
    return {"recording_uri": result.recording_uri, "clear_uri": result.clear_uri,
            "call_date": row.get("call_date"), "written_at": written_at}


def segment_row(scored: ScoredTurn, classes: Sequence[str], model_version: str, run_id: str,
                processed_at: dt.datetime) -> dict:
    call, turn = scored.ref.call, scored.ref.turn
    probs = {c: float(p) for c, p in zip(classes, scored.probabilities)}
    top = max(probs, key=probs.get)
    return {
        "call_id": call.identity.call_id,
        "recording_uri": call.recording_uri,
        "call_date": call.identity.call_date,
        "agent_id": call.identity.agent_id,
        "queue": call.identity.queue,
        "turn_index": scored.ref.turn_index,
        "speaker": turn.speaker,
        "channel": turn.channel,
        "start_s": round(turn.start_s, 3),
        "end_s": round(turn.end_s, 3),
        **{f"prob_{c}": probs.get(c, 0.0) for c in CIRCUMPLEX},
        "top_emotion": top,
        "top_confidence": probs[top],
        "arousal": sum(probs.get(c, 0.0) * a for c, (a, _) in CIRCUMPLEX.items()),
        "valence": sum(probs.get(c, 0.0) * v for c, (_, v) in CIRCUMPLEX.items()),
        "loudness_dbfs": turn.loudness_dbfs,
        "snr_db": turn.snr_db,
        "pitch_median_hz": turn.pitch_median_hz,
        "speech_ratio": turn.speech_ratio,
        "overlap_s": turn.overlap_s,
        "n_windows": int(len(scored.ref.window_weights)),
        "model_version": model_version,
        "run_id": run_id,
        "processed_at": processed_at,
    }


def frustration_score(customer_rows: Sequence[dict]) -> float | None:
    """Duration-weighted mean over customer turns of P(angry) + P(disgust) + 0.5 P(fear), in [0, 1]."""
    if not customer_rows:
        return None
    durations = np.array([r["end_s"] - r["start_s"] for r in customer_rows])
    scores = np.array([r["prob_angry"] + r["prob_disgust"] + 0.5 * r["prob_fear"] for r in customer_rows])
    return float((durations * scores).sum() / max(durations.sum(), 1e-9))


def call_row(call: CallContext, segments: Sequence[dict], model_version: str, run_id: str,
             processed_at: dt.datetime) -> dict:
    stats = call.stats
    customer = [r for r in segments if r["speaker"] == "customer"]
    return {
        "call_id": call.identity.call_id,
        "recording_uri": call.recording_uri,
        "call_date": call.identity.call_date,
        "started_at": call.identity.started_at,
        "agent_id": call.identity.agent_id,
        "queue": call.identity.queue,
        "caller_id_hash": call.identity.caller_id_hash,
        "duration_s": round(call.duration_s, 3),
        "n_channels": call.n_channels,
        "source_sample_rate_hz": call.source_sample_rate_hz,
        "source_format": call.source_format,
        "turn_count": stats.turn_count,
        "agent_talk_s": stats.agent_talk_s,
        "customer_talk_s": stats.customer_talk_s,
        "agent_talk_share": stats.agent_talk_share,
        "customer_talk_share": stats.customer_talk_share,
        "silence_s": stats.silence_s,
        "overlap_s": stats.overlap_s,
        "interruptions": stats.interruptions,
        "agent_interruptions": stats.agent_interruptions,
        "customer_interruptions": stats.customer_interruptions,
        "first_customer_emotion": customer[0]["top_emotion"] if customer else None,
        "last_customer_emotion": customer[-1]["top_emotion"] if customer else None,
        "customer_negative_share": (sum(r["top_emotion"] in NEGATIVE_EMOTIONS for r in customer) / len(customer)
                                    if customer else None),
        "frustration_score": frustration_score(customer),
        "model_version": model_version,
        "run_id": run_id,
        "processed_at": processed_at,
    }


def call_result(scored_turns: Sequence[ScoredTurn], classes: Sequence[str], model_version: str, run_id: str,
                processed_at: dt.datetime) -> CallResult:
    """All rows of one call, turns in time order."""
    ordered = sorted(scored_turns, key=lambda s: s.ref.turn_index)
    call = ordered[0].ref.call
    segments = tuple(segment_row(s, classes, model_version, run_id, processed_at) for s in ordered)
    return CallResult(call.recording_uri, call_row(call, segments, model_version, run_id, processed_at), segments,
                      clear_uri=call.clear_uri or None)


def error_result(recording_uri: str, error: StageError, run_id: str, model_version: str,
                 occurred_at: dt.datetime, call_id: str | None = None, call_date: dt.date | None = None,
                 clear_uri: str | None = None) -> ErrorResult:
    """One errors row; every string made storable here, whichever stage built it.

    A reason may quote an exception message, and the uri may be the path as read
    (`PrepareRecording` passes that). The row's uri is then the stored one the
    stage attached to the error (`StageError.recording_uri`, or the SidecarError
    it was raised from), else the given uri with phone-number-like runs redacted;
    the given uri, when it differs, is kept as `clear_uri` for recording_paths.
    Strings are made printable (no lone surrogates), digit runs left in the
    reason and call_id are redacted, and the reason is capped at MAX_REASON_CHARS.
    """
    stored_uri = _stored_uri(error) or redact_phone_numbers(printable(recording_uri))
    if clear_uri is None and stored_uri != recording_uri:
        clear_uri = recording_uri
    return ErrorResult(stored_uri, {
        "recording_uri": stored_uri,
        "call_id": redact_phone_numbers(printable(call_id)) if call_id is not None else None,
        "call_date": call_date,
        "stage": error.stage,
        "reason": capped(redact_phone_numbers(printable(error.reason))),
        "model_version": model_version,
        "run_id": run_id,
        "occurred_at": occurred_at,
    }, clear_uri=printable(clear_uri) if clear_uri is not None else None)


def _stored_uri(error: BaseException | None) -> str | None:
    """The stored uri a stage attached to the error (or to the error it was raised from), if any."""
    while error is not None:
        if getattr(error, "recording_uri", None):
            return error.recording_uri
        error = error.__cause__
    return None


def processed_at() -> dt.datetime:
    """The `processed_at` stamp of rows written now."""
    return dt.datetime.now(dt.timezone.utc)
