"""Rows of the output contract, built from scored turns; numbers checked by hand."""
import datetime as dt

import numpy as np
import pytest

from beam_pipeline.segment.conversation import conversation_stats
from beam_pipeline.prepare import CallContext, TurnRef
from beam_pipeline.records import StageError
from beam_pipeline.warehouse.rows import CIRCUMPLEX, ScoredTurn, call_result, error_result, frustration_score
from beam_pipeline.sources.recordings import CallIdentity
from beam_pipeline.segment.turns import Turn
from ser_model.features import EMOTIONS
from sql.schema import columns

NOW = dt.datetime(2026, 11, 24, 3, 0, tzinfo=dt.timezone.utc)


def _turn(speaker: str, start_s: float, end_s: float) -> Turn:
    return Turn(speaker=speaker, channel=0 if speaker == "agent" else 1, start_s=start_s, end_s=end_s,
                speech_ratio=0.9, overlap_s=0.0, loudness_dbfs=-22.0, pitch_median_hz=150.0)


def _scored(probabilities: list[list[float]], turns: list[Turn]) -> list[ScoredTurn]:
    call = CallContext(recording_uri="gs://calls/2026-11-23/c1.wav",
                       identity=CallIdentity(call_id="c1", call_date=dt.date(2026, 11, 23), agent_id="A7",
                                             queue="billing"),
                       duration_s=20.0, n_channels=2, source_sample_rate_hz=8000, source_format="wav/ULAW",
                       n_turns=len(turns), stats=conversation_stats(turns, 20.0))
    return [ScoredTurn(TurnRef(call, i, turn, np.ones(2, dtype=np.float32)), np.array(p))
            for i, (turn, p) in enumerate(zip(turns, probabilities))]


TURNS = [_turn("agent", 0.0, 4.0), _turn("customer", 5.0, 9.0), _turn("agent", 9.5, 12.0),
         _turn("customer", 12.5, 14.5)]
PROBS = [[0.0, 0.0, 0.0, 0.2, 0.8, 0.0],    # agent neutral
         [0.6, 0.2, 0.2, 0.0, 0.0, 0.0],    # customer angry
         [0.0, 0.0, 0.0, 0.5, 0.5, 0.0],    # agent happy/neutral tie -> first max
         [0.0, 0.0, 0.0, 0.1, 0.3, 0.6]]    # customer sad


def test_segment_rows_follow_the_ddl_and_the_probabilities():
    result = call_result(list(reversed(_scored(PROBS, TURNS))), EMOTIONS, "ser-x", "run1", NOW)
    assert [r["turn_index"] for r in result.segment_rows] == [0, 1, 2, 3]
    ddl_names = {c.name for c in columns("segments")}
    for row in result.segment_rows:
        assert set(row) == ddl_names
        assert sum(row[f"prob_{e}"] for e in EMOTIONS) == pytest.approx(1.0)
    angry = result.segment_rows[1]
    assert (angry["top_emotion"], angry["top_confidence"]) == ("angry", 0.6)
    assert angry["arousal"] == pytest.approx(0.6 * 0.8 + 0.2 * 0.3 + 0.2 * 0.7)
    assert angry["valence"] == pytest.approx(0.6 * -0.6 + 0.2 * -0.7 + 0.2 * -0.6)
    assert all(-1 <= r["arousal"] <= 1 and -1 <= r["valence"] <= 1 for r in result.segment_rows)


def test_call_row_summarises_the_customer_side():
    result = call_result(_scored(PROBS, TURNS), EMOTIONS, "ser-x", "run1", NOW)
    call = result.call_row
    assert set(call) == {c.name for c in columns("calls")}
    assert (call["first_customer_emotion"], call["last_customer_emotion"]) == ("angry", "sad")
    assert call["customer_negative_share"] == 1.0
    # customer turns: 4 s with 0.6 + 0.2 + 0.5*0.2 = 0.9, 2 s with 0.0
    assert call["frustration_score"] == pytest.approx((4 * 0.9 + 2 * 0.0) / 6)
    assert call["turn_count"] == 4
    assert call["agent_talk_s"] == pytest.approx(6.5) and call["customer_talk_s"] == pytest.approx(6.0)


def test_frustration_is_undefined_without_customer_turns():
    assert frustration_score([]) is None
    result = call_result(_scored(PROBS[:1], TURNS[:1]), EMOTIONS, "ser-x", "run1", NOW)
    assert result.call_row["frustration_score"] is None
    assert result.call_row["first_customer_emotion"] is None


def test_circumplex_covers_every_model_class():
    assert set(CIRCUMPLEX) == set(EMOTIONS)


def test_error_rows_follow_the_ddl():
    error = error_result("/x/a.mp3", StageError("decode", "not an audio file"), "run1", "ser-x", NOW)
    assert set(error.error_row) == {c.name for c in columns("errors")}
    assert (error.error_row["stage"], error.error_row["reason"]) == ("decode", "not an audio file")
