"""Per-call conversation statistics on hand-built turn lists, with every expected figure worked out by hand.

The main call (20 s):

    agent     A1 0.0-4.0        A2 7.0-12.0           A3 14.0-16.0
    customer       C1 3.5-6.0       C2 9.0-10.0    C3 13.0-17.0     C4 18.0-19.0

    talk      agent 4 + 5 + 2 = 11 s; customer 2.5 + 1 + 4 + 1 = 8.5 s; shares 11/19.5, 8.5/19.5
    covered   [0, 6] + [7, 12] + [13, 17] + [18, 19] = 6 + 5 + 4 + 1 = 16 s -> silence 4 s
    overlap   A1&C1 0.5 + A2&C2 1.0 + C3&A3 2.0 = 3.5 s
    interrupt C1 starts in A1, but A1 ends 0.5 s later: turn-taking, not an interruption
              C2 starts in A2, which goes on 3 s: customer interrupts
              A3 starts in C3, which goes on 3 s: agent interrupts
"""
from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from beam_pipeline.segment.conversation import ConversationStats, conversation_stats
from beam_pipeline.segment.turns import Turn, TurnOptions, stereo_turns


def turn(speaker: str, start_s: float, end_s: float) -> Turn:
    return Turn(speaker=speaker, channel={"agent": 0, "customer": 1}.get(speaker, 0), start_s=start_s, end_s=end_s,
                speech_ratio=1.0, overlap_s=0.0, loudness_dbfs=-25.0, pitch_median_hz=None)


CALL = [
    turn("agent", 0.0, 4.0), turn("customer", 3.5, 6.0), turn("agent", 7.0, 12.0), turn("customer", 9.0, 10.0),
    turn("customer", 13.0, 17.0), turn("agent", 14.0, 16.0), turn("customer", 18.0, 19.0),
]


def test_hand_computed_call():
    stats = conversation_stats(CALL, duration_s=20.0)
    assert stats.turn_count == 7
    assert stats.agent_talk_s == pytest.approx(11.0)
    assert stats.customer_talk_s == pytest.approx(8.5)
    assert stats.agent_talk_share == pytest.approx(11.0 / 19.5, abs=1e-4)
    assert stats.customer_talk_share == pytest.approx(8.5 / 19.5, abs=1e-4)
    assert stats.silence_s == pytest.approx(4.0)
    assert stats.overlap_s == pytest.approx(3.5)
    assert stats.interruptions == 2
    assert stats.agent_interruptions == 1
    assert stats.customer_interruptions == 1


def test_figures_add_up():
    """duration = silence + one side only + overlap; talk of both sides = one side only + 2 x overlap."""
    stats = conversation_stats(CALL, duration_s=20.0)
    one_side_only_s = 20.0 - stats.silence_s - stats.overlap_s
    assert stats.agent_talk_s + stats.customer_talk_s == pytest.approx(one_side_only_s + 2 * stats.overlap_s)
    assert stats.agent_talk_share + stats.customer_talk_share == pytest.approx(1.0, abs=1e-3)


def test_turn_order_does_not_matter():
    shuffled = CALL[:]
    random.Random(3).shuffle(shuffled)
    assert conversation_stats(shuffled, 20.0) == conversation_stats(CALL, 20.0)


def test_interruption_needs_the_other_side_to_go_on_for_a_second():
    # the agent goes on exactly 1.0 s after the customer starts: an interruption (>= 1 s)
    assert conversation_stats([turn("agent", 0.0, 5.0), turn("customer", 4.0, 6.0)], 6.0).customer_interruptions == 1
    # 0.9 s: the customer only came in as the agent was finishing
    late = conversation_stats([turn("agent", 0.0, 5.0), turn("customer", 4.1, 6.0)], 6.0)
    assert late.interruptions == 0
    assert late.overlap_s == pytest.approx(0.9)


def test_simultaneous_start_and_touching_turns_are_no_interruption():
    together = conversation_stats([turn("agent", 1.0, 5.0), turn("customer", 1.0, 4.0)], 6.0)
    assert together.interruptions == 0
    assert together.overlap_s == pytest.approx(3.0)
    touching = conversation_stats([turn("agent", 0.0, 3.0), turn("customer", 3.0, 5.0)], 6.0)
    assert touching.interruptions == 0
    assert touching.overlap_s == 0.0
    assert touching.silence_s == pytest.approx(1.0)


