"""How often the top emotion of a demo-call turn is the acted one, per file format.

The demo calls are RAVDESS clips played through a telephone line and stored as the
archive formats contact centres use (FLAC, mu-law WAV, Ogg Vorbis, 16 kbit/s MP3).
The shipped model has heard these voices in training, so this is not a held-out
figure: it shows what the channel and the codec do to the same speech.

    python benchmarks/demo_calls_accuracy.py [--model DIR]
"""
from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

from beam_pipeline.records import StageError
from beam_pipeline.cli.score_file import score_file

REPO = Path(__file__).resolve().parent.parent
MATCH_TOLERANCE_S = 0.35


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    args = parser.parse_args()
    truth = json.loads((REPO / "examples" / "calls_truth.json").read_text())["recordings"]
    right: collections.Counter = collections.Counter()
    matched: collections.Counter = collections.Counter()
    predicted: collections.Counter = collections.Counter()
    for name, call in sorted(truth.items()):
        try:
            rows = score_file(str(REPO / "examples" / "calls" / name), model_dir=args.model).segment_rows
        except StageError:
            continue
        for turn in call["turns"]:
            found = [r for r in rows if r["speaker"] == turn["speaker"]
                     and abs(r["start_s"] - turn["start_s"]) < MATCH_TOLERANCE_S
                     and abs(r["end_s"] - turn["end_s"]) < MATCH_TOLERANCE_S]
            if found:
                matched[call["format"]] += 1
                right[call["format"]] += found[0]["top_emotion"] == turn["emotion"]
                predicted[found[0]["top_emotion"]] += 1
    for fmt in sorted(matched):
        print(f"{fmt:<6} {right[fmt]:>3} of {matched[fmt]:>3} turns right ({right[fmt] / matched[fmt]:.0%})")
    total_right, total = sum(right.values()), sum(matched.values())
    print(f"all    {total_right:>3} of {total:>3} turns right ({total_right / total:.0%})")
    print("predicted:", dict(predicted.most_common()))


if __name__ == "__main__":
    main()
