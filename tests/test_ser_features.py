"""Features and augmentation: the contract between training and the pipeline."""
import numpy as np
import pytest

from ser_model.augment import TRAINING_VARIANTS, apply_variant, telephone_channel
from ser_model.features import (DEFAULT_SPEC, combine_window_probabilities, log_mel, window_bounds,
                                window_features)

RATE_HZ = DEFAULT_SPEC.sample_rate_hz


def _noise(seconds: float, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.1, int(seconds * RATE_HZ)).astype(np.float32)


def test_window_shapes_and_weights_follow_the_spec():
    windows, weights = window_features(_noise(4.2))
    n_frames = 1 + (int(4.2 * RATE_HZ) - DEFAULT_SPEC.n_fft) // DEFAULT_SPEC.hop_length
    assert windows.shape == (2, DEFAULT_SPEC.window_frames, DEFAULT_SPEC.n_mels)
    assert windows.dtype == np.float32
    np.testing.assert_allclose(weights, [1.0, (n_frames - 300) / 300], rtol=1e-6)
    # the second window is zero-padded past the audio's last frame
    assert np.all(windows[1, n_frames - 300:] == 0)
    assert np.any(windows[1, : n_frames - 300] != 0)


def test_features_are_deterministic_and_gain_invariant():
    audio = _noise(2.0, seed=3)
    first, _ = window_features(audio)
    again, _ = window_features(audio.copy())
    louder, _ = window_features(audio * 4.0)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(first, louder, atol=1e-4)


def test_a_short_tail_is_not_a_window_of_its_own_but_a_short_clip_is():
    assert window_bounds(330) == [(0, 300)]
    assert window_bounds(360) == [(0, 300), (300, 360)]
    assert window_bounds(20) == [(0, 20)]


def test_mel_band_stops_at_telephone_bandwidth():
    tone_6k = np.sin(2 * np.pi * 6000 * np.arange(RATE_HZ) / RATE_HZ).astype(np.float32) * 0.5
    tone_1k = np.sin(2 * np.pi * 1000 * np.arange(RATE_HZ) / RATE_HZ).astype(np.float32) * 0.5
    assert log_mel(tone_6k).max() < log_mel(tone_1k).max() - 40


def test_combined_probabilities_are_a_weighted_distribution():
    probabilities = np.array([[0.7, 0.3], [0.1, 0.9]])
    combined = combine_window_probabilities(probabilities, np.array([1.0, 0.25]))
    np.testing.assert_allclose(combined.sum(), 1.0)
    np.testing.assert_allclose(combined, [(0.7 + 0.025) / 1.25, (0.3 + 0.225) / 1.25])


def _band_energy_share(samples: np.ndarray, low_hz: float, high_hz: float) -> float:
    power = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / RATE_HZ)
    return float(power[(freqs >= low_hz) & (freqs < high_hz)].sum() / power.sum())


@pytest.mark.parametrize("codec", ["mulaw", "alaw", "mp3", "vorbis", "none"])
def test_telephone_channel_has_no_energy_above_4_khz(codec):
    noise = _noise(2.0, seed=1)
    line = telephone_channel(noise, RATE_HZ, codec=codec)
    assert line.shape == noise.shape and line.dtype == np.float32
    assert _band_energy_share(line, 4000, 8000) < 1e-3
    assert _band_energy_share(line, 0, 200) < 0.01
    assert _band_energy_share(noise, 4000, 8000) > 0.4  # the input did have it


@pytest.mark.parametrize("codec", ["mp3", "vorbis"])
def test_archive_codecs_keep_the_speech_aligned(codec):
    """A lossy codec may smear the waveform but must not shift it: features are cut by frame."""
    tone = (0.3 * np.sin(2 * np.pi * 440.0 * np.arange(int(1.5 * RATE_HZ)) / RATE_HZ)).astype(np.float32)
    tone[: RATE_HZ // 2] = 0.0  # a silent lead-in, then the tone
    plain = telephone_channel(tone, RATE_HZ, codec="none", noise_dbfs=None)
    coded = telephone_channel(tone, RATE_HZ, codec=codec, noise_dbfs=None)
    assert np.corrcoef(plain, coded)[0, 1] > 0.9
    onset = lambda x: int(np.argmax(np.abs(x) > 0.05))  # noqa: E731
    assert abs(onset(coded) - onset(plain)) < RATE_HZ // 100  # within 10 ms


def test_masked_pooling_ignores_the_padding_after_a_short_window():
    """A 1 s word padded to a 3 s window must pool like the word alone, not like a quiet 3 s."""
    from ser_model.model import SpeechFrames, StatsPooling

    rng = np.random.default_rng(3)
    word = rng.normal(size=(1, 100, 8)).astype(np.float32)
    padded = np.concatenate([word, np.zeros((1, 200, 8), np.float32)], axis=1)
    pooled_padded = np.asarray(StatsPooling()([padded, SpeechFrames()(padded)]))
    pooled_word = np.asarray(StatsPooling()([word, SpeechFrames()(word)]))
    np.testing.assert_allclose(pooled_padded, pooled_word, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(pooled_word[0, :8], word[0].mean(axis=0), rtol=1e-4, atol=1e-4)


def test_training_variants_are_reproducible_per_seed():
    audio = _noise(1.5, seed=2)
    for variant in TRAINING_VARIANTS:
        a = apply_variant(audio, RATE_HZ, variant, seed=7)
        b = apply_variant(audio, RATE_HZ, variant, seed=7)
        np.testing.assert_array_equal(a, b)
        if variant.speed != 1.0:
            assert abs(a.size - audio.size / variant.speed) <= 2


def test_spec_augment_masks_only_while_training():
    from ser_model.model import SpecAugment

    features = np.ones((4, 300, 64), dtype=np.float32)
    layer = SpecAugment(max_time_frames=30, max_freq_bins=8)
    np.testing.assert_array_equal(np.asarray(layer(features, training=False)), features)
    masked = np.asarray(layer(features, training=True))
    for example in masked:
        zero_frames = np.all(example == 0, axis=1).sum()
        zero_bands = np.all(example == 0, axis=0).sum()
        assert zero_frames <= 60 and zero_bands <= 16
        assert set(np.unique(example)) <= {0.0, 1.0}
    assert 0 < (masked == 0).mean() < 0.5


def test_fast_log_mel_matches_librosa():
    import librosa

    audio = _noise(2.3, seed=5)
    spec = DEFAULT_SPEC
    reference = librosa.feature.melspectrogram(
        y=audio, sr=spec.sample_rate_hz, n_fft=spec.n_fft, win_length=spec.win_length,
        hop_length=spec.hop_length, n_mels=spec.n_mels, fmin=spec.fmin_hz, fmax=spec.fmax_hz, power=2.0,
        center=False)
    reference_db = np.maximum(10 * np.log10(np.maximum(reference, 1e-10)), spec.floor_db).T
    ours = log_mel(audio)
    assert ours.shape == reference_db.shape
    np.testing.assert_allclose(ours, reference_db, atol=1e-3)
