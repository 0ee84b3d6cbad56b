"""CPU per 3 s window of the emotion model, on one thread, batched as the pipeline batches turns.

Why: the model's budget is 1 ms of CPU per window on one core (2 ms if a larger
model buys +0.03 balanced accuracy), and scoring is one of the job's largest
stages. CPU time (not wall time) is measured so a busy machine moves the figure
less; the model is the one `--model-dir` names (the shipped one by default).

    .venv/bin/python benchmarks/ser_scoring_cost.py [--model-dir DIR] [--batch 64] [--repeats 20]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ser_model.inference import DEFAULT_MODEL_DIR, EmotionScorer, ModelInfo  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--batch", type=int, default=64, help="windows per model call (a bundle of turns)")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    info = ModelInfo.read(args.model_dir)
    scorer = EmotionScorer(info, threads=1)
    rng = np.random.default_rng(0)
    windows = rng.normal(0.0, 10.0, (args.batch, info.spec.window_frames, info.spec.n_mels)).astype(np.float32)
    scorer.predict(windows)                            # trace and warm up
    per_window_ms = []
    for _ in range(args.repeats):
        started = time.process_time()
        scorer.predict(windows)
        per_window_ms.append(1000 * (time.process_time() - started) / args.batch)
    import keras

    parameters = keras.saving.load_model(info.model_dir / "callmood_ser.keras", compile=False).count_params()
    print(f"model {info.model_version}: {parameters:,} parameters, batch {args.batch}, one thread")
    print(f"CPU per 3 s window: median {np.median(per_window_ms):.3f} ms, "
          f"best {min(per_window_ms):.3f} ms, worst {max(per_window_ms):.3f} ms over {args.repeats} calls")


if __name__ == "__main__":
    main()
