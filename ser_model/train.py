"""Training, hyperparameter search and leave-speakers-out cross-validation.

Everything is driven by one JSON config (`train_config.json`) and one seed. Every
split is grouped by speaker (scikit-learn's StratifiedGroupKFold), so no figure this
module prints was measured on a voice the model heard in training.

Each epoch draws, for every clip, one of its perturbed copies (clean, telephone,
noisy, speed-changed): the model sees every clip in many channel conditions without
the epoch growing with the number of variants.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ser_model.augment import EVALUATION_CHANNELS, TRAINING_VARIANTS, Variant
from ser_model.corpus import Clip, read_manifest
from ser_model.feature_cache import VariantWindows, compute_windows
from ser_model.features import DEFAULT_SPEC
from ser_model.metrics import report, summarise_folds

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    manifest: str
    data_root: str
    classes: tuple[str, ...]
    seed: int = 0
    trim_top_db: float = 35.0
    epochs: int = 24
    batch_size: int = 64
    folds: int = 5
    model: dict = dataclasses.field(default_factory=dict)
    tuning: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | str, **overrides) -> "TrainConfig":
        """Read the config; relative corpus paths are resolved against the config file's folder."""
        path = Path(path)
        raw = json.loads(path.read_text())
        raw.update({k: v for k, v in overrides.items() if v is not None})
        for key in ("manifest", "data_root"):
            if not os.path.isabs(raw[key]):
                raw[key] = str((path.parent.parent / raw[key]).resolve())
        raw["classes"] = tuple(raw["classes"])
        return cls(**raw)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def variants_needed() -> tuple[Variant, ...]:
    return TRAINING_VARIANTS + tuple(v for v in EVALUATION_CHANNELS.values()
                                     if v.name not in {t.name for t in TRAINING_VARIANTS})


def class_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Inverse-frequency weight per class, so balanced accuracy is what the loss optimises."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    weights = np.where(counts > 0, counts.sum() / (n_classes * np.maximum(counts, 1)), 0.0)
    return weights.astype(np.float32)


def fit(model, windows: dict[str, VariantWindows], clip_rows: np.ndarray, labels: np.ndarray, *,
        n_clips: int, epochs: int, batch_size: int, seed: int, learning_rate: float) -> None:
    """Train `model` on the first window of each clip in `clip_rows`, one random variant per clip per epoch."""
    import keras

    rng = np.random.default_rng(seed)
    train_names = [v.name for v in TRAINING_VARIANTS]
    first_rows = {name: windows[name].first_window_of_each_clip(n_clips) for name in train_names}
    weight_per_class = class_weights(labels[clip_rows], int(labels.max()) + 1)
    steps = epochs * int(np.ceil(len(clip_rows) / batch_size))
    model.optimizer.learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, steps, alpha=0.05)
    for epoch in range(epochs):
        chosen = rng.integers(0, len(train_names), size=len(clip_rows))
        x = np.empty((len(clip_rows),) + windows[train_names[0]].windows.shape[1:], dtype=np.float32)
        for v_index, name in enumerate(train_names):
            mask = chosen == v_index
            x[mask] = windows[name].windows[first_rows[name][clip_rows[mask]]]
        y = labels[clip_rows]
        order = rng.permutation(len(clip_rows))
        history = model.fit(x[order], y[order], sample_weight=weight_per_class[y[order]],
                            batch_size=batch_size, epochs=epoch + 1, initial_epoch=epoch, verbose=0, shuffle=False)
        LOG.info("epoch %d/%d loss %.3f acc %.3f", epoch + 1, epochs,
                 history.history["loss"][-1], history.history["accuracy"][-1])


