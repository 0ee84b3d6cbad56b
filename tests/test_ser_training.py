"""Training, export and evaluation on a handful of real clips from ../shared/data."""
import csv
import json
from pathlib import Path

import numpy as np
import pytest

from ser_model.augment import TRAINING_VARIANTS
from ser_model.corpus import read_manifest
from ser_model.feature_cache import compute_windows
from ser_model.features import DEFAULT_SPEC
from ser_model.inference import EmotionScorer, ModelInfo

DATA_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data"
MANIFEST = DATA_ROOT / "manifest.csv"
pytestmark = pytest.mark.skipif(not MANIFEST.exists(), reason=f"corpora not found at {DATA_ROOT}")
CLASSES = ("angry", "happy", "neutral", "sad")


@pytest.fixture(scope="module")
def small_manifest(tmp_path_factory) -> Path:
    """Two RAVDESS actors (one male, one female) and one EmoDB speaker, four emotions."""
    with open(MANIFEST, newline="") as handle:
        rows = [r for r in csv.DictReader(handle)
                if r["speaker"] in ("ravdess_01", "ravdess_02", "emodb_03") and r["label6"] in CLASSES
                and r["intensity"] != "normal"]
    path = tmp_path_factory.mktemp("manifest") / "small.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def trained(small_manifest, tmp_path_factory):
    """A tiny model fitted on the small manifest's clips and exported."""
    import keras

    from ser_model.export import export_model
    from ser_model.model import build_model
    from ser_model.train import fit

    keras.utils.set_random_seed(0)
    clips = read_manifest(small_manifest, DATA_ROOT, CLASSES)
    labels = np.array([CLASSES.index(c.label) for c in clips])
    windows = compute_windows(clips, TRAINING_VARIANTS, n_jobs=1)
    model = build_model(len(CLASSES), stem_filters=16, block_filters=(16, 24), dense_units=16, dropout=0.0,
                        spec_augment=False, learning_rate=5e-3)
    fit(model, windows, np.arange(len(clips)), labels, n_clips=len(clips), epochs=40, batch_size=32, seed=0,
        learning_rate=5e-3)
    out_dir = tmp_path_factory.mktemp("model")
    metadata = export_model(model, out_dir, classes=CLASSES, spec=DEFAULT_SPEC, training_config={"test": True})
    return {"clips": clips, "labels": labels, "windows": windows, "model": model, "dir": out_dir,
            "metadata": metadata}


def test_tiny_training_run_beats_chance_on_its_own_clips(trained):
    from sklearn.metrics import balanced_accuracy_score

    from ser_model.train import predict_clips

    clean = trained["windows"]["clean"]
    predicted = predict_clips(trained["model"], clean, np.arange(len(trained["clips"]))).argmax(axis=1)
    assert balanced_accuracy_score(trained["labels"], predicted) > 0.5  # chance is 0.25


def test_export_and_reload_give_identical_outputs(trained):
    import tensorflow as tf

    windows = trained["windows"]["clean"].windows[:8].astype(np.float32)
    expected = np.asarray(trained["model"](windows, training=False))
    info = ModelInfo.read(trained["dir"])
    assert info.model_version == trained["metadata"]["model_version"]
    assert info.model_version.startswith("ser-") and info.classes == CLASSES
    np.testing.assert_allclose(EmotionScorer(info).predict(windows), expected, atol=1e-6)
    served = tf.saved_model.load(str(trained["dir"] / "saved_model"))
    signature = served.signatures["serving_default"]
    outputs = signature(log_mel=tf.constant(windows))
    np.testing.assert_allclose(np.asarray(list(outputs.values())[0]), expected, atol=1e-5)


def test_the_shipped_tflite_copy_scores_as_the_keras_model_does_without_importing_tensorflow():
    # The job scores with the .tflite file (no TensorFlow in its workers); it must be the
    # shipped Keras model's graph and weights: `python -m ser_model.export` re-derives it.
    import subprocess
    import sys

    import keras

    import ser_model.model  # noqa: F401
    from ser_model.export import KERAS_FILE
    from ser_model.inference import DEFAULT_MODEL_DIR

    info = ModelInfo.read(DEFAULT_MODEL_DIR)
    windows = np.random.default_rng(7).normal(-4.0, 2.0, (70, info.spec.window_frames, info.spec.n_mels))
    windows = windows.astype(np.float32)
    expected = np.asarray(keras.saving.load_model(DEFAULT_MODEL_DIR / KERAS_FILE, compile=False)(windows,
                                                                                              training=False))
    scored = EmotionScorer(info).predict(windows)                 # 70 windows: three chunks, the last short
    np.testing.assert_allclose(scored, expected, atol=1e-5)
    assert scored.argmax(axis=1).tolist() == expected.argmax(axis=1).tolist()
    probe = ("import sys, numpy as np; from ser_model.inference import EmotionScorer, ModelInfo; "
             "info = ModelInfo.read(); s = EmotionScorer(info); "
             "p = s.predict(np.zeros((3, info.spec.window_frames, info.spec.n_mels), np.float32)); "
             "assert p.shape == (3, len(info.classes)) and abs(p.sum(axis=1) - 1).max() < 1e-4; "
             "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "False"]


def test_model_version_changes_with_the_weights(trained):
    from ser_model.export import model_version

    model = trained["model"]
    version = model_version(model, {"test": True}, DEFAULT_SPEC, CLASSES)
    assert version == trained["metadata"]["model_version"]
    weights = model.get_weights()
    model.set_weights([w + 1e-3 for w in weights])
    try:
        assert model_version(model, {"test": True}, DEFAULT_SPEC, CLASSES) != version
    finally:
        model.set_weights(weights)


def test_evaluate_reports_every_metric_on_a_manifest(trained, small_manifest, tmp_path):
    from ser_model.evaluate import evaluate, format_report

    result = evaluate(small_manifest, DATA_ROOT, channel="telephone", model_dir=trained["dir"])
    n = len(trained["clips"])
    assert result["n"] == n
    for key in ("accuracy", "balanced_accuracy", "macro_f1"):
        assert 0.0 <= result[key] <= 1.0
    assert set(result["per_class"]) == set(CLASSES)
    assert sum(map(sum, result["confusion_matrix"])) == n
    assert set(result["by_group"]["sex"]) == {"male", "female"}
    assert set(result["by_group"]["corpus"]) == {"ravdess", "emodb"}
    assert "sex" in result["gaps"] and "language" in result["gaps"]
    assert "confusion matrix" in format_report(result)
    json.dumps(result)  # the --json output must serialise


def test_evaluate_restricts_the_decision_to_the_chosen_classes(trained, small_manifest):
    from ser_model.evaluate import evaluate

    result = evaluate(small_manifest, DATA_ROOT, classes=["angry", "sad"], model_dir=trained["dir"])
    assert result["classes"] == ["angry", "sad"]
    assert np.array(result["confusion_matrix"]).shape == (2, 2)
    assert result["n"] == sum(1 for c in trained["clips"] if c.label in ("angry", "sad"))
    with pytest.raises(ValueError, match="does not know"):
        evaluate(small_manifest, DATA_ROOT, classes=["boredom"], model_dir=trained["dir"])
