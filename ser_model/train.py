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
from typing import Mapping, Sequence

import numpy as np

from ser_model.augment import EVALUATION_CHANNELS, TRAINING_VARIANTS, Variant
from ser_model.corpus import Clip, allowed_classes, label_sets, read_manifest
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
    corpus_balance: float = 1.0
    fold_groups: tuple[tuple[str, ...], ...] = ()
    evaluation_groups: dict = dataclasses.field(default_factory=dict)
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
        raw["fold_groups"] = tuple(tuple(group) for group in raw.get("fold_groups", ()))
        return cls(**raw)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def variants_needed() -> tuple[Variant, ...]:
    return TRAINING_VARIANTS + tuple(v for v in EVALUATION_CHANNELS.values()
                                     if v.name not in {t.name for t in TRAINING_VARIANTS})


def clip_weights(labels: np.ndarray, corpora: Sequence[str], corpus_balance: float = 1.0) -> np.ndarray:
    """Loss weight per clip: classes balanced within each corpus, corpora weighted by size ** `corpus_balance`.

    Balancing classes inside a corpus (not over the pooled set) is what the label
    masks need: a class's prior is learned only from corpora that have it, so it
    must be balanced there. `corpus_balance` 1.0 lets a corpus count as much as it
    has clips; 0.0 makes every corpus count the same, so 57 Amharic voices cannot
    drown 20 English ones; values between temper the two. Weights average 1.
    """
    labels = np.asarray(labels)
    corpora = np.asarray(corpora)
    weights = np.zeros(len(labels), dtype=np.float64)
    for corpus in np.unique(corpora):
        in_corpus = corpora == corpus
        present, counts = np.unique(labels[in_corpus], return_counts=True)
        per_class = dict(zip(present, 1.0 / (len(present) * counts)))
        share = in_corpus.sum() ** corpus_balance
        weights[in_corpus] = share * np.array([per_class[y] for y in labels[in_corpus]])
    return (weights * len(weights) / weights.sum()).astype(np.float32)


def fit(model, windows: dict[str, VariantWindows], clip_rows: np.ndarray, labels: np.ndarray, *,
        n_clips: int, epochs: int, batch_size: int, seed: int, learning_rate: float,
        allowed: np.ndarray | None = None, corpora: Sequence[str] | None = None,
        corpus_balance: float = 1.0) -> None:
    """Train `model` on the first window of each clip in `clip_rows`, one random variant per clip per epoch.

    `allowed` (n_clips, n_classes) masks the classes each clip's corpus cannot have
    out of its loss (all allowed when None); `corpora` names each clip's corpus for
    the weighting in `clip_weights` (one corpus when None).
    """
    import keras

    from ser_model.model import training_targets

    rng = np.random.default_rng(seed)
    train_names = [v.name for v in TRAINING_VARIANTS]
    first_rows = {name: windows[name].first_window_of_each_clip(n_clips) for name in train_names}
    n_classes = model.output_shape[-1]
    if allowed is None:
        allowed = np.ones((n_clips, n_classes), dtype=np.float32)
    targets = training_targets(labels[clip_rows], allowed[clip_rows])
    corpus_of_row = np.asarray(corpora)[clip_rows] if corpora is not None else np.zeros(len(clip_rows))
    weights = clip_weights(labels[clip_rows], corpus_of_row, corpus_balance)
    steps = epochs * int(np.ceil(len(clip_rows) / batch_size))
    model.optimizer.learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, steps, alpha=0.05)
    for epoch in range(epochs):
        chosen = rng.integers(0, len(train_names), size=len(clip_rows))
        x = np.empty((len(clip_rows),) + windows[train_names[0]].windows.shape[1:], dtype=np.float32)
        for v_index, name in enumerate(train_names):
            mask = chosen == v_index
            x[mask] = windows[name].windows[first_rows[name][clip_rows[mask]]]
        order = rng.permutation(len(clip_rows))
        history = model.fit(x[order], targets[order], sample_weight=weights[order],
                            batch_size=batch_size, epochs=epoch + 1, initial_epoch=epoch, verbose=0, shuffle=False)
        LOG.info("epoch %d/%d loss %.3f", epoch + 1, epochs, history.history["loss"][-1])


