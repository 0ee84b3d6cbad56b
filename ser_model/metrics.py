"""The figures every evaluation reports, from scikit-learn, overall and per group.

One function builds the whole report so cross-validation folds, `callmood evaluate`
and the model card all quote the same definitions.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score,
                             precision_recall_fscore_support)


def headline(y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str]) -> dict:
    """Accuracy, balanced (unweighted) accuracy and macro F1 over the classes present in y_true."""
    present = [c for c in classes if c in set(y_true)]
    return {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)) if len(y_true) else float("nan"),
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
    }


def report(y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str],
           groups: Mapping[str, Sequence[str]] | None = None) -> dict:
    """Full report: headline figures, per-class P/R/F1, confusion matrix, per-group figures and gaps.

    Parameters
    ----------
    groups : for each grouping (e.g. "sex", "corpus", "language") the group value of
        every clip; empty values are left out of that grouping.
    """
    y_true = list(y_true)
    y_pred = list(y_pred)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=list(classes), zero_division=0)
    out = headline(y_true, y_pred, classes)
    out["classes"] = list(classes)
    out["per_class"] = {
        c: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for c, p, r, f, s in zip(classes, precision, recall, f1, support)
    }
    out["confusion_matrix"] = confusion_matrix(y_true, y_pred, labels=list(classes)).tolist()
    out["by_group"] = {}
    out["gaps"] = {}
    for grouping, values in (groups or {}).items():
        values = np.asarray(list(values))
        by_value = {}
        for value in sorted(set(values) - {""}):
            mask = values == value
            by_value[value] = headline([t for t, m in zip(y_true, mask) if m],
                                       [p for p, m in zip(y_pred, mask) if m], classes)
        out["by_group"][grouping] = by_value
        if len(by_value) >= 2:
            scores = [v["balanced_accuracy"] for v in by_value.values()]
            out["gaps"][grouping] = float(max(scores) - min(scores))
    return out


def summarise_folds(fold_reports: Sequence[dict]) -> dict:
    """Mean and standard deviation over folds of the headline figures and group gaps."""
    keys = ("accuracy", "balanced_accuracy", "macro_f1")
    summary = {k: {"mean": float(np.mean([r[k] for r in fold_reports])),
                   "std": float(np.std([r[k] for r in fold_reports])),
                   "folds": [round(r[k], 4) for r in fold_reports]} for k in keys}
    gap_names = sorted({g for r in fold_reports for g in r["gaps"]})
    summary["gaps"] = {g: {"mean": float(np.mean([r["gaps"][g] for r in fold_reports if g in r["gaps"]])),
                           "std": float(np.std([r["gaps"][g] for r in fold_reports if g in r["gaps"]]))}
                       for g in gap_names}
    return summary
