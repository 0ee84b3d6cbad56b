"""Fit the speaker embedding the mono diarizer ships (`beam_pipeline/segment/diarization_embedder.npz`).

What it is: a whitening of segment cepstral means by the covariance of those
means *within* one speaker (within-class covariance normalisation, WCCN, as in
i-vector speaker recognition), estimated over every clip of every emotion of
the development speakers, each through a random phone line and codec (G.711,
or the low-bitrate MP3 or Vorbis of a call archive). Directions in which
one voice wanders with mood, sentence and line are shrunk; the rest, where voices
differ and a voice holds still, carry the distance that `diarize` clusters on.
It is a 19 x 19 matrix and a mean (under 2 KiB), fitted in a few seconds. The
cepstra are those `speaker_features` computes: over 32 bands equally spaced in Hz
(not mel; see `diarization.linear_filterbank`).

Why a whitening and not a trained network: a network trained to name the 15
development voices learnt sex, not voice; the within-speaker covariance needs no
between-speaker generalisation, only many segments per speaker. The network's
weights are kept in the same file to help count voices (copied over from
``--network``, not refitted here). The measurements, and what was tried and not
kept, are in `docs/studies/diarization_cepstral.md`.

Data: the *development* speakers of ``../shared/data`` only
(`benchmarks.simulated_calls.development_speakers`: RAVDESS actors 01-10, EmoDB
speakers 03, 08, 09, 10, 11 and the six TurEV speakers) less the tuning speakers
(`TUNING_SPEAKERS`: RAVDESS 07-10, EmoDB 10 and 11), on whose calls the
diarizer's thresholds were then tuned, so that they were tuned on voices the
embedding never heard, as every voice is at run time. That leaves RAVDESS 01-06,
EmoDB 03, 08, 09 and TurEV: every clip of every emotion. Every clip goes through
a random telephone line (codec, line noise, level) first, as
`benchmarks/simulated_calls.py` builds calls (plus the archive codecs, see
`CODECS`), and its features are centred the way `diarize` centres a call (minus
the mean of a pseudo-call: this clip and a clip of another speaker through the
same codec). Training examples are random crops of 0.6-2.0 s of the clips' speech
(the diarizer's segments are 0.3-2.0 s), as segment statistics. Deterministic for
a given seed: run as below, it rewrites the shipped file byte for byte (the
network copied from it, unchanged).

    .venv/bin/python beam_pipeline/segment/train_speaker_embedder.py [--out beam_pipeline/segment/diarization_embedder.npz]
        [--holdout ravdess_07,...]   # speakers left out (default: the tuning speakers)
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

from benchmarks.simulated_calls import (DEFAULT_DATA_ROOT, SAMPLE_RATE_HZ, TUNING_SPEAKERS,  # noqa: E402
                                        development_speakers, read_manifest, trimmed_speech)
from beam_pipeline.segment.diarization import (DEFAULT_EMBEDDER_PATH, SpeakerEmbedder, segment_statistics,  # noqa: E402
                                       speaker_features)
from beam_pipeline.segment.turns import TurnOptions, speech_frames  # noqa: E402
from ser_model.augment import telephone_channel  # noqa: E402

CROPS_PER_CLIP = 4
CROP_FRAMES = (30, 100)            # 0.6-2.0 s at 20 ms: the diarizer's segments are 0.3-2.0 s
SHRINKAGE = 1e-3                   # ridge added to the covariance, as a share of its mean variance
# Every line codec `telephone_channel` knows: G.711 as on the wire, and the low-bitrate MP3 and Vorbis of
# call archives, which cut the band near 2.4 and 3 kHz and leave the bands above them to noise and codec
# artefacts that vary from frame to frame. Fitted on G.711 alone, the whitening stretched exactly those
# directions (a voice holds still there on a clean line) and archived calls spread like three speakers.
CODECS = ("mulaw", "alaw", "mp3", "vorbis")


def clip_features(samples: np.ndarray, codec: str, rng: np.random.Generator) -> np.ndarray:
    """Cepstra of a clip's speech frames after a random phone line with `codec` (as in the simulated calls)."""
    level_dbfs = rng.uniform(-32.0, -20.0)
    samples = samples.astype(np.float64)
    samples *= 10 ** ((level_dbfs - 10 * np.log10(np.mean(samples ** 2) + 1e-20)) / 20)
    line = telephone_channel(samples, SAMPLE_RATE_HZ, codec=codec, noise_dbfs=float(rng.uniform(-62.0, -48.0)),
                             rng=rng)
    speech = speech_frames(line, SAMPLE_RATE_HZ, TurnOptions())
    return speaker_features(line, SAMPLE_RATE_HZ, np.flatnonzero(speech))