def predict_clips(model, variant: VariantWindows, clip_rows: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Per-clip probabilities: all of a clip's windows, combined as the pipeline combines a turn's."""
    rows = variant.rows_of(clip_rows)
    probabilities = model.predict(variant.windows[rows].astype(np.float32), batch_size=batch_size, verbose=0)
    return variant.clip_probabilities(rows, probabilities, clip_rows)


def group_columns(clips: Sequence[Clip]) -> dict[str, list[str]]:
    return {"sex": [c.sex for c in clips], "corpus": [c.corpus for c in clips],
            "language": [c.language for c in clips]}


def speaker_folds(clips: Sequence[Clip], labels: np.ndarray, n_folds: int, seed: int):
    """(train_rows, test_rows) pairs with every speaker in exactly one test fold."""
    from sklearn.model_selection import StratifiedGroupKFold

    groups = np.array([c.speaker for c in clips])
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed % (2**31))
    return list(splitter.split(np.zeros(len(clips)), labels, groups))


def cross_validate(config: TrainConfig, clips: Sequence[Clip], windows: dict[str, VariantWindows],
                   labels: np.ndarray, model_params: dict) -> dict:
    """Leave-speakers-out k-fold: per-fold reports, their mean and spread, and pooled out-of-fold reports."""
    from ser_model.model import build_model

    classes = list(config.classes)
    fold_reports: dict[str, list[dict]] = {ch: [] for ch in EVALUATION_CHANNELS}
    pooled_pred: dict[str, np.ndarray] = {ch: np.empty(len(clips), dtype=object) for ch in EVALUATION_CHANNELS}
    held_out = []
    for fold, (train_rows, test_rows) in enumerate(speaker_folds(clips, labels, config.folds, config.seed)):
        started = time.perf_counter()
        model = build_model(len(classes), **model_params)
        fit(model, windows, train_rows, labels, n_clips=len(clips), epochs=config.epochs,
            batch_size=config.batch_size, seed=config.seed + fold, learning_rate=model_params["learning_rate"])
        test_clips = [clips[i] for i in test_rows]
        held_out.append(sorted({c.speaker for c in test_clips}))
        for channel, variant in EVALUATION_CHANNELS.items():
            probabilities = predict_clips(model, windows[variant.name], test_rows)
            predicted = [classes[i] for i in probabilities.argmax(axis=1)]
            pooled_pred[channel][test_rows] = predicted
            fold_reports[channel].append(report([clips[i].label for i in test_rows], predicted, classes,
                                                group_columns(test_clips)))
        LOG.info("fold %d: held out %s; balanced accuracy clean %.3f telephone %.3f (%.0f s)", fold, held_out[-1],
                 fold_reports["clean"][-1]["balanced_accuracy"], fold_reports["telephone"][-1]["balanced_accuracy"],
                 time.perf_counter() - started)
    truth = [c.label for c in clips]
    return {
        "protocol": f"{config.folds}-fold StratifiedGroupKFold grouped by speaker, seed {config.seed}",
        "held_out_speakers_per_fold": held_out,
        "channels": {
            channel: {
                "fold_summary": summarise_folds(fold_reports[channel]),
                "pooled_out_of_fold": report(truth, list(pooled_pred[channel]), classes, group_columns(clips)),
                "folds": fold_reports[channel],
            } for channel in EVALUATION_CHANNELS
        },
    }


def tune(config: TrainConfig, clips: Sequence[Clip], windows: dict[str, VariantWindows],
         labels: np.ndarray) -> dict:
    """Bayesian search (Optuna's seeded TPE) over `config.tuning.space`, judged on unheard speakers.

    The search uses its own speaker-grouped split (the first of `config.folds`
    folds under another seed), scored by balanced accuracy on telephone audio, which
    is what the product sees.
    """
    import optuna
    from sklearn.metrics import balanced_accuracy_score

    from ser_model.model import build_model

    space = config.tuning["space"]
    train_rows, val_rows = speaker_folds(clips, labels, config.folds, config.seed + 1)[0]

    def params_of(trial) -> dict:
        return {**config.model,
                "stem_filters": trial.suggest_categorical("stem_filters", space["stem_filters"]),
                "block_filters": tuple(space["block_filters"][
                    trial.suggest_categorical("block_filters", list(range(len(space["block_filters"]))))]),
                "dropout": trial.suggest_categorical("dropout", space["dropout"]),
                "learning_rate": trial.suggest_categorical("learning_rate", space["learning_rate"]),
                "spec_augment": trial.suggest_categorical("spec_augment", space["spec_augment"])}

    def objective(trial) -> float:
        params = params_of(trial)
        model = build_model(len(config.classes), **params)
        fit(model, windows, train_rows, labels, n_clips=len(clips), epochs=config.tuning["epochs"],
            batch_size=config.batch_size, seed=config.seed, learning_rate=params["learning_rate"])
        predicted = predict_clips(model, windows["telephone"], val_rows).argmax(axis=1)
        score = float(balanced_accuracy_score(labels[val_rows], predicted))
        LOG.info("trial %d %s: telephone balanced accuracy %.3f", trial.number, trial.params, score)
        return score

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=config.seed))
    study.optimize(objective, n_trials=config.tuning["trials"])
    return {"best": params_of(optuna.trial.FixedTrial(study.best_params)),
            "trials": [{"params": t.params, "val_balanced_accuracy": t.value} for t in study.trials],
            "validation_speakers": sorted({clips[i].speaker for i in val_rows})}


def train(config: TrainConfig, out_dir: Path, *, tune_first: bool = True, cross_validate_first: bool = True,
          cache_dir: Path | None = None) -> dict:
    """Search, cross-validate, fit the final model on every speaker, and export it to `out_dir`."""
    import keras

    from ser_model.export import export_model
    from ser_model.model import build_model

    keras.utils.set_random_seed(config.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    clips = read_manifest(config.manifest, config.data_root, config.classes)
    labels = np.array([config.classes.index(c.label) for c in clips])
    started = time.perf_counter()
    windows = compute_windows(clips, variants_needed(), spec=DEFAULT_SPEC, top_db=config.trim_top_db,
                              cache_dir=cache_dir)
    LOG.info("features for %d clips in %.0f s", len(clips), time.perf_counter() - started)
    summary: dict = {"config": config.to_dict(), "n_clips": len(clips),
                     "n_speakers": len({c.speaker for c in clips})}
    model_params = {**config.model, "block_filters": tuple(config.model["block_filters"])}
    if tune_first and config.tuning.get("trials", 0) > 0:
        summary["tuning"] = tune(config, clips, windows, labels)
        model_params = summary["tuning"]["best"]
    summary["model_params"] = {**model_params, "block_filters": list(model_params["block_filters"])}
    if cross_validate_first and config.folds > 1:
        summary["cross_validation"] = cross_validate(config, clips, windows, labels, model_params)
    keras.utils.set_random_seed(config.seed)
    model = build_model(len(config.classes), **model_params)
    fit(model, windows, np.arange(len(clips)), labels, n_clips=len(clips), epochs=config.epochs,
        batch_size=config.batch_size, seed=config.seed, learning_rate=model_params["learning_rate"])
    summary["export"] = export_model(model, out_dir, classes=config.classes, spec=DEFAULT_SPEC,
                                     training_config=config.to_dict())
    (out_dir / "training_report.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary
