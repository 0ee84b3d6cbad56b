"""Training over six corpora with different label sets: masks, weights, folds and views.

The corpora are the real ones in ../shared/data; the loss tests use TensorFlow on
hand-made probabilities, so each expectation is worked out in the test itself.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ser_model.corpus import Clip, allowed_classes, label_sets, read_manifest

DATA_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data"
MANIFEST = DATA_ROOT / "manifest.csv"
CLASSES = ("angry", "disgust", "fear", "happy", "neutral", "sad")
LEGACY = ("ravdess", "emodb", "turev")
FOLD_GROUPS = (LEGACY, ("nemo",), ("ased",), ("ektts",))
needs_corpora = pytest.mark.skipif(not MANIFEST.exists(), reason=f"corpora not found at {DATA_ROOT}")


def _clip(corpus: str, label: str, speaker: str = "s") -> Clip:
    return Clip(path=Path(f"{corpus}/{speaker}/{label}.wav"), speaker=f"{corpus}_{speaker}", label=label,
                corpus=corpus)


@pytest.fixture(scope="module")
def clips() -> list[Clip]:
    return read_manifest(MANIFEST, DATA_ROOT, CLASSES)


# ----------------------------------------------------------------------------------------------- label sets


def test_each_corpus_label_set_is_read_off_its_labels():
    toy = [_clip("a", "sad"), _clip("a", "angry"), _clip("b", "happy"), _clip("b", "disgust"), _clip("b", "sad")]
    assert label_sets(toy, CLASSES) == {"a": ("angry", "sad"), "b": ("disgust", "happy", "sad")}
    mask = allowed_classes(toy, CLASSES)
    assert mask.shape == (5, 6)
    np.testing.assert_array_equal(mask[0], [1, 0, 0, 0, 0, 1])      # corpus a: angry, sad
    np.testing.assert_array_equal(mask[3], [0, 1, 0, 1, 0, 1])      # corpus b: disgust, happy, sad


@needs_corpora
def test_the_manifest_reader_takes_all_six_corpora_with_their_own_label_sets(clips):
    sets = label_sets(clips, CLASSES)
    assert sets == {
        "ased": ("angry", "fear", "happy", "neutral", "sad"),
        "ektts": ("angry", "happy", "neutral", "sad"),
        "emodb": CLASSES,
        "nemo": ("angry", "fear", "happy", "neutral", "sad"),
        "ravdess": CLASSES,
        "turev": ("angry", "happy", "neutral", "sad"),
    }
    assert len({c.speaker for c in clips}) == 112
    assert {c.language for c in clips} == {"en", "de", "tr", "pl", "am", "ko"}
    assert all(c.path.exists() for c in clips[::500])
    # EmoDB's boredom and RAVDESS's surprise have no place among the six classes; calm is read as neutral.
    assert not any(c.label not in CLASSES for c in clips)


# ----------------------------------------------------------------------------------------------- the loss


def _loss(labels, allowed, probabilities):
    from ser_model.model import masked_crossentropy, training_targets

    return np.asarray(masked_crossentropy(training_targets(labels, allowed), np.asarray(probabilities, np.float32)))


def test_with_every_class_allowed_the_loss_is_plain_cross_entropy():
    p = np.array([[0.1, 0.2, 0.3, 0.2, 0.1, 0.1], [0.5, 0.1, 0.1, 0.1, 0.1, 0.1]])
    loss = _loss([2, 0], np.ones((2, 6)), p)
    np.testing.assert_allclose(loss, [-np.log(0.3), -np.log(0.5)], rtol=1e-5)


def test_the_loss_renormalises_over_the_classes_the_corpus_has():
    p = np.array([[0.1, 0.4, 0.2, 0.1, 0.1, 0.1]])
    allowed = np.array([[1, 0, 0, 1, 1, 1]])       # a corpus without disgust and fear
    # p(angry | one of angry, happy, neutral, sad) = 0.1 / 0.4
    np.testing.assert_allclose(_loss([0], allowed, p), [-np.log(0.1 / 0.4)], rtol=1e-5)


def test_a_clip_gives_no_gradient_to_the_classes_its_corpus_lacks():
    """Moving the disgust or fear logit of a Turkish clip must not change its loss at all."""
    import tensorflow as tf

    from ser_model.model import masked_crossentropy, training_targets

    logits = tf.Variable([[0.3, 1.2, -0.4, 0.8, 0.1, -0.2]])
    allowed = np.array([[1, 0, 0, 1, 1, 1]], dtype=np.float32)
    with tf.GradientTape() as tape:
        loss = masked_crossentropy(training_targets([3], allowed), tf.nn.softmax(logits))
    gradient = tape.gradient(loss, logits).numpy()[0]
    assert gradient[1] == pytest.approx(0.0, abs=1e-6) and gradient[2] == pytest.approx(0.0, abs=1e-6)
    assert gradient[3] < 0 < gradient[0]           # the label's logit is pushed up, a rival's down
    # Unmasked, the same clip would push disgust and fear down.
    with tf.GradientTape() as tape:
        loss = masked_crossentropy(training_targets([3], np.ones((1, 6))), tf.nn.softmax(logits))
    assert (tape.gradient(loss, logits).numpy()[0][[1, 2]] > 1e-3).all()


# ----------------------------------------------------------------------------------------------- weights


def test_weights_balance_classes_inside_each_corpus_and_temper_corpus_size():
    from ser_model.train import clip_weights

    # corpus a: 6 clips (4 angry, 2 sad); corpus b: 2 clips (1 happy, 1 sad)
    labels = np.array([0, 0, 0, 0, 5, 5, 3, 5])
    corpora = np.array(["a"] * 6 + ["b"] * 2)
    for balance, a_to_b in ((1.0, 3.0), (0.5, np.sqrt(3.0)), (0.0, 1.0)):
        w = clip_weights(labels, corpora, balance)
        assert w.mean() == pytest.approx(1.0)
        assert w[:4].sum() == pytest.approx(w[4:6].sum())            # angry and sad weigh the same in a
        assert w[6] == pytest.approx(w[7])
        assert w[:6].sum() / w[6:].sum() == pytest.approx(a_to_b)     # corpus totals ~ size ** balance


# ----------------------------------------------------------------------------------------------- folds


@needs_corpora
def test_folds_never_share_a_speaker_and_spread_every_corpus(clips):
    from ser_model.train import speaker_folds

    labels = np.array([CLASSES.index(c.label) for c in clips])
    folds = speaker_folds(clips, labels, 5, 20261124, FOLD_GROUPS)
    speakers = np.array([c.speaker for c in clips])
    seen_in_test: list[str] = []
    for train_rows, test_rows in folds:
        assert np.intersect1d(train_rows, test_rows).size == 0
        assert train_rows.size + test_rows.size == len(clips)
        assert not set(speakers[train_rows]) & set(speakers[test_rows])
        seen_in_test += sorted(set(speakers[test_rows]))
        assert {c.corpus for c in (clips[i] for i in test_rows)} == {"ravdess", "emodb", "turev", "nemo", "ased",
                                                                      "ektts"}
    assert sorted(seen_in_test) == sorted(set(speakers))             # every voice held out exactly once


@needs_corpora
def test_a_fold_group_is_split_as_it_would_be_on_its_own(clips):
    """The older corpora keep the folds the previous model was judged on, whatever is added beside them."""
    from ser_model.train import speaker_folds

    legacy = [c for c in clips if c.corpus in LEGACY]
    alone = speaker_folds(legacy, np.array([CLASSES.index(c.label) for c in legacy]), 5, 7)
    together = speaker_folds(clips, np.array([CLASSES.index(c.label) for c in clips]), 5, 7, FOLD_GROUPS)
    for (_, test_alone), (_, test_together) in zip(alone, together):
        assert ({legacy[i].speaker for i in test_alone}
                == {clips[i].speaker for i in test_together if clips[i].corpus in LEGACY})


# ----------------------------------------------------------------------------------------------- views


def test_views_judge_each_corpus_on_its_own_classes():
    from ser_model.train import evaluation_views, view_report

    toy = [_clip("a", "angry"), _clip("a", "sad"), _clip("b", "angry"), _clip("b", "disgust")]
    views = evaluation_views(toy, CLASSES, {"a+b": ("a", "b")})
    assert views["a+b"][1] == ("angry",)
    assert views["a"][1] == ("angry", "sad") and list(views["a"][0]) == [0, 1]
    # Most probable overall is disgust, which corpus a has no label for: among a's classes it is sad.
    p = np.array([[0.1, 0.6, 0.0, 0.0, 0.0, 0.3]] * 2, dtype=np.float32)
    figures = view_report(toy, np.array([0, 1]), p, CLASSES, ("angry", "sad"))
    assert figures["confusion_matrix"] == [[0, 1], [0, 1]]
    assert figures["balanced_accuracy"] == pytest.approx(0.5)


# ----------------------------------------------------------------------------------------------- jobs


@needs_corpora
def test_folds_trained_side_by_side_give_the_models_trained_in_turn(tmp_path):
    """`callmood train --jobs 2` must report what `--jobs 1` reports: each fold seeds itself.

    Not to the bit: this process runs TensorFlow on its default threads and the
    workers on one, so sums are taken in another order, and two epochs carry that
    into the weights at ~1e-3. A fold trained on the wrong rows, with another
    seed or returned in the wrong place differs by far more.
    """
    import csv
    import json

    from ser_model.feature_cache import compute_windows
    from ser_model.train import TrainConfig, TrainingSet, run_jobs, variants_needed

    with open(MANIFEST, newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["speaker"] in ("ravdess_03", "ravdess_04", "nemo_EB0", "ased_01")
                and r["label6"] in ("angry", "sad", "neutral")][::3]
    manifest = tmp_path / "m.csv"
    with open(manifest, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    config_path = tmp_path / "config" / "c.json"
    config_path.parent.mkdir()
    config_path.write_text(json.dumps({"manifest": str(manifest), "data_root": str(DATA_ROOT),
                                       "classes": list(CLASSES), "epochs": 2, "batch_size": 16, "folds": 2,
                                       "seed": 3, "corpus_balance": 0.5}))
    config = TrainConfig.load(config_path)
    clips = read_manifest(config.manifest, config.data_root, config.classes)
    assert len({c.corpus for c in clips}) >= 2
    data = TrainingSet.of(clips, config.classes, compute_windows(clips, variants_needed(), n_jobs=1))
    params = {"stem_filters": 8, "block_filters": (8,), "dense_units": 8, "dropout": 0.0, "l2": 0.0,
              "learning_rate": 0.01, "spec_augment": False}
    in_turn = run_jobs(config, data, params, [None, 0, 1], jobs=1)
    side_by_side = run_jobs(config, data, params, [None, 0, 1], jobs=2)
    for a, b in zip(in_turn[0], side_by_side[0]):                     # the final model's weights
        np.testing.assert_allclose(a, b, atol=1e-2)
    for fold_a, fold_b in zip(in_turn[1:], side_by_side[1:]):          # each fold's held-out probabilities
        assert fold_a.keys() == fold_b.keys() == {"clean", "telephone"}
        for channel in fold_a:
            np.testing.assert_allclose(fold_a[channel], fold_b[channel], atol=2e-2)
