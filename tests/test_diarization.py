"""Mono diarization: speaker turns of mixtures with known turns, the DER harness, one-speaker files.

Two kinds of audio:
* real speech of real speakers from ../shared/data (calm and neutral sentences of
  the *evaluation* speakers, which the shipped embedding never saw), laid out as a
  call and passed through a telephone line by `benchmarks.simulated_calls`;
* two synthetic voices (harmonic buzz through different vowel-like resonances at
  different pitches) for what must hold without the corpora.

The truth is the layout itself; boundaries must come back within `BOUNDARY_TOLERANCE_S`.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.fft
import scipy.signal

from benchmarks.diarization_der import score
from benchmarks.simulated_calls import DEFAULT_DATA_ROOT, CallPlan, read_manifest, simulate_call
from beam_pipeline.segment.diarization import (Diarization, DiarizationOptions, cluster_embeddings, default_embedder,
                                       diarize, diarized_turns, linear_filterbank, neighbour_ranks, pad_speech,
                                       pruned_affinity, residual_spread, segment_statistics, separation,
                                       spectral_partition, speaker_features, speech_segments)
from beam_pipeline.segment.turns import TurnOptions, speaker_turns

RATE_HZ = 16000
BOUNDARY_TOLERANCE_S = 0.3
CALM = CallPlan(duration_s=30.0, neutral_share=1.0, mood_persistence=1.0, overlap_probability=0.0)

needs_corpus = pytest.mark.skipif(not (DEFAULT_DATA_ROOT / "manifest.csv").exists(),
                                  reason=f"speech corpora not found at {DEFAULT_DATA_ROOT}")


@pytest.fixture(scope="module")
def clips():
    return read_manifest()


# --------------------------------------------------------------------------- helpers

def reference_turns(segments, max_gap_s: float = 0.5) -> list[tuple[float, float, str]]:
    """Clips of one speaker separated by less than `max_gap_s` joined into turns (as turn cutting does)."""
    turns: list[list] = []
    for start_s, end_s, speaker in sorted(segments):
        if turns and turns[-1][2] == speaker and start_s - turns[-1][1] < max_gap_s:
            turns[-1][1] = max(turns[-1][1], end_s)
        else:
            turns.append([start_s, end_s, speaker])
    return [tuple(t) for t in turns]


def speaker_mapping(reference, hypothesis) -> dict[str, str]:
    """Hypothesis speaker -> the reference speaker it overlaps most."""
    overlap: dict[tuple[str, str], float] = {}
    for r0, r1, r in reference:
        for h0, h1, h in hypothesis:
            overlap[(h, r)] = overlap.get((h, r), 0.0) + max(0.0, min(r1, h1) - max(r0, h0))
    mapping = {}
    for h in {h for _, _, h in hypothesis}:
        mapping[h] = max((r for _, _, r in reference), key=lambda r: overlap.get((h, r), 0.0))
    return mapping


def boundary_recall(reference, hypothesis, tolerance_s: float = BOUNDARY_TOLERANCE_S) -> float:
    """Share of reference turn starts and ends found as a start (or end) of a turn of the mapped speaker.

    Extra hypothesis boundaries (a turn cut in two at a pause the VAD heard as
    longer than the layout's) cost nothing here; they show up in the DER instead.
    """
    mapping = speaker_mapping(reference, hypothesis)
    found = 0
    for r0, r1, r in reference:
        found += any(mapping[h] == r and abs(h0 - r0) <= tolerance_s for h0, _, h in hypothesis)
        found += any(mapping[h] == r and abs(h1 - r1) <= tolerance_s for _, h1, h in hypothesis)
    return found / (2 * len(reference))


def synthetic_voice(duration_s: float, f0_hz: float, formants_hz: tuple[float, ...], seed: int) -> np.ndarray:
    """A buzz at `f0_hz` (slow pitch wander) through resonances at `formants_hz`, 4 Hz syllables."""
    rng = np.random.default_rng(seed)
    t_s = np.arange(int(duration_s * RATE_HZ)) / RATE_HZ
    f0 = f0_hz * (1 + 0.06 * np.sin(2 * np.pi * 0.5 * t_s + rng.uniform(0, 6)))
    phase = 2 * np.pi * np.cumsum(f0) / RATE_HZ
    buzz = sum(np.sin(k * phase) / k for k in range(1, int(3800 / f0_hz)))
    for formant_hz in formants_hz:
        b, a = scipy.signal.iirpeak(formant_hz, Q=formant_hz / 120.0, fs=RATE_HZ)
        buzz = buzz + 2.0 * scipy.signal.lfilter(b, a, buzz)
    envelope = 0.5 * (1 - np.cos(2 * np.pi * 4.0 * t_s))
    voice = buzz * envelope
    return voice / np.sqrt(np.mean(voice ** 2)) * 10 ** (-24 / 20)


def synthetic_call(layout: list[tuple[float, float, int]], duration_s: float) -> np.ndarray:
    voices = [(110.0, (600.0, 1100.0, 2400.0)), (230.0, (850.0, 2000.0, 3000.0))]
    out = 10 ** (-60 / 20) * np.random.default_rng(9).standard_normal(int(duration_s * RATE_HZ))
    for k, (start_s, end_s, who) in enumerate(layout):
        burst = synthetic_voice(end_s - start_s, *voices[who], seed=k)
        start = int(start_s * RATE_HZ)
        out[start: start + burst.size] += burst
    return out.astype(np.float32)


# --------------------------------------------------------------------------- the harness

def test_der_of_a_hand_checked_case():
    # Reference: A speaks 0-10 s, B 10-20 s. The 0.25 s collar removes [9.75, 10.25] and the
    # outer edges, leaving 9.5 + 9.5 = 19 s scored. The hypothesis keeps A's label until 12 s
    # (1.75 s of B's scored speech confused), has nobody over 5-7 s (2 s missed) and an extra
    # speaker over 20.5-21.5 s (1 s false alarm, outside the collar): (1.75 + 2 + 1) / 19.
    reference = [(0.0, 10.0, "A"), (10.0, 20.0, "B")]
    hypothesis = [(0.0, 5.0, "x"), (7.0, 12.0, "x"), (12.0, 20.0, "y"), (20.5, 21.5, "y")]
    parts = score(reference, hypothesis)
    assert parts["total"] == pytest.approx(19.0)
    assert parts["confusion"] == pytest.approx(1.75)
    assert parts["missed detection"] == pytest.approx(2.0)
    assert parts["false alarm"] == pytest.approx(1.0)
    assert parts["diarization error rate"] == pytest.approx(4.75 / 19.0)


def test_der_ignores_label_names_and_is_zero_for_a_perfect_hypothesis():
    reference = [(0.5, 4.0, "ravdess_11"), (4.6, 9.0, "ravdess_12"), (9.3, 12.0, "ravdess_11")]
    relabelled = [(s, e, {"ravdess_11": "speaker_1", "ravdess_12": "speaker_0"}[k]) for s, e, k in reference]
    assert score(reference, relabelled)["diarization error rate"] == pytest.approx(0.0)


# --------------------------------------------------------------------------- building blocks

def test_segment_statistics_match_numpy():
    features = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    bounds = np.array([[0, 10], [10, 35], [35, 50]])
    stats = segment_statistics(features, bounds)
    for row, (start, end) in zip(stats, bounds):
        np.testing.assert_allclose(row[:3], features[start:end].mean(axis=0), atol=1e-5)
        np.testing.assert_allclose(row[3:], features[start:end].std(axis=0), atol=1e-4)


def test_linear_filterbank_has_32_triangles_100_hz_apart_over_the_telephone_band():
    bands = linear_filterbank(RATE_HZ, 512)                    # bins 31.25 Hz apart
    assert bands.shape == (257, 32)
    bin_hz = np.arange(257) * RATE_HZ / 512
    centres_hz = bin_hz[np.argmax(bands, axis=0)]
    np.testing.assert_allclose(np.diff(centres_hz), 3400.0 / 33, atol=31.25)
    assert bands[bin_hz < 200.0].max() == 0.0 and bands[bin_hz > 3600.0].max() == 0.0
    assert bands.max() <= 1.0 and bands.max(axis=0).min() > 0.7   # every band sees a bin near its peak


def test_speaker_features_are_the_cepstra_of_the_log_band_spectrum():
    samples = synthetic_call([(0.2, 1.8, 0)], 2.0)
    frames = np.array([20, 40, 60])
    bin_hz = np.arange(257) * RATE_HZ / 512
    edges_hz = np.linspace(200.0, 3600.0, 34)
    bands = np.array([np.interp(bin_hz, edges_hz[j:j + 3], [0.0, 1.0, 0.0]) for j in range(32)])
    expected = []
    for frame in frames:
        window = samples[frame * 320 + 160 - 256: frame * 320 + 160 + 256] * np.hanning(512)
        power = np.abs(np.fft.rfft(window)) ** 2
        expected.append(scipy.fft.dct(np.log(bands @ power + 1e-10), type=2, norm="ortho")[1:20])
    np.testing.assert_allclose(speaker_features(samples, RATE_HZ, frames), np.array(expected), atol=2e-3)


def test_padding_grows_speech_into_pauses_and_splits_a_short_pause_between_speakers():
    labels = np.array([-1, -1, -1, -1, 0, 0, -1, -1, -1, 1, 1, -1, -1, -1, -1, -1])
    padded = pad_speech(labels, 2)
    assert padded.tolist() == [-1, -1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, -1, -1, -1]
    assert pad_speech(labels, 0).tolist() == labels.tolist()


def test_speech_segments_split_runs_and_long_runs():
    indices = np.concatenate((np.arange(0, 10), np.arange(20, 45)))     # runs of 10 and 25 frames
    assert speech_segments(indices, max_frames=10).tolist() == [[0, 10], [10, 18], [18, 27], [27, 35]]


# Embeddings are whitened by the within-speaker covariance (`SpeakerEmbedder`): one voice's segments in one
# call spread ~0.1-0.3 per dimension around the voice's mean, two voices sit a few units apart.

def test_clustering_folds_a_tiny_cluster_into_its_nearest():
    rng = np.random.default_rng(1)
    a = rng.normal([2, 0, 0], 0.3, (20, 3))
    b = rng.normal([-2, 0, 0], 0.3, (20, 3))
    odd = np.array([[0, 0, 3.0]])
    embeddings = np.vstack((a, b, odd))
    labels = cluster_embeddings(embeddings, np.ones(41), DiarizationOptions())
    assert np.unique(labels).size == 2
    assert np.unique(labels[:20]).size == 1 and np.unique(labels[20:40]).size == 1 and labels[0] != labels[20]


def test_clustering_counts_by_spread():
    rng = np.random.default_rng(3)
    one_voice = rng.normal(0, 0.3, (40, 19))                  # spread 0.09 per dimension: one speaker
    assert residual_spread(one_voice, np.zeros(40, dtype=np.int64)) < DiarizationOptions().spread_threshold
    assert np.unique(cluster_embeddings(one_voice, np.ones(40), DiarizationOptions())).size == 1
    centres = rng.normal(0, 1.5, (3, 19))
    truth = np.repeat([0, 1, 2], 20)
    three_voices = centres[truth] + rng.normal(0, 0.3, (60, 19))
    labels = cluster_embeddings(three_voices, np.ones(60), DiarizationOptions())
    assert np.unique(labels).size == 3
    assert all(np.unique(labels[truth == k]).size == 1 for k in range(3))
    forced = cluster_embeddings(three_voices, np.ones(60), DiarizationOptions(num_speakers=2))
    assert np.unique(forced).size == 2
    assert np.unique(cluster_embeddings(one_voice, np.ones(40), DiarizationOptions(num_speakers=2))).size == 2


def test_pruned_affinity_keeps_each_rows_nearest_and_is_symmetric():
    similarity = np.array([[1.0, 0.9, 0.2, -0.5],
                           [0.9, 1.0, 0.85, 0.1],
                           [0.2, 0.85, 1.0, 0.8],
                           [-0.5, 0.1, 0.8, 1.0]])
    affinity = pruned_affinity(similarity, neighbour_ranks(similarity), keep=1)
    np.testing.assert_allclose(affinity, affinity.T)
    assert affinity[0, 1] == pytest.approx(0.9)          # 0 and 1 keep each other
    assert affinity[1, 2] == pytest.approx(0.425)        # only 2 keeps 1: half the link
    assert affinity[2, 3] == pytest.approx(0.4)          # only 3 keeps 2
    assert affinity[0, 2] == 0.0 and affinity[0, 3] == 0.0 and affinity[1, 3] == 0.0


def test_spectral_partition_splits_separated_voices_the_same_way_every_time():
    rng = np.random.default_rng(4)
    centres = rng.normal(0, 1.5, (3, 19))
    truth = np.repeat([0, 1, 2], [8, 14, 20])
    unit = centres[truth] + rng.normal(0, 0.3, (truth.size, 19))
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    labels = spectral_partition(unit, 3)
    assert all(np.unique(labels[truth == k]).size == 1 for k in range(3)) and np.unique(labels).size == 3
    np.testing.assert_array_equal(labels, spectral_partition(unit, 3))
    np.testing.assert_array_equal(spectral_partition(unit[:2], 3), [0, 1])     # fewer segments than clusters


def test_separation_is_highest_for_the_voices_own_split():
    rng = np.random.default_rng(6)
    truth = np.repeat([0, 1], 15)
    unit = np.array([[2.0, 0, 0], [-2.0, 0, 0]])[truth] + rng.normal(0, 0.5, (30, 3))
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    assert separation(unit, truth) > 1.0
    assert separation(unit, truth) > separation(unit, rng.permutation(truth)) + 1.0


def test_clustering_both_ways_keeps_the_better_separated_split():
    rng = np.random.default_rng(7)
    for trial in range(5):
        embeddings = rng.normal(0, 1.0, (25, 19))            # no clear voices: the two splits differ
        unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
        splits = {method: cluster_embeddings(embeddings, np.ones(25),
                                             DiarizationOptions(num_speakers=2, clustering=method, min_speaker_share=0))
                  for method in ("average", "spectral", "both")}
        best = max(separation(unit, splits["average"]), separation(unit, splits["spectral"]))
        assert separation(unit, splits["both"]) == pytest.approx(best)
    with pytest.raises(ValueError):
        cluster_embeddings(embeddings, np.ones(25), DiarizationOptions(clustering="ward"))


def test_clustering_of_a_very_long_recording_samples_then_assigns():
    rng = np.random.default_rng(2)
    centres = np.array([[2.0, 0.0, 0.0], [-2.0, 0.0, 0.0]])
    truth = rng.integers(0, 2, 5000)                         # more segments than linkage is given at once
    embeddings = centres[truth] + rng.normal(0, 0.3, (5000, 3))
    labels = cluster_embeddings(embeddings, np.ones(5000), DiarizationOptions())
    assert max(np.mean(labels == truth), np.mean(labels != truth)) == 1.0


def test_shipped_embedder_whitens_speaker_features():
    embedder = default_embedder()
    assert embedder.mean.shape == (19,) and embedder.transform.shape == (19, 19)
    statistics = np.random.default_rng(4).normal(size=(5, 38)).astype(np.float32)
    np.testing.assert_allclose(embedder.embed(statistics), (statistics[:, :19] - embedder.mean) @ embedder.transform,
                               rtol=1e-5, atol=1e-5)


def test_speaker_turns_from_masks():
    samples = synthetic_call([(0.5, 2.5, 0), (3.0, 5.0, 1)], 6.0)
    n_frames = samples.size // 320
    masks = np.zeros((2, n_frames), dtype=bool)
    masks[0, 25:125] = True
    masks[1, 150:250] = True
    turns = speaker_turns(samples, RATE_HZ, masks, ["speaker_0", "speaker_1"], TurnOptions())
    assert [(t.speaker, t.start_s, t.end_s, t.channel, t.overlap_s) for t in turns] == \
        [("speaker_0", 0.5, 2.5, 0, 0.0), ("speaker_1", 3.0, 5.0, 0, 0.0)]
    assert turns[0].pitch_median_hz == pytest.approx(110.0, rel=0.1)
    assert turns[1].pitch_median_hz == pytest.approx(230.0, rel=0.1)


def test_diarization_segments_are_runs_of_one_speaker():
    labels = np.array([-1, 0, 0, 1, 1, -1, 0])
    diarization = Diarization(0.02, labels, ("speaker_0", "speaker_1"))
    assert diarization.segments() == [(0.02, 0.06, "speaker_0"), (0.06, 0.1, "speaker_1"),
                                      (0.12, 0.14, "speaker_0")]


# --------------------------------------------------------------------------- diarization

def test_two_synthetic_voices_are_told_apart_at_their_turn_boundaries():
    layout = [(0.5, 4.0, 0), (4.8, 8.0, 1), (8.6, 12.0, 0), (12.5, 15.5, 1), (16.2, 19.5, 0)]
    samples = synthetic_call(layout, 20.0)
    # the count is told: synthetic buzz is unlike the speech the embedding was trained on, so its
    # distances say little about how many voices there are; the boundaries are what is tested here
    turns = diarized_turns(samples, RATE_HZ, options=DiarizationOptions(num_speakers=2))
    hypothesis = [(t.start_s, t.end_s, t.speaker) for t in turns]
    reference = [(s, e, f"voice_{w}") for s, e, w in layout]
    assert {t.speaker for t in turns} == {"speaker_0", "speaker_1"}
    assert turns[0].speaker == "speaker_0"                       # named in order of first speech
    assert boundary_recall(reference, hypothesis) == 1.0
    assert all(t.channel == 0 for t in turns)


def test_silence_gives_no_speakers():
    quiet = (10 ** (-70 / 20) * np.random.default_rng(0).standard_normal(5 * RATE_HZ)).astype(np.float32)
    assert diarize(quiet, RATE_HZ).n_speakers == 0
    assert diarized_turns(quiet, RATE_HZ) == []


def test_first_speaker_role_names_agent_and_customer():
    layout = [(0.5, 4.0, 1), (4.8, 8.0, 0), (8.6, 12.0, 1), (12.5, 15.5, 0)]
    samples = synthetic_call(layout, 16.0)
    turns = diarized_turns(samples, RATE_HZ, options=DiarizationOptions(num_speakers=2, first_speaker_role=True))
    assert turns[0].speaker == "agent"
    assert {t.speaker for t in turns} == {"agent", "customer"}


@needs_corpus
@pytest.mark.parametrize("speakers, seed", [(("ravdess_13", "ravdess_14"), 1), (("emodb_15", "emodb_16"), 2)])
def test_two_real_speakers_turn_boundaries(clips, speakers, seed):
    # Clear-cut cases (a man and a woman, calm speech, no overlap): every turn boundary must come
    # back. Harder cases (same sex, changing moods) are measured, not asserted: diarization_der.py.
    call = simulate_call("two", [clips[s] for s in speakers], seed=seed, plan=CALM)
    turns = diarized_turns(call.samples, RATE_HZ)
    hypothesis = [(t.start_s, t.end_s, t.speaker) for t in turns]
    assert {t.speaker for t in turns} == {"speaker_0", "speaker_1"}
    assert boundary_recall(reference_turns(call.reference), hypothesis) >= 0.9
    assert score(call.reference, hypothesis)["diarization error rate"] < 0.05


@needs_corpus
@pytest.mark.parametrize("speaker", ["ravdess_11", "ravdess_12", "emodb_14"])
def test_one_real_speaker_gives_one_speaker(clips, speaker):
    # calm speech; a single speaker whose mood swings is sometimes split in two (measured in
    # diarization_der.py's one-speaker case, not asserted)
    call = simulate_call("one", [clips[speaker]], seed=3, plan=CALM)
    diarization = diarize(call.samples, RATE_HZ)
    assert diarization.speakers == ("speaker_0",)
    turns = diarized_turns(call.samples, RATE_HZ)
    assert turns and {t.speaker for t in turns} == {"speaker_0"}


@needs_corpus
def test_known_speaker_count_is_respected(clips):
    call = simulate_call("three", [clips[s] for s in ("ravdess_11", "ravdess_12", "ravdess_14")], seed=4,
                         plan=dataclasses.replace(CALM, duration_s=40.0))
    assert diarize(call.samples, RATE_HZ, options=DiarizationOptions(num_speakers=3)).n_speakers == 3
    assert diarize(call.samples, RATE_HZ, options=DiarizationOptions(num_speakers=2)).n_speakers == 2
