"""Markdown tables of a training report's leave-speakers-out figures, for the model card."""
import json
import sys


def main(path: str) -> None:
    report = json.loads(open(path).read())
    cv = report["cross_validation"]
    print(f"Protocol: {cv['protocol']}; {report['n_clips']} clips, {report['n_speakers']} speakers.\n")
    print("| channel | accuracy | balanced accuracy | macro F1 | sex gap (BA) | corpus gap (BA) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for channel, figures in cv["channels"].items():
        s = figures["fold_summary"]
        cells = [f"{s[k]['mean']:.3f} ± {s[k]['std']:.3f}" for k in ("accuracy", "balanced_accuracy", "macro_f1")]
        gaps = [f"{s['gaps'][g]['mean']:.3f} ± {s['gaps'][g]['std']:.3f}" if g in s["gaps"] else "-"
                for g in ("sex", "corpus")]
        print(f"| {channel} | " + " | ".join(cells + gaps) + " |")
    for channel, figures in cv["channels"].items():
        pooled = figures["pooled_out_of_fold"]
        print(f"\n**{channel}, pooled out-of-fold predictions** (every clip predicted by the fold model that never heard "
              f"its speaker): accuracy {pooled['accuracy']:.3f}, balanced accuracy {pooled['balanced_accuracy']:.3f}, "
              f"macro F1 {pooled['macro_f1']:.3f}\n")
        print("| class | precision | recall | F1 | n |\n| --- | --- | --- | --- | --- |")
        for name, f in pooled["per_class"].items():
            print(f"| {name} | {f['precision']:.3f} | {f['recall']:.3f} | {f['f1']:.3f} | {f['support']} |")
        print("\nConfusion matrix (rows true, columns predicted: " + ", ".join(pooled["classes"]) + ")\n")
        print("| | " + " | ".join(pooled["classes"]) + " |\n|" + " --- |" * (len(pooled["classes"]) + 1))
        for name, row in zip(pooled["classes"], pooled["confusion_matrix"]):
            print(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
        print("\n| group | n | accuracy | balanced accuracy | macro F1 |\n| --- | --- | --- | --- | --- |")
        for grouping, groups in pooled["by_group"].items():
            for value, f in groups.items():
                print(f"| {grouping}={value} | {f['n']} | {f['accuracy']:.3f} | {f['balanced_accuracy']:.3f} | "
                      f"{f['macro_f1']:.3f} |")
    print("\nHeld-out speakers per fold: " + "; ".join(", ".join(f) for f in cv["held_out_speakers_per_fold"]))
    if "tuning" in report:
        print("\nSearch trials (telephone balanced accuracy on held-out validation speakers "
              f"{', '.join(report['tuning']['validation_speakers'])}):\n")
        for trial in report["tuning"]["trials"]:
            print(f"- {trial['params']}: {trial['val_balanced_accuracy']:.3f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "ser_model/artifacts/training_report.json")