def test_each_turn_that_talks_over_counts_and_counts_once():
    # two customer turns, each starting inside the agent's long turn: two interruptions
    turns = [turn("agent", 0.0, 10.0), turn("customer", 2.0, 3.0), turn("customer", 5.0, 6.0)]
    stats = conversation_stats(turns, 10.0)
    assert (stats.interruptions, stats.customer_interruptions, stats.agent_interruptions) == (2, 2, 0)
    # one customer turn starting inside two other speakers' turns (a third party on the line): one interruption
    turns = [turn("agent", 0.0, 10.0), turn("speaker_2", 1.0, 10.0), turn("customer", 5.0, 6.0)]
    stats = conversation_stats(turns, 10.0)
    assert (stats.interruptions, stats.customer_interruptions) == (2, 1)     # speaker_2 interrupted the agent too


def test_undiarized_mono_has_no_shares_and_no_interruptions():
    turns = [turn("speaker_0", 1.0, 4.0), turn("speaker_0", 5.0, 9.0)]
    stats = conversation_stats(turns, 10.0)
    assert stats.agent_talk_share is None and stats.customer_talk_share is None
    assert stats.agent_talk_s == 0.0 and stats.customer_talk_s == 0.0
    assert stats.silence_s == pytest.approx(3.0)
    assert stats.overlap_s == 0.0 and stats.interruptions == 0


def test_diarized_speakers_count_towards_totals_but_no_side():
    turns = [turn("speaker_0", 0.0, 6.0), turn("speaker_1", 2.0, 3.0)]
    stats = conversation_stats(turns, 8.0)
    assert stats.overlap_s == pytest.approx(1.0)
    assert stats.silence_s == pytest.approx(2.0)
    assert (stats.interruptions, stats.agent_interruptions, stats.customer_interruptions) == (1, 0, 0)
    assert stats.agent_talk_share is None


def test_no_turns():
    stats = conversation_stats([], 30.0)
    assert stats == ConversationStats(turn_count=0, agent_talk_s=0.0, customer_talk_s=0.0, agent_talk_share=None,
                                      customer_talk_share=None, silence_s=30.0, overlap_s=0.0, interruptions=0,
                                      agent_interruptions=0, customer_interruptions=0)


def test_one_sided_call_gives_the_whole_share_to_that_side():
    stats = conversation_stats([turn("agent", 0.0, 2.0), turn("agent", 3.0, 4.0)], 5.0)
    assert stats.agent_talk_share == 1.0 and stats.customer_talk_share == 0.0


def test_silence_is_measured_inside_the_recording():
    """A turn whose last frame runs past the decoded length does not make silence negative."""
    stats = conversation_stats([turn("agent", 0.0, 5.02)], 5.0)
    assert stats.silence_s == 0.0


def test_stats_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        conversation_stats(CALL, 20.0).turn_count = 3  # type: ignore[misc]


def test_on_turns_cut_from_audio():
    """End to end on a synthetic stereo call: the customer talks over the agent, who keeps going."""
    rate_hz = 16000
    t_s = np.arange(12 * rate_hz) / rate_hz
    envelope = 0.5 * (1 - np.cos(2 * np.pi * 4.0 * t_s))
    rng = np.random.default_rng(0)

    def side(f0_hz: float, regions: list[tuple[float, float]]) -> np.ndarray:
        on = np.zeros_like(t_s)
        for start_s, end_s in regions:
            on[(t_s >= start_s) & (t_s < end_s)] = 1.0
        harmonics = sum(np.sin(2 * np.pi * k * f0_hz * t_s) / k for k in range(1, 12))
        return (0.05 * harmonics * envelope * on + 10 ** (-65 / 20) * rng.standard_normal(t_s.size)).astype(np.float32)

    agent = side(120.0, [(0.5, 6.0), (9.0, 11.0)])
    customer = side(210.0, [(3.0, 4.5), (6.5, 8.5)])
    turns = stereo_turns(np.stack([agent, customer]), rate_hz, {0: "agent", 1: "customer"}, TurnOptions())
    stats = conversation_stats(turns, 12.0)
    assert stats.turn_count == 4
    assert (stats.interruptions, stats.customer_interruptions) == (1, 1)
    assert stats.overlap_s == pytest.approx(1.5, abs=0.1)
    assert stats.agent_talk_s == pytest.approx(7.5, abs=0.2)
    assert stats.customer_talk_s == pytest.approx(3.5, abs=0.2)
    assert stats.silence_s == pytest.approx(12.0 - 5.5 - 2.0 - 2.0, abs=0.2)
