"""Held-out balanced accuracy of the emotion model against the number of training voices.

Why: four sessions of recipe changes moved the cross-validated figures by less than
their fold spread. If accuracy still climbs with every added voice, the corpora,
not the recipe, are what holds the model below its targets, and more speakers are
the change to make. For each chosen fold of the training protocol
(`ser_model.train.speaker_folds`), the shipped recipe (`train_config.json`'s model,
one network) is trained on a share of that fold's training speakers, drawn per
corpus, and judged on the fold's held-out speakers, which stay the same at every
share. Run at share 1.0 it is a re-run of the cross-validation, seeded per fold.

    TF_NUM_INTRAOP_THREADS=1 .venv/bin/python benchmarks/ser_learning_curve.py --cache-dir ser_model/cache \
        [--folds 0,1] [--shares 0.25,0.5]

Prints one JSON line per (fold, share): balanced accuracy on the fold's held-out
speakers overall, on RAVDESS + EmoDB (six classes) and on nEMO + ASED (five).
~10-20 min of one core per line at share 1.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ser_model.augment import EVALUATION_CHANNELS  # noqa: E402
from ser_model.train import (TrainConfig, evaluation_views, predict_clips, training_set,  # noqa: E402
                             view_report)

REPO = Path(__file__).resolve().parents[1]


def speakers_at_share(train_speakers: list[str], share: float, rng: np.random.Generator) -> set[str]:
    """The first `share` of each corpus's speakers in one seeded order, so the shares are nested."""
    by_corpus: dict[str, list[str]] = {}
    for speaker in sorted(train_speakers):
        by_corpus.setdefault(speaker.split("_")[0], []).append(speaker)
    orders = {corpus: [str(s) for s in rng.permutation(speakers)] for corpus, speakers in by_corpus.items()}
    return {s for order in orders.values() for s in order[:max(1, round(share * len(order)))]}


def main() -> None:
    import keras

    from ser_model.model import build_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=REPO / "ser_model" / "train_config.json")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--folds", default="0,1")
    parser.add_argument("--shares", default="0.25,0.5")
    args = parser.parse_args()
    config = TrainConfig.load(args.config)
    data = training_set(config, args.cache_dir)
    clips = data.clips
    params = {**config.model, "block_filters": tuple(config.model["block_filters"])}
    folds = data.folds(config)
    views = evaluation_views(clips, config.classes, config.evaluation_groups)
    speaker_of = np.array([c.speaker for c in clips])
    for fold in (int(f) for f in args.folds.split(",")):
        train_rows, test_rows = folds[fold]
        for share in (float(s) for s in args.shares.split(",")):
            kept = speakers_at_share(sorted(set(speaker_of[train_rows])), share, np.random.default_rng(100 + fold))
            rows = train_rows[np.isin(speaker_of[train_rows], sorted(kept))]
            seed = config.seed + fold
            keras.utils.set_random_seed(seed)
            model = build_model(len(config.classes), **params)
            started = time.process_time()
            data.fit(model, rows, config, epochs=config.epochs, seed=seed, learning_rate=params["learning_rate"])
            line = {"fold": fold, "share": share, "n_speakers": len(kept), "n_clips": int(rows.size),
                    "speakers_per_corpus": {c: sum(s.startswith(c + "_") for s in kept)
                                            for c in sorted({s.split("_")[0] for s in kept})}}
            for channel, variant in EVALUATION_CHANNELS.items():
                probabilities = predict_clips(model, data.windows[variant.name], test_rows)
                figures = view_report(clips, test_rows, probabilities, config.classes, config.classes)
                line[f"balanced_accuracy_{channel}"] = round(figures["balanced_accuracy"], 4)
                line[f"sex_gap_{channel}"] = round(figures["gaps"].get("sex", float("nan")), 4)
                for name in config.evaluation_groups:
                    view_rows, view_classes = views[name]
                    in_view = np.isin(test_rows, view_rows)
                    line[f"balanced_accuracy_{channel}_{name}"] = round(view_report(
                        clips, test_rows[in_view], probabilities[in_view], config.classes,
                        view_classes)["balanced_accuracy"], 4)
            line["cpu_s"] = round(time.process_time() - started)
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