def predict_clips(model, variant: VariantWindows, clip_rows: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Per-clip probabilities: all of a clip's windows, combined as the pipeline combines a turn's."""
    rows = variant.rows_of(clip_rows)
    probabilities = model.predict(variant.windows[rows].astype(np.float32), batch_size=batch_size, verbose=0)
    return variant.clip_probabilities(rows, probabilities, clip_rows)


def group_columns(clips: Sequence[Clip]) -> dict[str, list[str]]:
    return {"sex": [c.sex for c in clips], "corpus": [c.corpus for c in clips],
            "language": [c.language for c in clips]}


def speaker_folds(clips: Sequence[Clip], labels: np.ndarray, n_folds: int, seed: int,
                  fold_groups: Sequence[Sequence[str]] = ()):
    """(train_rows, test_rows) pairs with every speaker in exactly one test fold.

    Each group of corpora in `fold_groups` is split on its own (the corpora in no
    group form one more), and fold k joins every group's k-th split. Why: a joint
    split over 112 voices can put three of nEMO's seven in one fold and none in
    another; per-group splits spread each corpus over every fold. And a group that
    matches an earlier model's corpora is split exactly as it was, so the new
    model's figures on those speakers compare fold for fold with the old.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    corpora = np.array([c.corpus for c in clips])
    speakers = np.array([c.speaker for c in clips])
    grouped = [np.flatnonzero(np.isin(corpora, list(group))) for group in fold_groups]
    rest = np.setdiff1d(np.arange(len(clips)), np.concatenate(grouped) if grouped else [])
    test_rows: list[list[np.ndarray]] = [[] for _ in range(n_folds)]
    for rows in [g for g in grouped if g.size] + ([rest] if rest.size else []):
        splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed % (2**31))
        for fold, (_, test) in enumerate(splitter.split(np.zeros(rows.size), labels[rows], speakers[rows])):
            test_rows[fold].append(rows[test])
    folds = []
    for parts in test_rows:
        test = np.sort(np.concatenate(parts))
        folds.append((np.setdiff1d(np.arange(len(clips)), test), test))
    return folds


@dataclasses.dataclass(frozen=True)
class TrainingSet:
    """The clips with everything training and evaluation read about them, computed once."""

    clips: Sequence[Clip]
    labels: np.ndarray                   # class index per clip
    allowed: np.ndarray                  # (n_clips, n_classes) the classes each clip's corpus has
    windows: dict[str, VariantWindows]

    @classmethod
    def of(cls, clips: Sequence[Clip], classes: Sequence[str], windows: dict[str, VariantWindows]) -> "TrainingSet":
        return cls(clips, np.array([list(classes).index(c.label) for c in clips]),
                   allowed_classes(clips, classes), windows)

    def folds(self, config: TrainConfig, seed: int | None = None):
        """`speaker_folds` of these clips as `config` lays them out (under another `seed` for the search)."""
        return speaker_folds(self.clips, self.labels, config.folds, config.seed if seed is None else seed,
                             config.fold_groups)

    def fit(self, model, rows: np.ndarray, config: TrainConfig, *, epochs: int, seed: int,
            learning_rate: float) -> None:
        fit(model, self.windows, rows, self.labels, n_clips=len(self.clips), epochs=epochs,
            batch_size=config.batch_size, seed=seed, learning_rate=learning_rate, allowed=self.allowed,
            corpora=[c.corpus for c in self.clips], corpus_balance=config.corpus_balance)


def evaluation_views(clips: Sequence[Clip], classes: Sequence[str],
                     groups: Mapping[str, Sequence[str]]) -> dict[str, tuple[np.ndarray, tuple[str, ...]]]:
    """Named sets of clip rows and the classes each is judged on.

    Each configured group of corpora is judged on the classes all its corpora
    have (RAVDESS + EmoDB on six, nEMO + ASED on five), and each corpus on its own
    label set, deciding among those classes only, as `callmood evaluate --classes`
    does: a Korean clip is not wrong for being called disgust by a model that has
    never been told Korean actors do not act disgust.
    """
    sets = label_sets(clips, classes)
    corpora = np.array([c.corpus for c in clips])
    views = {}
    for name, members in groups.items():
        shared = tuple(c for c in classes if all(c in sets.get(m, ()) for m in members))
        views[name] = (np.flatnonzero(np.isin(corpora, list(members))), shared)
    for corpus, own in sets.items():
        language = next(c.language for c in clips if c.corpus == corpus)
        views[f"{corpus} ({language})" if language else corpus] = (np.flatnonzero(corpora == corpus), own)
    return views


