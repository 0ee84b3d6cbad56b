"""Voice activity, turn cutting, loudness and pitch on synthetic calls with known speech regions.

Speech stand-in: harmonics of an F0 (optionally only the 300-3400 Hz telephone band,
so the fundamental itself is missing, as on a real phone line) under a 4 Hz
syllable envelope that falls to zero between syllables, over white line noise at
-65 dBFS. The regions where it is switched on are the truth every test compares
against: turn boundaries must be within 0.1 s of them.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.signal

from beam_pipeline.segment.turns import Turn, TurnOptions, mono_turns, speech_frames, stereo_turns

RATE_HZ = 16000
NOISE_DBFS = -65.0
SPEECH_DBFS = -20.0
BOUNDARY_TOLERANCE_S = 0.1
OPTIONS = TurnOptions()


# --------------------------------------------------------------------------- signals

def rms_dbfs(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(x, dtype=np.float64) ** 2)))


def scaled(x: np.ndarray, level_dbfs: float) -> np.ndarray:
    return x * 10 ** ((level_dbfs - rms_dbfs(x)) / 20)


def voice(duration_s: float, f0_hz: float = 150.0, telephone: bool = False, seed: int = 0,
          rate_hz: int = RATE_HZ) -> np.ndarray:
    """Harmonic signal with 4 Hz syllable modulation (envelope 0 at both ends), 1/k harmonic amplitudes."""
    rng = np.random.default_rng(seed)
    t_s = np.arange(int(round(duration_s * rate_hz))) / rate_hz
    lowest = int(np.ceil(300.0 / f0_hz)) if telephone else 1
    harmonics = range(lowest, int(min(3400.0, rate_hz / 2 - 100) / f0_hz) + 1)
    signal = sum(np.sin(2 * np.pi * k * f0_hz * t_s + rng.uniform(0, 2 * np.pi)) / k for k in harmonics)
    return signal * 0.5 * (1 - np.cos(2 * np.pi * 4.0 * t_s))


def noise(duration_s: float, level_dbfs: float = NOISE_DBFS, seed: int = 1, rate_hz: int = RATE_HZ) -> np.ndarray:
    return 10 ** (level_dbfs / 20) * np.random.default_rng(seed).standard_normal(int(round(duration_s * rate_hz)))


def channel(duration_s: float, regions: list[tuple[float, float]], level_dbfs: float = SPEECH_DBFS,
            f0_hz: float = 150.0, seed: int = 0, noise_dbfs: float | None = NOISE_DBFS,
            rate_hz: int = RATE_HZ) -> np.ndarray:
    """Line noise with `voice` switched on over each (start_s, end_s) region, each region at `level_dbfs` RMS."""
    out = noise(duration_s, noise_dbfs, seed + 100, rate_hz) if noise_dbfs is not None else \
        np.zeros(int(round(duration_s * rate_hz)))
    for i, (start_s, end_s) in enumerate(regions):
        burst = scaled(voice(end_s - start_s, f0_hz, seed=seed + i, rate_hz=rate_hz), level_dbfs)
        start = int(round(start_s * rate_hz))
        out[start: start + burst.size] += burst
    return out.astype(np.float32)


def leak_of(source: np.ndarray, below_db: float, delay_s: float = 0.008, wobble_db: float = 4.0,
            seed: int = 2) -> np.ndarray:
    """The other side's voice as it leaks into a channel: delayed, low-passed (one pole), `below_db` quieter.

    The coupling wanders by up to +-`wobble_db` over a few hundred ms, as a real echo
    path's does when the spectrum of the speech moves through it.
    """
    delayed = np.concatenate((np.zeros(int(delay_s * RATE_HZ)), source))[: source.size]
    knots = np.random.default_rng(seed).uniform(-wobble_db, wobble_db, source.size // (RATE_HZ // 5) + 2)
    gain_db = np.interp(np.arange(source.size), np.arange(knots.size) * (RATE_HZ // 5), knots) - below_db
    return (scipy.signal.lfilter([0.4], [1.0, -0.6], delayed) * 10 ** (gain_db / 20)).astype(np.float32)


def runs_s(mask: np.ndarray, frame_s: float = OPTIONS.frame_s) -> list[tuple[float, float]]:
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return [(s * frame_s, e * frame_s) for s, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))]


def assert_spans(turns: list[Turn], expected: list[tuple[float, float]], tolerance_s: float = BOUNDARY_TOLERANCE_S):
    got = [(t.start_s, t.end_s) for t in turns]
    assert len(got) == len(expected), f"turns {got}, expected {expected}"
    for (start_s, end_s), (want_start_s, want_end_s) in zip(got, expected):
        assert abs(start_s - want_start_s) <= tolerance_s, f"start {start_s} vs {want_start_s} in {got}"
        assert abs(end_s - want_end_s) <= tolerance_s, f"end {end_s} vs {want_end_s} in {got}"


# --------------------------------------------------------------------------- voice activity

def test_speech_frames_follow_known_regions():
    regions = [(1.0, 3.0), (4.5, 6.5)]
    mask = speech_frames(channel(8.0, regions), RATE_HZ, OPTIONS)
    assert mask.dtype == bool and mask.shape == (400,)
    found = runs_s(mask)
    assert len(found) == 2, found
    for (start_s, end_s), (want_start_s, want_end_s) in zip(found, regions):
        assert abs(start_s - want_start_s) <= BOUNDARY_TOLERANCE_S
        assert abs(end_s - want_end_s) <= BOUNDARY_TOLERANCE_S


def test_syllable_gaps_do_not_fragment_speech():
    """The envelope reaches zero between syllables every 250 ms; the VAD must bridge those dips."""
    mask = speech_frames(channel(6.0, [(1.0, 5.0)]), RATE_HZ, OPTIONS)
    assert len(runs_s(mask)) == 1
    assert mask[int(1.1 / 0.02): int(4.9 / 0.02)].all()


def test_speech_frames_on_stereo_input_gives_one_row_per_channel():
    stereo = np.stack([channel(4.0, [(0.5, 2.0)]), channel(4.0, [(2.5, 3.5)], seed=7)])
    mask = speech_frames(stereo, RATE_HZ, OPTIONS)
    assert mask.shape == (2, 200)
    assert mask[0, 50] and not mask[1, 50]
    assert mask[1, 150] and not mask[0, 150]


def test_noise_floor_adapts_to_a_noisy_line():
    """The same speech over -40 dBFS line noise: the threshold rides on the channel's own floor."""
    samples = channel(8.0, [(1.0, 3.0), (4.5, 6.5)], noise_dbfs=-40.0)
    assert_spans(mono_turns(samples, RATE_HZ, OPTIONS), [(1.0, 3.0), (4.5, 6.5)])