def training_set(speakers: list[str], data_root: Path, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Cepstral means of random crops (n, 19) and the speaker of each.

    Each clip is centred like a call of its codec: minus the mean of itself and a
    clip of another speaker through the same codec (one recording has one codec).
    """
    rng = np.random.default_rng(seed)
    clips_by_speaker = read_manifest(data_root)
    features: list[tuple[str, str, np.ndarray]] = []
    for speaker in speakers:
        for clip in clips_by_speaker[speaker]:
            codec = CODECS[int(rng.integers(len(CODECS)))]
            cepstra = clip_features(trimmed_speech(clip.path), codec, rng)
            if cepstra.shape[0] >= CROP_FRAMES[0] // 2:
                features.append((speaker, codec, cepstra))
        print(f"  {speaker}: {sum(1 for s, _, _ in features if s == speaker)} clips", flush=True)
    clip_means = np.stack([cepstra.mean(axis=0) for _, _, cepstra in features])
    clip_speakers = np.array([speaker for speaker, _, _ in features])
    clip_codecs = np.array([codec for _, codec, _ in features])
    rows, targets = [], []
    for speaker, codec, cepstra in features:
        others = np.flatnonzero((clip_speakers != speaker) & (clip_codecs == codec))
        centred = cepstra - 0.5 * (cepstra.mean(axis=0) + clip_means[rng.choice(others)])
        n = centred.shape[0]
        for _ in range(CROPS_PER_CLIP):
            length = int(rng.integers(min(n, CROP_FRAMES[0]), min(n, CROP_FRAMES[1]) + 1))
            start = int(rng.integers(0, n - length + 1))
            rows.append(segment_statistics(centred, np.array([[start, start + length]]))[0, :cepstra.shape[1]])
            targets.append(speaker)
    return np.stack(rows), np.array(targets)


def fit(means: np.ndarray, speakers: np.ndarray) -> SpeakerEmbedder:
    """The whitening of the within-speaker covariance of `means` (symmetric inverse square root)."""
    means = means.astype(np.float64)
    within = np.zeros((means.shape[1], means.shape[1]))
    for speaker in np.unique(speakers):
        own = means[speakers == speaker]
        centred = own - own.mean(axis=0)
        within += centred.T @ centred
    within /= means.shape[0]
    within += SHRINKAGE * np.trace(within) / within.shape[0] * np.eye(within.shape[0])
    eigenvalues, eigenvectors = np.linalg.eigh(within)
    transform = eigenvectors @ np.diag(eigenvalues ** -0.5) @ eigenvectors.T
    return SpeakerEmbedder(mean=means.mean(axis=0).astype(np.float32), transform=transform.astype(np.float32))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    parser.add_argument("--out", type=Path, default=DEFAULT_EMBEDDER_PATH)
    parser.add_argument("--holdout", default=",".join(TUNING_SPEAKERS),
                        help="comma-separated development speakers to leave out (default: the tuning speakers)")
    parser.add_argument("--network", type=Path, default=DEFAULT_EMBEDDER_PATH,
                        help="file whose speaker-classifier network weights are kept (the shipped one by default)")
    parser.add_argument("--seed", type=int, default=20261124)
    args = parser.parse_args()
    holdout = {s for s in args.holdout.split(",") if s}
    speakers = [s for s in development_speakers(read_manifest(args.data_root)) if s not in holdout]
    started = time.time()
    means, targets = training_set(speakers, args.data_root, args.seed)
    print(f"{means.shape[0]} training segments from {len(speakers)} speakers ({time.time() - started:.0f} s)",
          flush=True)
    embedder = fit(means, targets)
    network = SpeakerEmbedder.load(args.network)
    embedder = dataclasses.replace(embedder, net_mean=network.net_mean, net_scale=network.net_scale,
                                   net_weights=network.net_weights, net_biases=network.net_biases)
    embedder.save(args.out, speakers=",".join(speakers),
                  method="within-speaker covariance whitening of linear-band cepstral means "
                         "+ the speaker network (mel cepstra, counting only)",
                  crop_frames=",".join(map(str, CROP_FRAMES)))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.1f} KiB) in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