def view_report(clips: Sequence[Clip], rows: np.ndarray, probabilities: np.ndarray, classes: Sequence[str],
                view_classes: Sequence[str]) -> dict:
    """The report for `clips[rows]`, each predicted as the most probable of `view_classes`."""
    columns = [list(classes).index(c) for c in view_classes]
    predicted = [view_classes[i] for i in probabilities[:, columns].argmax(axis=1)]
    chosen = [clips[i] for i in rows]
    return report([c.label for c in chosen], predicted, view_classes, group_columns(chosen))


def run_fold(config: TrainConfig, data: TrainingSet, model_params: dict, fold: int) -> dict[str, np.ndarray]:
    """Train on every speaker outside fold `fold`; class probabilities of its held-out clips per channel."""
    import keras

    from ser_model.model import build_model

    train_rows, test_rows = data.folds(config)[fold]
    started = time.perf_counter()
    keras.utils.set_random_seed(config.seed + fold)   # a fold gives the same model run alone or in turn
    model = build_model(len(config.classes), **model_params)
    data.fit(model, train_rows, config, epochs=config.epochs, seed=config.seed + fold,
             learning_rate=model_params["learning_rate"])
    out = {channel: predict_clips(model, data.windows[variant.name], test_rows)
           for channel, variant in EVALUATION_CHANNELS.items()}
    LOG.info("fold %d: %d training clips, %d held out (%.0f s)", fold, train_rows.size, test_rows.size,
             time.perf_counter() - started)
    return out


def cross_validation_report(config: TrainConfig, clips: Sequence[Clip], labels: np.ndarray,
                            fold_probabilities: Sequence[dict[str, np.ndarray]]) -> dict:
    """Per-fold reports, their mean and spread, and pooled out-of-fold reports, overall and per view."""
    classes = tuple(config.classes)
    folds = speaker_folds(clips, labels, config.folds, config.seed, config.fold_groups)
    views = evaluation_views(clips, classes, config.evaluation_groups)
    channels = {}
    for channel in EVALUATION_CHANNELS:
        pooled = np.zeros((len(clips), len(classes)), dtype=np.float32)
        per_fold: dict[str, list[dict]] = {"all": []}
        for (_, test_rows), probabilities in zip(folds, fold_probabilities):
            pooled[test_rows] = probabilities[channel]
            per_fold["all"].append(view_report(clips, test_rows, probabilities[channel], classes, classes))
            for name, (view_rows, view_classes) in views.items():
                in_view = np.isin(test_rows, view_rows)
                if in_view.any():
                    per_fold.setdefault(name, []).append(view_report(
                        clips, test_rows[in_view], probabilities[channel][in_view], classes, view_classes))
        everything = np.arange(len(clips))
        channels[channel] = {
            "fold_summary": summarise_folds(per_fold["all"]),
            "pooled_out_of_fold": view_report(clips, everything, pooled, classes, classes),
            "folds": per_fold["all"],
            "views": {name: {"classes": list(view_classes),
                             "fold_summary": summarise_folds(per_fold[name]),
                             "pooled_out_of_fold": view_report(clips, view_rows, pooled[view_rows], classes,
                                                               view_classes)}
                      for name, (view_rows, view_classes) in views.items()},
        }
    return {
        "protocol": f"{config.folds}-fold StratifiedGroupKFold grouped by speaker, seed {config.seed}, "
                    f"corpora split in groups {[list(g) for g in config.fold_groups]} and the rest",
        "held_out_speakers_per_fold": [sorted({clips[i].speaker for i in test}) for _, test in folds],
        "channels": channels,
    }


def fit_final(config: TrainConfig, data: TrainingSet, model_params: dict) -> list[np.ndarray]:
    """The shipped model's weights: the same recipe on every speaker."""
    import keras

    from ser_model.model import build_model

    keras.utils.set_random_seed(config.seed)
    model = build_model(len(config.classes), **model_params)
    data.fit(model, np.arange(len(data.clips)), config, epochs=config.epochs, seed=config.seed,
             learning_rate=model_params["learning_rate"])
    return model.get_weights()


def _run_job(config: TrainConfig, data: TrainingSet, model_params: dict, fold: int | None):
    return fit_final(config, data, model_params) if fold is None else run_fold(config, data, model_params, fold)