@pytest.mark.parametrize("kind", ["line noise", "digital silence", "speech below the absolute floor"])
def test_no_speech_gives_no_turns(kind):
    if kind == "line noise":
        samples = noise(10.0).astype(np.float32)
    elif kind == "digital silence":
        samples = np.zeros(10 * RATE_HZ, dtype=np.float32)
    else:   # a faint voice at -62 dBFS on a -90 dBFS line: 28 dB above the floor, but under floor_dbfs (-55)
        samples = channel(10.0, [(2.0, 6.0)], level_dbfs=-62.0, noise_dbfs=-90.0)
    assert not speech_frames(samples, RATE_HZ, OPTIONS).any()
    assert mono_turns(samples, RATE_HZ, OPTIONS) == []
    assert stereo_turns(np.stack([samples, samples]), RATE_HZ, {0: "agent", 1: "customer"}, OPTIONS) == []


def test_keyboard_clicks_are_not_speech():
    """Typing through the agent's headset: 15 ms clicks six times a second, as loud as speech, for 3 s."""
    samples = noise(6.0)
    click = scaled(np.random.default_rng(4).standard_normal(int(0.015 * RATE_HZ)), SPEECH_DBFS)
    for start_s in np.arange(1.0, 4.0, 1 / 6):
        start = int(start_s * RATE_HZ)
        samples[start: start + click.size] += click
    assert mono_turns(samples.astype(np.float32), RATE_HZ, OPTIONS) == []


def test_audio_shorter_than_a_frame_gives_no_frames_and_no_turns():
    assert speech_frames(np.zeros(100, dtype=np.float32), RATE_HZ, OPTIONS).shape == (0,)
    assert mono_turns(np.zeros(100, dtype=np.float32), RATE_HZ, OPTIONS) == []


# --------------------------------------------------------------------------- turn cutting

