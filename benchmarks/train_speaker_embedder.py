"""Train the speaker embedding the mono diarizer ships (`beam_pipeline/diarization_embedder.npz`).

Why a trained embedding at all: on emotional speech, cepstral statistics group a
call's sentences by mood as readily as by voice; a network trained to name
speakers across all their moods learns which differences are the voice's. Why
this small: it runs on every segment of every mono call (see the budget in
`beam_pipeline/diarization.py`).

Data: the *development* speakers of ``../shared/data`` only
(`benchmarks.simulated_calls.development_speakers`: RAVDESS actors 01-10, EmoDB
speakers 03, 08, 09, 10, 11 and the six TurEV speakers) less the tuning speakers
(`TUNING_SPEAKERS`: RAVDESS 07-10, EmoDB 10 and 11), on whose calls the
diarizer's thresholds were then tuned, so that they were tuned on voices the
embedding never heard, as every voice is at run time. That leaves RAVDESS 01-06,
EmoDB 03, 08, 09 and TurEV: every clip of every emotion. Fifteen voices are far
too few for a speaker network to generalise, so each is multiplied by speed
perturbation (x0.85 ... x1.15, which moves pitch and formants together like a
longer or shorter vocal tract; Kaldi's x-vector recipe treats such copies as new
speakers): 105 training "speakers". Every clip
goes through a random telephone line (codec, line noise, level) first, exactly as
`benchmarks/simulated_calls.py` builds calls, and its features are centred the way
`diarize` centres a call (minus the mean of a pseudo-call: this clip and a clip of
another speaker). Training examples are random 0.6-2.0 s crops of the clips'
speech, as segment statistics.

The model is a scikit-learn `MLPClassifier` (two ReLU layers, 256 and 64 units);
its output layer is dropped and the 64 ReLU units are the embedding. Deterministic
for a given seed.

    .venv/bin/python benchmarks/train_speaker_embedder.py [--out beam_pipeline/diarization_embedder.npz]
        [--holdout ravdess_07,...]   # speakers left out (default: the tuning speakers)
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402

from benchmarks.simulated_calls import (DEFAULT_DATA_ROOT, SAMPLE_RATE_HZ, TUNING_SPEAKERS,  # noqa: E402
                                        development_speakers, read_manifest, trimmed_speech)
from beam_pipeline.diarization import (DEFAULT_EMBEDDER_PATH, SpeakerEmbedder, segment_statistics,  # noqa: E402
                                       speaker_features)
from beam_pipeline.turns import TurnOptions, speech_frames  # noqa: E402
from ser_model.augment import speed_perturb, telephone_channel  # noqa: E402

SPEED_FACTORS = (0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15)
CROPS_PER_CLIP = 4
CROP_FRAMES = (30, 100)            # 0.6-2.0 s at 20 ms: the diarizer's segments are 0.3-1.5 s
HIDDEN_UNITS = (256, 64)


def clip_features(samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Cepstra of a clip's speech frames after a random phone line (as in the simulated calls)."""
    level_dbfs = rng.uniform(-32.0, -20.0)
    samples = samples.astype(np.float64)
    samples *= 10 ** ((level_dbfs - 10 * np.log10(np.mean(samples ** 2) + 1e-20)) / 20)
    line = telephone_channel(samples, SAMPLE_RATE_HZ, codec=("mulaw", "alaw")[int(rng.integers(2))],
                             noise_dbfs=float(rng.uniform(-62.0, -48.0)), rng=rng)
    speech = speech_frames(line, SAMPLE_RATE_HZ, TurnOptions())
    return speaker_features(line, SAMPLE_RATE_HZ, np.flatnonzero(speech))


def training_set(speakers: list[str], data_root: Path, seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Segment statistics of random crops and their pseudo-speaker index."""
    rng = np.random.default_rng(seed)
    clips_by_speaker = read_manifest(data_root)
    features: list[tuple[int, np.ndarray]] = []
    classes: list[str] = []
    for speaker in speakers:
        for factor in SPEED_FACTORS:
            classes.append(f"{speaker}@{factor}")
            for clip in clips_by_speaker[speaker]:
                samples = trimmed_speech(clip.path)
                if factor != 1.0:
                    samples = speed_perturb(samples, factor)
                cepstra = clip_features(samples, rng)
                if cepstra.shape[0] >= CROP_FRAMES[0] // 2:
                    features.append((len(classes) - 1, cepstra))
        print(f"  {speaker}: {sum(1 for c, _ in features if classes[c].startswith(speaker + '@'))} clips",
              flush=True)
    speaker_of_class = [name.split("@")[0] for name in classes]
    clip_means = np.stack([cepstra.mean(axis=0) for _, cepstra in features])
    clip_speakers = np.array([speaker_of_class[c] for c, _ in features])
    rows, targets = [], []
    for (label, cepstra), speaker in zip(features, clip_speakers):
        others = np.flatnonzero(clip_speakers != speaker)
        call_mean = 0.5 * (cepstra.mean(axis=0) + clip_means[rng.choice(others)])
        centred = cepstra - call_mean
        n = centred.shape[0]
        for _ in range(CROPS_PER_CLIP):
            length = int(rng.integers(min(n, CROP_FRAMES[0]), min(n, CROP_FRAMES[1]) + 1))
            start = int(rng.integers(0, n - length + 1))
            rows.append(segment_statistics(centred, np.array([[start, start + length]]))[0])
            targets.append(label)
    return np.stack(rows), np.array(targets), classes


def train(statistics: np.ndarray, targets: np.ndarray, seed: int, epochs: int) -> SpeakerEmbedder:
    mean = statistics.mean(axis=0)
    scale = statistics.std(axis=0) + 1e-6
    classifier = MLPClassifier(hidden_layer_sizes=HIDDEN_UNITS, alpha=1e-3, batch_size=256, learning_rate_init=1e-3,
                               max_iter=epochs, random_state=seed, verbose=False)
    classifier.fit((statistics - mean) / scale, targets)
    print(f"  training accuracy {classifier.score((statistics - mean) / scale, targets):.3f} "
          f"over {np.unique(targets).size} pseudo-speakers", flush=True)
    return SpeakerEmbedder(mean=mean.astype(np.float32), scale=scale.astype(np.float32),
                           weights=tuple(w.astype(np.float32) for w in classifier.coefs_[:-1]),
                           biases=tuple(b.astype(np.float32) for b in classifier.intercepts_[:-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    parser.add_argument("--out", type=Path, default=DEFAULT_EMBEDDER_PATH)
    parser.add_argument("--holdout", default=",".join(TUNING_SPEAKERS),
                        help="comma-separated development speakers to leave out (default: the tuning speakers)")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=20261124)
    args = parser.parse_args()
    holdout = {s for s in args.holdout.split(",") if s}
    speakers = [s for s in development_speakers(read_manifest(args.data_root)) if s not in holdout]
    started = time.time()
    statistics, targets, _ = training_set(speakers, args.data_root, args.seed)
    print(f"{statistics.shape[0]} training segments from {len(speakers)} speakers "
          f"({time.time() - started:.0f} s)", flush=True)
    embedder = train(statistics, targets, args.seed, args.epochs)
    embedder.save(args.out, speakers=",".join(speakers), speed_factors=",".join(map(str, SPEED_FACTORS)))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB) in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
