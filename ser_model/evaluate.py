"""`callmood evaluate`: the shipped (or any exported) model on any manifest in the ../shared/data format.

Clips go through the same trimming, channel simulation, windowing and per-turn
combination as in cross-validation and in the pipeline, so the figures describe
what the product would output on such audio.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ser_model.augment import EVALUATION_CHANNELS
from ser_model.corpus import read_manifest
from ser_model.feature_cache import compute_windows
from ser_model.inference import DEFAULT_MODEL_DIR, EmotionScorer, ModelInfo
from ser_model.metrics import report
from ser_model.train import group_columns


def evaluate(manifest: Path | str, data_root: Path | str, *, channel: str = "clean",
             classes: Sequence[str] | None = None, model_dir: Path | str = DEFAULT_MODEL_DIR,
             trim_top_db: float = 35.0) -> dict:
    """Report for `model_dir` on every clip of `manifest` whose label is among `classes`.

    `classes` restricts the decision too: the prediction is the argmax over those
    classes only, as a deployment that only cares about four emotions would use it.
    """
    if channel not in EVALUATION_CHANNELS:
        raise ValueError(f"channel must be one of {sorted(EVALUATION_CHANNELS)}")
    info = ModelInfo.read(model_dir)
    classes = tuple(classes or info.classes)
    unknown = sorted(set(classes) - set(info.classes))
    if unknown:
        raise ValueError(f"the model does not know the classes {unknown}; it has {list(info.classes)}")
    clips = read_manifest(manifest, data_root, classes)
    if not clips:
        raise ValueError(f"{manifest}: no clip is labelled with any of {list(classes)}")
    variant = EVALUATION_CHANNELS[channel]
    windows = compute_windows(clips, (variant,), spec=info.spec, top_db=trim_top_db)[variant.name]
    probabilities = EmotionScorer(info).predict(windows.windows.astype(np.float32))
    combined = windows.clip_probabilities(np.arange(len(windows.clip_index)), probabilities, np.arange(len(clips)))
    columns = [info.classes.index(c) for c in classes]
    predicted = [classes[int(i)] for i in combined[:, columns].argmax(axis=1)]
    out = report([c.label for c in clips], predicted, classes, group_columns(clips))
    out.update({"manifest": str(manifest), "channel": channel, "model_version": info.model_version,
                "n_speakers": len({c.speaker for c in clips})})
    return out


def format_report(result: dict) -> str:
    """A plain-text rendering for the terminal."""
    lines = [f"model {result['model_version']} on {result['manifest']} ({result['channel']}): "
             f"{result['n']} clips, {result['n_speakers']} speakers",
             f"accuracy {result['accuracy']:.3f}  balanced accuracy {result['balanced_accuracy']:.3f}  "
             f"macro F1 {result['macro_f1']:.3f}", "", f"{'class':<10}{'prec':>7}{'recall':>8}{'f1':>7}{'n':>6}"]
    for name, figures in result["per_class"].items():
        lines.append(f"{name:<10}{figures['precision']:>7.3f}{figures['recall']:>8.3f}{figures['f1']:>7.3f}"
                     f"{figures['support']:>6}")
    lines += ["", "confusion matrix (rows true, columns predicted): " + " ".join(result["classes"])]
    lines += [f"{name:<10}" + " ".join(f"{v:>5}" for v in row)
              for name, row in zip(result["classes"], result["confusion_matrix"])]
    for grouping, groups in result["by_group"].items():
        lines.append("")
        lines.append(f"by {grouping}" + (f" (gap {result['gaps'][grouping]:.3f})" if grouping in result["gaps"] else ""))
        for value, figures in groups.items():
            lines.append(f"  {value:<10} n={figures['n']:<5} balanced accuracy {figures['balanced_accuracy']:.3f} "
                         f"macro F1 {figures['macro_f1']:.3f}")
    return "\n".join(lines)