def test_mono_turns_boundaries_and_fields():
    regions = [(0.8, 2.4), (3.6, 7.1), (8.3, 9.4)]
    turns = mono_turns(channel(10.0, regions), RATE_HZ, OPTIONS)
    assert_spans(turns, regions)
    for turn in turns:
        assert turn.speaker == "speaker_0" and turn.channel == 0
        assert turn.overlap_s == 0.0
        assert turn.speech_ratio == pytest.approx(1.0)
        assert turn.duration_s == pytest.approx(turn.end_s - turn.start_s)
    assert mono_turns(channel(10.0, regions), RATE_HZ, OPTIONS, speaker="speaker_3")[0].speaker == "speaker_3"


def test_pauses_shorter_than_min_gap_are_merged_longer_ones_split():
    # pauses of 0.3 s (merged at the default 0.5 s) and 0.9 s (a new turn)
    samples = channel(9.0, [(1.0, 3.0), (3.3, 5.0), (5.9, 8.0)])
    turns = mono_turns(samples, RATE_HZ, OPTIONS)
    assert_spans(turns, [(1.0, 5.0), (5.9, 8.0)])
    # the merged pause stays visible as non-speech inside the turn
    assert turns[0].speech_ratio == pytest.approx((4.0 - 0.3) / 4.0, abs=0.04)
    # a tighter min_gap_s splits at the 0.3 s pause too
    tight = mono_turns(samples, RATE_HZ, dataclasses.replace(OPTIONS, min_gap_s=0.2))
    assert_spans(tight, [(1.0, 3.0), (3.3, 5.0), (5.9, 8.0)])


def test_a_pause_the_other_side_leaves_silent_stays_in_the_turn():
    """A 1 s pause (over min_gap_s): on a stereo line one turn while the other side is silent, two when it speaks."""
    roles = {0: "agent", 1: "customer"}
    agent = channel(10.0, [(1.0, 3.0), (4.0, 6.0)])
    silent = channel(10.0, [], seed=10)
    assert_spans(stereo_turns(np.stack([agent, silent]), RATE_HZ, roles, OPTIONS), [(1.0, 6.0)])
    answered = channel(10.0, [(3.1, 3.9)], f0_hz=220.0, seed=10)
    turns = stereo_turns(np.stack([agent, answered]), RATE_HZ, roles, OPTIONS)
    assert_spans([t for t in turns if t.channel == 0], [(1.0, 3.0), (4.0, 6.0)])
    # longer than max_pause_s: a new turn even in silence; and one channel alone cannot tell, so min_gap_s rules
    shorter = dataclasses.replace(OPTIONS, max_pause_s=0.8)
    assert_spans(stereo_turns(np.stack([agent, silent]), RATE_HZ, roles, shorter), [(1.0, 3.0), (4.0, 6.0)])
    assert_spans(mono_turns(agent, RATE_HZ, OPTIONS), [(1.0, 3.0), (4.0, 6.0)])


def test_runs_shorter_than_min_turn_are_dropped():
    samples = channel(6.0, [(1.0, 1.2), (3.0, 4.5)])
    assert_spans(mono_turns(samples, RATE_HZ, OPTIONS), [(3.0, 4.5)])
    assert_spans(mono_turns(samples, RATE_HZ, dataclasses.replace(OPTIONS, min_turn_s=0.1)),
                 [(1.0, 1.2), (3.0, 4.5)])


def test_runs_longer_than_max_turn_are_split_at_a_pause():
    """10 s of speech with max 4 s: three pieces of ~3.3 s; the first cut lands in the nearby 0.3 s pause."""
    samples = channel(12.0, [(1.0, 4.3), (4.6, 11.0)])
    options = dataclasses.replace(OPTIONS, max_turn_s=4.0)
    turns = mono_turns(samples, RATE_HZ, options)
    assert len(turns) == 3
    assert all(t.duration_s <= 4.0 for t in turns)
    assert all(t.duration_s >= 2.5 for t in turns)
    assert abs(turns[0].start_s - 1.0) <= BOUNDARY_TOLERANCE_S
    assert abs(turns[-1].end_s - 11.0) <= BOUNDARY_TOLERANCE_S
    assert abs(turns[0].end_s - 4.3) <= BOUNDARY_TOLERANCE_S and abs(turns[1].start_s - 4.6) <= BOUNDARY_TOLERANCE_S
    # nothing lost between pieces but the pause and at most a frame at a hard cut
    assert turns[2].start_s - turns[1].end_s <= 0.02 + 1e-9
    # with the default 30 s cap it is one turn
    assert len(mono_turns(samples, RATE_HZ, OPTIONS)) == 1


