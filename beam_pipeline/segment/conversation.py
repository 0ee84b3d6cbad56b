"""Per-call conversation statistics from a call's speaker turns.

Everything is computed from turn spans ([start_s, end_s) of each `Turn`), not from
VAD frames, so the figures add up the way a supervisor reading them expects:

    duration_s = silence_s + (time at least one side speaks)
    time at least one side speaks = (time exactly one side speaks) + overlap_s

A turn span includes its speaker's short pauses (under `TurnOptions.min_gap_s`),
which is what "talk time" means in contact-centre reporting: a customer who
pauses 0.3 s mid-sentence still holds the floor. The frame-level view of the
same call (how much of each turn is voiced, how much of it the other side spoke
over) is on the turns themselves (`speech_ratio`, `overlap_s`).
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

from beam_pipeline.segment.turns import Turn

INTERRUPTION_MIN_CONTINUATION_S = 1.0
"""How long the interrupted side must keep talking after the interrupter starts.

A turn that starts inside the other side's turn is a collision of some kind. If
the other side stops within a second, the newcomer only started as they were
finishing (turn-taking with a little overlap, or a near-simultaneous start); if
they keep going for a second or more, the newcomer talked over them.
"""


@dataclasses.dataclass(frozen=True)
class ConversationStats:
    """How a call went as a conversation: who talked how much, silence, overlap, interruptions."""

    turn_count: int
    agent_talk_s: float              # summed span of the agent's turns
    customer_talk_s: float           # summed span of the customer's turns
    agent_talk_share: float | None   # agent_talk_s / (agent_talk_s + customer_talk_s); None without agent/customer
    customer_talk_share: float | None
    silence_s: float                 # time covered by no turn
    overlap_s: float                 # time covered by turns of two or more speakers
    interruptions: int               # turns that start over another speaker who keeps going >= 1 s
    agent_interruptions: int         # ... of which the agent was the interrupter
    customer_interruptions: int      # ... of which the customer was the interrupter


def _union_s(intervals: Sequence[tuple[float, float]]) -> float:
    """Length of the union of [start, end) intervals."""
    total_s, reach_s = 0.0, float("-inf")
    for start_s, end_s in sorted(intervals):
        if end_s <= reach_s:
            continue
        total_s += end_s - max(start_s, reach_s)
        reach_s = end_s
    return total_s


def _multi_speaker_s(turns: Sequence[Turn]) -> float:
    """Time during which turns of at least two different speakers are open.

    A sweep over turn boundaries with a count of open turns per speaker; a speaker's
    own turns never overlap each other after turn cutting, but counting per speaker
    keeps the answer right even if they did.
    """
    events = sorted([(t.start_s, 1, t.speaker) for t in turns] + [(t.end_s, -1, t.speaker) for t in turns],
                    key=lambda e: (e[0], e[1]))   # ends before starts at the same instant: touching is not overlap
    open_by_speaker: dict[str, int] = {}
    total_s, last_s = 0.0, None
    for time_s, step, speaker in events:
        if last_s is not None and sum(1 for n in open_by_speaker.values() if n > 0) >= 2:
            total_s += time_s - last_s
        open_by_speaker[speaker] = open_by_speaker.get(speaker, 0) + step
        last_s = time_s
    return total_s


def _interrupters(turns: Sequence[Turn]) -> list[str]:
    """Speakers of the turns that start strictly inside another speaker's turn going on >= 1 s past that start.

    Strictly inside: two sides starting at the same instant is a collision nobody
    caused, so neither is credited with interrupting. One sweep in start order,
    keeping the latest end of each speaker's turns started so far, so a long call's
    hundreds of turns cost a linear pass rather than a comparison of every pair.
    """
    ordered = sorted(turns, key=lambda t: t.start_s)
    latest_end_s: dict[str, float] = {}
    interrupters: list[str] = []
    pending: list[Turn] = []          # turns starting at the current instant: not yet "earlier" for each other
    for turn in ordered:
        if pending and turn.start_s > pending[0].start_s:
            for started in pending:
                latest_end_s[started.speaker] = max(latest_end_s.get(started.speaker, float("-inf")), started.end_s)
            pending = []
        if any(end_s - turn.start_s >= INTERRUPTION_MIN_CONTINUATION_S
               for speaker, end_s in latest_end_s.items() if speaker != turn.speaker):
            interrupters.append(turn.speaker)
        pending.append(turn)
    return interrupters


def conversation_stats(turns: Sequence[Turn], duration_s: float) -> ConversationStats:
    """Talk time per side, silence, overlap and interruptions of one call.

    Parameters
    ----------
    turns : the call's turns, any order. Speakers "agent" and "customer" feed the
        per-side figures; other speakers (undiarized "speaker_0", diarized
        "speaker_N") count towards silence, overlap and the total of interruptions.
    duration_s : the recording's length; silence is measured over [0, duration_s].

    Returns
    -------
    ConversationStats. Talk shares are shares of agent + customer talk (not of the
    call's duration), so they sum to 1 and do not move when the hold music gets
    longer; they are None when there is no agent or customer talk to share, as in a
    mono recording nobody has diarized, where a 100 % "share" would be meaningless.
    """
    agent_talk_s = sum(t.duration_s for t in turns if t.speaker == "agent")
    customer_talk_s = sum(t.duration_s for t in turns if t.speaker == "customer")
    talk_s = agent_talk_s + customer_talk_s
    clipped = [(max(0.0, t.start_s), min(duration_s, t.end_s)) for t in turns]
    interrupters = _interrupters(turns)
    return ConversationStats(
        turn_count=len(turns),
        agent_talk_s=round(agent_talk_s, 3),
        customer_talk_s=round(customer_talk_s, 3),
        agent_talk_share=round(agent_talk_s / talk_s, 4) if talk_s > 0 else None,
        customer_talk_share=round(customer_talk_s / talk_s, 4) if talk_s > 0 else None,
        silence_s=round(max(0.0, duration_s - _union_s([c for c in clipped if c[1] > c[0]])), 3),
        overlap_s=round(_multi_speaker_s(turns), 3),
        interruptions=len(interrupters),
        agent_interruptions=interrupters.count("agent"),
        customer_interruptions=interrupters.count("customer"),
    )
