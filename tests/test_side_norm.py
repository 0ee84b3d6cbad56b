"""Side normalisation: a side's own voice and line are taken off its windows, the same way everywhere."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import scipy.signal

from beam_pipeline import options
from beam_pipeline.prepare import prepare_call
from beam_pipeline.sources import read_identity
from ser_model import side_norm
from ser_model.feature_cache import VariantWindows
from ser_model.features import DEFAULT_SPEC, window_features

REPO = Path(__file__).resolve().parent.parent
SPEC = dataclasses.replace(DEFAULT_SPEC, side_normalisation=True)


def _turns(seed: int = 0) -> list[np.ndarray]:
    """Three noise 'turns' of different lengths with a syllable-rate loudness envelope."""
    rng = np.random.default_rng(seed)
    out = []
    for seconds in (1.3, 4.2, 2.6):
        t = np.arange(int(seconds * 16000)) / 16000
        out.append((rng.normal(size=t.size) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)) * 0.05).astype(np.float32))
    return out


def _side(turns: list[np.ndarray]):
    stacks, weights = zip(*(window_features(t, SPEC) for t in turns))
    return list(stacks), list(weights)


def test_a_sides_real_frames_average_to_zero_and_its_padding_stays_zero():
    stacks, weights = _side(_turns())
    normalised = side_norm.normalise_side(stacks, weights, SPEC)
    real = [w[i, :n] for w, ws in zip(normalised, weights) for i, n in enumerate(side_norm.real_frames(ws, SPEC))]
    assert np.abs(np.concatenate(real).mean(axis=0)).max() < 1e-5
    first = normalised[0][0]   # a 1.3 s turn: 130 real frames, then padding
    assert np.all(first[side_norm.real_frames(weights[0], SPEC)[0]:] == 0)
    assert np.abs(first[:100]).max() > 0.05


def test_a_fixed_line_colouring_is_taken_off():
    """The same turns through a +20 dB high-frequency tilt (a different handset or line) look alike after."""
    plain = _turns()
    tilted = [scipy.signal.lfilter([1.0, -0.9], [1.0], t).astype(np.float32) for t in plain]
    before = [np.abs(a - b).mean() for a, b in zip(_side(plain)[0], _side(tilted)[0])]
    after = [np.abs(a - b).mean() for a, b in zip(side_norm.normalise_side(*_side(plain), SPEC),
                                                  side_norm.normalise_side(*_side(tilted), SPEC))]
    assert min(before) > 0.1                        # the tilt moves the windows by > 2 dB on average
    assert max(after) < 0.2 * min(before)


def test_pseudo_calls_hold_one_speaker_and_cover_every_chosen_clip_once():
    speakers = np.array(["a"] * 20 + ["b"] * 7 + ["c"] * 5)
    rows = np.arange(3, 30)
    rng = np.random.default_rng(1)
    for random_size in (False, True):
        calls = side_norm.pseudo_calls(speakers, rows, rng, clips_per_call=4, random_size=random_size)
        assert np.all(calls[rows] >= 0) and np.all(np.delete(calls, rows) == -1)
        for call in np.unique(calls[rows]):
            members = np.flatnonzero(calls == call)
            assert len(set(speakers[members])) == 1 and 1 <= len(members) <= 4
    fixed = side_norm.pseudo_calls(speakers, rows, rng, clips_per_call=4)
    assert sorted(np.bincount(fixed[rows]))[-1] == 4
    matrix = side_norm.membership(fixed).toarray()
    for i in rows:
        np.testing.assert_array_equal(np.flatnonzero(matrix[i]), np.flatnonzero(fixed == fixed[i]))
    assert not matrix[:3].any()
    assert (side_norm.evaluation_calls(speakers, rows) != side_norm.evaluation_calls(speakers, rows)).nnz == 0


def test_training_calls_mix_any_same_emotion_and_neutral_companions_of_the_same_speaker():
    rng = np.random.default_rng(2)
    speakers = np.repeat(np.array(["a", "b"]), 60)
    labels = np.tile(np.arange(6), 20)           # 4 is neutral
    rows = np.arange(100)                         # b's last 20 clips are held out
    calls = side_norm.companion_calls(speakers, labels, rows, rng, max_clips=8, neutral_label=4).toarray()
    assert not calls[100:].any() and not calls[:, 100:].any()
    kinds = {"own emotion only": 0, "neutral added": 0}
    for clip in rows:
        members = np.flatnonzero(calls[clip])
        assert clip in members and 1 <= len(members) <= 8
        assert set(speakers[members]) == {speakers[clip]}
        others = labels[members[members != clip]]
        if len(others) >= 3:
            kinds["own emotion only"] += bool(np.all(others == labels[clip]))
            kinds["neutral added"] += bool(np.all(others == 4))
    assert min(kinds.values()) > 10               # both one-mood kinds are drawn, not only random mixes


def test_training_windows_are_normalised_as_the_pipeline_normalises_a_side():
    stacks, weights = _side(_turns())
    cached = VariantWindows(np.concatenate(stacks).astype(np.float16), np.concatenate(weights),
                            np.concatenate([np.full(len(s), i, dtype=np.int32) for i, s in enumerate(stacks)]))
    rows = np.arange(len(cached.clip_index))
    from_cache = cached.model_input(rows, SPEC, calls=side_norm.membership(np.zeros(len(stacks), dtype=np.int64)))
    from_pipeline = np.concatenate(side_norm.normalise_side(stacks, weights, SPEC))
    np.testing.assert_allclose(from_cache, from_pipeline, atol=2e-3)   # the cache stores float16
    np.testing.assert_array_equal(cached.model_input(rows, DEFAULT_SPEC), cached.windows.astype(np.float32))


def test_each_side_of_a_stereo_call_is_normalised_on_its_own(tmp_path):
    call = REPO / "examples" / "calls" / "call_0003.flac"
    parsed, _ = options.parse(["--input", str(call)])
    identity = read_identity(str(call), call.stat().st_mtime)
    plain = prepare_call(call.read_bytes(), str(call), identity, parsed, DEFAULT_SPEC)
    normalised = prepare_call(call.read_bytes(), str(call), identity, parsed, SPEC)
    sides = {ref.turn.speaker for ref in normalised.turns}
    assert sides == {"agent", "customer"}
    for side in sides:
        members = [i for i, ref in enumerate(normalised.turns) if ref.turn.speaker == side]
        frames = np.concatenate([normalised.windows[i][w, :n] for i in members for w, n in
                                 enumerate(side_norm.real_frames(normalised.turns[i].window_weights, SPEC))])
        assert np.abs(frames.mean(axis=0)).max() < 1e-4
        raw = np.concatenate([plain.windows[i][w, :n] for i in members for w, n in
                              enumerate(side_norm.real_frames(plain.turns[i].window_weights, SPEC))])
        assert np.abs(raw.mean(axis=0)).max() > 0.1    # there was a side profile to take off