# --------------------------------------------------------------------------- stereo: roles, overlap, crosstalk

def test_stereo_turns_roles_order_and_overlap():
    agent = channel(10.0, [(0.5, 4.0), (6.0, 9.0)], seed=0)
    customer = channel(10.0, [(3.0, 5.5)], level_dbfs=-26.0, f0_hz=220.0, seed=10)
    turns = stereo_turns(np.stack([agent, customer]), RATE_HZ, {0: "agent", 1: "customer"}, OPTIONS)
    assert [t.speaker for t in turns] == ["agent", "customer", "agent"]
    assert [t.channel for t in turns] == [0, 1, 0]
    assert_spans(turns, [(0.5, 4.0), (3.0, 5.5), (6.0, 9.0)])
    # agent and customer both speak from 3.0 to 4.0
    assert turns[0].overlap_s == pytest.approx(1.0, abs=0.1)
    assert turns[1].overlap_s == pytest.approx(1.0, abs=0.1)
    assert turns[2].overlap_s == 0.0
    swapped = stereo_turns(np.stack([agent, customer]), RATE_HZ, {0: "customer", 1: "agent"}, OPTIONS)
    assert [t.speaker for t in swapped] == ["customer", "agent", "customer"]


@pytest.mark.parametrize("leak_db", [15.0, 20.0, 30.0])
def test_crosstalk_is_not_turned_into_turns(leak_db):
    """The agent's voice leaks into the customer channel `leak_db` down; only the customer's own turn is found."""
    agent = channel(12.0, [(0.5, 4.0), (5.0, 8.0), (9.5, 11.5)], seed=0)
    customer_own = channel(12.0, [(8.4, 9.2)], level_dbfs=-24.0, f0_hz=220.0, seed=10, noise_dbfs=None)
    customer = customer_own + leak_of(agent, leak_db) + noise(12.0, seed=5).astype(np.float32)
    turns = stereo_turns(np.stack([agent, customer]), RATE_HZ, {0: "agent", 1: "customer"}, OPTIONS)
    # the agent's 1 s pause at 4 s is silent on the customer's line (leak is no speech): one turn
    assert_spans([t for t in turns if t.speaker == "agent"], [(0.5, 8.0), (9.5, 11.5)])
    assert_spans([t for t in turns if t.speaker == "customer"], [(8.4, 9.2)])
    mask = speech_frames(np.stack([agent, customer]), RATE_HZ, OPTIONS)
    assert mask[1].mean() < 0.1


def test_leak_in_both_directions():
    agent = channel(10.0, [(0.5, 3.5), (6.5, 9.5)], seed=0)
    customer = channel(10.0, [(4.0, 6.0)], level_dbfs=-28.0, f0_hz=210.0, seed=10)
    both = np.stack([agent + leak_of(customer, 20.0), customer + leak_of(agent, 20.0)])
    turns = stereo_turns(both, RATE_HZ, {0: "agent", 1: "customer"}, OPTIONS)
    assert [t.speaker for t in turns] == ["agent", "customer", "agent"]
    assert_spans(turns, [(0.5, 3.5), (4.0, 6.0), (6.5, 9.5)])


def test_quiet_side_talking_over_a_loud_one_is_still_speech():
    """Overlap 20 dB below the other side (per-side gains differ) over 35 dB leak: not mistaken for leak."""
    agent = channel(12.0, [(0.5, 11.0)], level_dbfs=-18.0, seed=0)
    customer_own = channel(12.0, [(5.0, 8.0)], level_dbfs=-38.0, f0_hz=220.0, seed=10, noise_dbfs=None)
    customer = customer_own + leak_of(agent, 35.0) + noise(12.0, level_dbfs=-75.0, seed=5).astype(np.float32)
    turns = stereo_turns(np.stack([agent, customer]), RATE_HZ, {0: "agent", 1: "customer"}, OPTIONS)
    customer_turns = [t for t in turns if t.speaker == "customer"]
    assert_spans(customer_turns, [(5.0, 8.0)])
    assert customer_turns[0].overlap_s == pytest.approx(3.0, abs=0.2)


def test_a_digitally_silent_channel_has_no_turns():
    agent = channel(8.0, [(1.0, 3.0), (4.0, 7.0)], noise_dbfs=None)
    silent = np.zeros_like(agent)
    turns = stereo_turns(np.stack([agent, silent]), RATE_HZ, {0: "agent", 1: "customer"}, OPTIONS)
    assert [t.speaker for t in turns] == ["agent"]      # nobody answered in the 1 s pause: one turn
    assert_spans(turns, [(1.0, 7.0)])


def test_shapes_are_checked():
    with pytest.raises(ValueError):
        stereo_turns(np.zeros(RATE_HZ, dtype=np.float32), RATE_HZ, {0: "agent"}, OPTIONS)
    with pytest.raises(ValueError):
        mono_turns(np.zeros((2, RATE_HZ), dtype=np.float32), RATE_HZ, OPTIONS)


# --------------------------------------------------------------------------- loudness and pitch

def test_loudness_of_a_minus_20_dbfs_voice():
    """A -20 dBFS RMS voice burst reads about -20 dBFS (its syllable dips are not speech frames, hence the margin).

    (A steady -20 dBFS 1 kHz tone used to be this test's signal; steady tones are
    now non-speech, see tests/test_speech_detection.py.)
    """
    samples = channel(6.0, [(1.0, 4.0)], level_dbfs=-20.0)
    (turn,) = mono_turns(samples, RATE_HZ, OPTIONS)
    assert_spans([turn], [(1.0, 4.0)])
    assert turn.loudness_dbfs == pytest.approx(-20.0, abs=1.5)


def test_loudness_is_measured_over_speech_frames_only():
    """A turn with a merged pause: the pause's silence must not drag the level down."""
    samples = channel(8.0, [(1.0, 3.0), (3.4, 6.0)], level_dbfs=-30.0)
    (turn,) = mono_turns(samples, RATE_HZ, OPTIONS)
    assert turn.loudness_dbfs == pytest.approx(-30.0, abs=1.0)


@pytest.mark.parametrize("f0_hz", [100.0, 150.0, 250.0, 350.0])
@pytest.mark.parametrize("telephone", [False, True])
def test_pitch_of_a_harmonic_signal(f0_hz, telephone):
    """Within 5 %, also with the fundamental removed by the telephone band (pitch from the harmonics)."""
    samples = noise(5.0).astype(np.float32)
    burst = scaled(voice(3.0, f0_hz, telephone=telephone), SPEECH_DBFS).astype(np.float32)
    samples[RATE_HZ: RATE_HZ + burst.size] += burst
    (turn,) = mono_turns(samples, RATE_HZ, OPTIONS)
    assert turn.pitch_median_hz is not None
    assert turn.pitch_median_hz == pytest.approx(f0_hz, rel=0.05)


def test_pitch_per_side_in_stereo():
    agent = channel(8.0, [(0.5, 3.5)], f0_hz=120.0)
    customer = channel(8.0, [(4.0, 7.0)], f0_hz=210.0, seed=10)
    turns = stereo_turns(np.stack([agent, customer]), RATE_HZ, {0: "agent", 1: "customer"}, OPTIONS)
    assert [t.speaker for t in turns] == ["agent", "customer"]
    assert turns[0].pitch_median_hz == pytest.approx(120.0, rel=0.05)
    assert turns[1].pitch_median_hz == pytest.approx(210.0, rel=0.05)


def test_unvoiced_noise_bursts_have_no_pitch():
    """Amplitude-modulated noise (whisper-like) is speech to the VAD but has no F0."""
    rng = np.random.default_rng(3)
    t_s = np.arange(3 * RATE_HZ) / RATE_HZ
    burst = rng.standard_normal(t_s.size) * 0.5 * (1 - np.cos(2 * np.pi * 4.0 * t_s))
    samples = noise(5.0).astype(np.float32)
    samples[RATE_HZ: 4 * RATE_HZ] += scaled(burst, SPEECH_DBFS).astype(np.float32)
    (turn,) = mono_turns(samples, RATE_HZ, OPTIONS)
    assert_spans([turn], [(1.0, 4.0)])
    assert turn.pitch_median_hz is None


def test_works_at_8_khz():
    rate_hz = 8000
    samples = channel(6.0, [(1.0, 2.5), (3.5, 5.0)], f0_hz=180.0, rate_hz=rate_hz)
    turns = mono_turns(samples, rate_hz, OPTIONS)
    assert_spans(turns, [(1.0, 2.5), (3.5, 5.0)])
    assert all(t.pitch_median_hz == pytest.approx(180.0, rel=0.05) for t in turns)
