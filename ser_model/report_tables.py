"""Markdown tables of a training report, for the model card.

The card's figures are copied from `training_report.json` by this script rather
than by hand, so a retrained model's card cannot quote the previous model's numbers.

    python -m ser_model.report_tables [ser_model/artifacts/training_report.json]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

DEFAULT_REPORT = Path(__file__).resolve().parent / "artifacts" / "training_report.json"


def _spread(summary: dict) -> str:
    return f"{summary['mean']:.3f} ± {summary['std']:.3f}"


def headline(cv: dict) -> str:
    lines = ["| channel | accuracy | balanced accuracy | macro F1 | male/female gap (BA) | corpus gap (BA) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for channel, figures in cv["channels"].items():
        s = figures["fold_summary"]
        lines.append(f"| {channel} | {_spread(s['accuracy'])} | **{_spread(s['balanced_accuracy'])}** | "
                     f"{_spread(s['macro_f1'])} | {_spread(s['gaps']['sex'])} | {_spread(s['gaps']['corpus'])} |")
    folds = zip(*(figures["fold_summary"]["balanced_accuracy"]["folds"] for figures in cv["channels"].values()))
    lines += ["", "Per fold, balanced accuracy " + " / ".join(cv["channels"]) + ": "
              + ", ".join(" / ".join(f"{v:.3f}" for v in fold) for fold in folds) + "."]
    return "\n".join(lines)


def per_class(cv: dict) -> str:
    channels = list(cv["channels"])
    pooled = {ch: cv["channels"][ch]["pooled_out_of_fold"] for ch in channels}
    header = " | ".join(f"{ch} {m}" for ch in channels for m in ("P", "R", "F1"))
    lines = [f"| class | {header} | n |", "| --- " * (2 + 3 * len(channels)) + "|"]
    for cls in pooled[channels[0]]["classes"]:
        cells = " | ".join(f"{pooled[ch]['per_class'][cls][m]:.3f}" for ch in channels
                           for m in ("precision", "recall", "f1"))
        lines.append(f"| {cls} | {cells} | {pooled[channels[0]]['per_class'][cls]['support']} |")
    return "\n".join(lines)


def confusion(cv: dict, channel: str) -> str:
    pooled = cv["channels"][channel]["pooled_out_of_fold"]
    classes = pooled["classes"]
    lines = ["| | " + " | ".join(classes) + " |", "| --- " * (len(classes) + 1) + "|"]
    for cls, row in zip(classes, pooled["confusion_matrix"]):
        lines.append(f"| {cls} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)


def groups(cv: dict) -> str:
    channels = list(cv["channels"])
    lines = [f"| group | clips | {' | '.join(channels)} |", "| --- " * (2 + len(channels)) + "|"]
    first = cv["channels"][channels[0]]["pooled_out_of_fold"]["by_group"]
    for column in ("sex", "corpus"):
        for group, figures in first[column].items():
            values = " | ".join(f"{cv['channels'][ch]['pooled_out_of_fold']['by_group'][column][group]['balanced_accuracy']:.3f}"
                                for ch in channels)
            lines.append(f"| {column} = {group} | {figures['n']} | {values} |")
    return "\n".join(lines)


def views(cv: dict) -> str:
    """Each corpus group and corpus on its own label set: fold mean ± spread, and the sex gap."""
    channels = list(cv["channels"])
    first = cv["channels"][channels[0]]["views"]
    lines = [f"| speakers | classes | clips | " + " | ".join(f"{ch} BA" for ch in channels)
             + " | " + " | ".join(f"{ch} sex gap" for ch in channels) + " |",
             "| --- " * (3 + 2 * len(channels)) + "|"]
    for name, view in first.items():
        figures = {ch: cv["channels"][ch]["views"][name]["fold_summary"] for ch in channels}
        gaps = [f"{_spread(figures[ch]['gaps']['sex'])}" if "sex" in figures[ch]["gaps"] else "-" for ch in channels]
        lines.append(f"| {name} | {len(view['classes'])} | {view['pooled_out_of_fold']['n']:,} | "
                     + " | ".join(_spread(figures[ch]["balanced_accuracy"]) for ch in channels)
                     + " | " + " | ".join(gaps) + " |")
    return "\n".join(lines)


def tuning(report: dict) -> str:
    trials = report.get("tuning", {}).get("trials", [])
    return "\n".join(f"- {t['params']}: {t['val_balanced_accuracy']:.3f}" for t in trials)


def main(argv: list[str]) -> None:
    report = json.loads(Path(argv[0] if argv else DEFAULT_REPORT).read_text())
    cv = report["cross_validation"]
    for title, text in (("Headline", headline(cv)), ("Per class", per_class(cv)),
                        ("Confusion, telephone", confusion(cv, "telephone")), ("By group", groups(cv)),
                        ("By corpus on its own classes (fold mean ± spread)", views(cv)),
                        ("Search trials (telephone BA on validation speakers)", tuning(report))):
        print(f"### {title}\n\n{text}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