def run_jobs(config: TrainConfig, data: TrainingSet, model_params: dict, folds: Sequence[int | None],
             jobs: int = 1) -> list:
    """`run_fold` for each fold (None: `fit_final`), in `jobs` processes side by side.

    One training uses about one core (small convolutions, batch 64), so the
    folds and the final fit, which do not depend on one another, are what
    spreads across cores. Each process runs TensorFlow on one thread; the windows
    reach them memory-mapped (joblib), not copied. Every job seeds itself, so a
    fold gives the same model alone, in turn or side by side.
    """
    if jobs <= 1:
        return [_run_job(config, data, model_params, fold) for fold in folds]
    import joblib

    for variable in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(variable, "1")      # read by the worker processes as they start
    return joblib.Parallel(n_jobs=jobs, backend="loky")(
        joblib.delayed(_run_job)(config, data, model_params, fold) for fold in folds)


def cross_validate(config: TrainConfig, data: TrainingSet, model_params: dict, jobs: int = 1) -> dict:
    """Leave-speakers-out k-fold."""
    fold_probabilities = run_jobs(config, data, model_params, range(config.folds), jobs)
    return cross_validation_report(config, data.clips, data.labels, fold_probabilities)


def tune(config: TrainConfig, data: TrainingSet) -> dict:
    """Bayesian search (Optuna's seeded TPE) over `config.tuning.space`, judged on unheard speakers.

    The search uses its own speaker-grouped split (the first of `config.folds`
    folds under another seed), scored by balanced accuracy on telephone audio, which
    is what the product sees.
    """
    import optuna
    from sklearn.metrics import balanced_accuracy_score

    from ser_model.model import build_model

    space = config.tuning["space"]
    clips, labels = data.clips, data.labels
    train_rows, val_rows = data.folds(config, config.seed + 1)[0]

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
        data.fit(model, train_rows, config, epochs=config.tuning["epochs"], seed=config.seed,
                 learning_rate=params["learning_rate"])
        predicted = predict_clips(model, data.windows["telephone"], val_rows).argmax(axis=1)
        score = float(balanced_accuracy_score(labels[val_rows], predicted))
        LOG.info("trial %d %s: telephone balanced accuracy %.3f", trial.number, trial.params, score)
        return score

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=config.seed))
    study.optimize(objective, n_trials=config.tuning["trials"])
    return {"best": params_of(optuna.trial.FixedTrial(study.best_params)),
            "trials": [{"params": t.params, "val_balanced_accuracy": t.value} for t in study.trials],
            "validation_speakers": sorted({clips[i].speaker for i in val_rows})}


def training_set(config: TrainConfig, cache_dir: Path | None = None) -> TrainingSet:
    """Every clip of the configured classes with its windows (from `cache_dir` when computed before)."""
    clips = read_manifest(config.manifest, config.data_root, config.classes)
    started = time.perf_counter()
    windows = compute_windows(clips, variants_needed(), spec=DEFAULT_SPEC, top_db=config.trim_top_db,
                              cache_dir=cache_dir)
    LOG.info("features for %d clips in %.0f s", len(clips), time.perf_counter() - started)
    return TrainingSet.of(clips, config.classes, windows)


def train(config: TrainConfig, out_dir: Path, *, tune_first: bool = True, cross_validate_first: bool = True,
          cache_dir: Path | None = None, jobs: int = 1) -> dict:
    """Search, cross-validate, fit the final model on every speaker, and export it to `out_dir`.

    With `jobs` > 1 the folds and the final fit run side by side (`run_jobs`),
    the final fit first, as it is the longest.
    """
    import keras

    from ser_model.export import export_model
    from ser_model.model import build_model

    keras.utils.set_random_seed(config.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = training_set(config, cache_dir)
    clips = data.clips
    summary: dict = {"config": config.to_dict(), "n_clips": len(clips),
                     "n_speakers": len({c.speaker for c in clips}),
                     "label_sets": {k: list(v) for k, v in label_sets(clips, config.classes).items()}}
    model_params = {**config.model, "block_filters": tuple(config.model["block_filters"])}
    if tune_first and config.tuning.get("trials", 0) > 0:
        summary["tuning"] = tune(config, data)
        model_params = summary["tuning"]["best"]
    summary["model_params"] = {**model_params, "block_filters": list(model_params["block_filters"])}
    folds = list(range(config.folds)) if cross_validate_first and config.folds > 1 else []
    final_weights, *fold_probabilities = run_jobs(config, data, model_params, [None, *folds], jobs)
    if folds:
        summary["cross_validation"] = cross_validation_report(config, clips, data.labels, fold_probabilities)
    model = build_model(len(config.classes), **model_params)
    model.set_weights(final_weights)
    summary["export"] = export_model(model, out_dir, classes=config.classes, spec=DEFAULT_SPEC,
                                     training_config=config.to_dict())
    (out_dir / "training_report.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary
