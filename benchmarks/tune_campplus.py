"""Tune the CAM++ diarizer's count thresholds and switch penalty on calls of tuning speakers only.

Builds two-minute simulated calls (1, 2 and 3 speakers; each side at its own level
and line noise, 12-35 dB SNR; G.711, and MP3 for a share of the two-speaker calls)
from `simulated_calls.CAMPPLUS_TUNING_SPEAKERS`, embeds each call's speech windows
once, takes the mean of all those windows' unit embeddings as the centre of the
embedding space, fits the within-speaker whitening on one-speaker calls of
`simulated_calls.NORMALISATION_SPEAKERS` (development voices neither tuned on nor
reported on), ``--write-normalisation`` ships both as ``speaker_models/campplus_normalisation.npz``,
and prints for each true count the statistics the count is read from (the
2-way split's centroid cosine, the 3-way split's largest pairwise centroid cosine),
then DER over a grid of thresholds and `window_switch_penalty`. The chosen values
are the defaults of `DiarizationOptions`; held-out figures come from
`benchmarks/diarization_der.py`, never from here.

    .venv/bin/python benchmarks/tune_campplus.py [--calls 24] [--hop-s 0.75] [--window-s 1.5] [--shrinkage 0.4]
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks.diarization_der import score  # noqa: E402
from benchmarks.simulated_calls import (CAMPPLUS_TUNING_SPEAKERS, DEFAULT_DATA_ROOT, MIN_SPEECH_S_PER_SPEAKER,  # noqa: E402
                                        NORMALISATION_SPEAKERS, SAMPLE_RATE_HZ, CallPlan, call_set, read_manifest)
from beam_pipeline.segment.diarization import (DiarizationOptions, _centroid_similarities, _fold_small_clusters,  # noqa: E402
                                       _name_speakers, embed_speech_windows, pad_speech, speaker_centroids,
                                       split_windows, window_frame_labels)
from beam_pipeline.segment.speaker_embedding import (DEFAULT_MODEL_PATH, DEFAULT_NORMALISATION_PATH,  # noqa: E402
                                             EmbeddingNormalisation, SpeakerEmbeddingModel, within_speaker_whitening)
from beam_pipeline.segment.turns import TurnOptions, speaker_turns, speech_frames  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=24, help="two-speaker calls (half as many 1- and 3-speaker)")
    parser.add_argument("--duration-s", type=float, default=120.0)
    parser.add_argument("--window-s", type=float, default=1.5)
    parser.add_argument("--hop-s", type=float, default=0.75)
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    parser.add_argument("--seed", type=int, default=101)
    parser.add_argument("--model", type=Path, default=None, help="another ONNX file of the model (e.g. int8)")
    parser.add_argument("--cache", type=Path, default=None, help="keep the calls' embedded windows in this pickle")
    parser.add_argument("--shrinkage", type=float, default=0.4,
                        help="within-speaker covariance shrunk this far towards its mean variance before whitening")
    parser.add_argument("--no-whitening", action="store_true", help="centre only (the normalisation before 2026-12-04)")
    parser.add_argument("--write-normalisation", action="store_true",
                        help=f"write the centre and whitening to {DEFAULT_NORMALISATION_PATH.name}")
    args = parser.parse_args()

    clips = read_manifest(args.data_root)
    plan = CallPlan(duration_s=args.duration_s, snr_db=(12.0, 35.0))
    speakers = list(CAMPPLUS_TUNING_SPEAKERS)
    kw = dict(min_speech_s=MIN_SPEECH_S_PER_SPEAKER, by_corpus_evenly=True)
    calls = (call_set(args.calls, 2, speakers, clips, args.seed, plan, prefix="two", **kw)
             + call_set(args.calls // 4, 2, speakers, clips, args.seed + 1, dataclasses.replace(plan, codec="mp3"),
                        prefix="mp3", **kw)
             + call_set(args.calls // 2, 1, speakers, clips, args.seed + 2, plan, prefix="one", **kw)
             + call_set(args.calls // 2, 3, speakers, clips, args.seed + 3, plan, prefix="three", **kw))
    base = DiarizationOptions(window_s=args.window_s, hop_s=args.hop_s)
    raw_model = SpeakerEmbeddingModel(args.model or DEFAULT_MODEL_PATH, normalisation_path=None)   # unit embeddings, not yet centred
    turn_options = TurnOptions()
    prepared = []
    if args.cache is not None and args.cache.exists():
        import pickle
        prepared = pickle.loads(args.cache.read_bytes())
    for call in calls[len(prepared):]:
        speech = speech_frames(call.samples, SAMPLE_RATE_HZ, turn_options)
        windows = embed_speech_windows(call.samples, SAMPLE_RATE_HZ, speech, 0.02, base, raw_model)
        prepared.append((call, speech, windows))
        print(f"{call.name:16s} {','.join(call.speakers):40s} windows {windows.unit.shape[0]:4d}", flush=True)
    if args.cache is not None:
        import pickle
        args.cache.write_bytes(pickle.dumps(prepared))
    every = np.concatenate([w.unit for _, _, w in prepared])
    centre = every.mean(axis=0).astype(np.float32)
    print(f"centre: mean of {every.shape[0]} unit window embeddings, norm {np.linalg.norm(centre):.3f}")
    whitening = None
    if not args.no_whitening:
        fit_calls = []
        for i, speaker in enumerate(NORMALISATION_SPEAKERS):       # 3 G.711 calls and 1 MP3 call of each voice
            fit_calls += call_set(3, 1, [speaker], clips, args.seed + 400 + i, plan, prefix=f"fit_{speaker}")
            fit_calls += call_set(1, 1, [speaker], clips, args.seed + 500 + i, dataclasses.replace(plan, codec="mp3"),
                                  prefix=f"fitmp3_{speaker}")
        fit_units, fit_speakers = [], []
        for call in fit_calls:
            speech = speech_frames(call.samples, SAMPLE_RATE_HZ, turn_options)
            windows = embed_speech_windows(call.samples, SAMPLE_RATE_HZ, speech, 0.02, base, raw_model)
            fit_units.append(EmbeddingNormalisation(centre).apply(windows.unit))
            fit_speakers += [call.speakers[0]] * windows.unit.shape[0]
        whitening = within_speaker_whitening(np.concatenate(fit_units), np.array(fit_speakers), args.shrinkage)
        print(f"whitening: within-speaker covariance of {len(fit_speakers)} windows of {len(NORMALISATION_SPEAKERS)} "
              f"voices ({len(fit_calls)} one-speaker calls), shrinkage {args.shrinkage}")
    normalisation = EmbeddingNormalisation(centre, whitening)
    if args.write_normalisation:
        np.savez(DEFAULT_NORMALISATION_PATH, centre=centre,
                 **({"whitening": whitening} if whitening is not None else {}),
                 n_windows=every.shape[0], shrinkage=args.shrinkage,
                 centre_speakers=np.array(sorted({k for c, _, _ in prepared for k in c.speakers})),
                 whitening_speakers=np.array(NORMALISATION_SPEAKERS),
                 note=np.array("centre: mean unit CAM++ embedding of the speech windows of benchmarks/tune_campplus.py's "
                               f"calls (seed {args.seed}, {args.window_s} s windows every {args.hop_s} s); whitening: "
                               "inverse square root of the shrunk within-speaker covariance of the centred windows "
                               "of one-speaker calls of whitening_speakers"))
        print(f"wrote {DEFAULT_NORMALISATION_PATH}")
    prepared = [(c, speech, dataclasses.replace(w, unit=normalisation.apply(w.unit).astype(np.float32)))
                for c, speech, w in prepared]

    stats = []
    for call, _, windows in prepared:
        long_enough = windows.lengths >= int(round(base.min_cluster_window_s * 100))
        unit = windows.unit[long_enough] if long_enough.sum() >= 2 else windows.unit
        weights = np.ones(unit.shape[0])
        two = _fold_small_clusters(unit, split_windows(unit, 2), weights, 1, base.min_speaker_share)
        three = _fold_small_clusters(unit, split_windows(unit, 3), weights, 1, base.min_speaker_share)
        c2 = _centroid_similarities(unit, two).max() if np.unique(two).size == 2 else 1.0
        c3 = _centroid_similarities(unit, three).max() if np.unique(three).size == 3 else 1.0
        stats.append((len(call.speakers), c2, c3))
    stats_array = np.array(stats)
    for k in (1, 2, 3):
        rows = stats_array[stats_array[:, 0] == k]
        print(f"{k} speaker(s): 2-way centroid cosine {np.round(np.sort(rows[:, 1]), 2).tolist()}")
        print(f"{'':13s} 3-way largest pair  {np.round(np.sort(rows[:, 2]), 2).tolist()}")

    def counts(t2: float, t3: float) -> np.ndarray:
        return np.where(stats_array[:, 1] >= t2, 1, np.where(stats_array[:, 2] < t3, 3, 2))

    grid = []
    for t2, t3 in itertools.product(np.arange(0.20, 0.71, 0.02), np.arange(0.10, 0.61, 0.02)):
        right = counts(t2, t3) == stats_array[:, 0]
        per_count = [right[stats_array[:, 0] == k].mean() for k in (1, 2, 3)]
        grid.append((float(np.mean(per_count)), float(min(per_count)), round(float(t2), 2), round(float(t3), 2),
                     per_count))
    grid.sort(key=lambda g: (-g[0], -g[1]))
    print("best thresholds by mean per-count accuracy (1 / 2 / 3 speakers):")
    for mean_right, _, t2, t3, per_count in grid[:10]:
        print(f"  two_speaker_similarity {t2:.2f} three_speaker_similarity {t3:.2f}: "
              f"{' / '.join(f'{100 * v:.0f}' for v in per_count)} % (mean {100 * mean_right:.1f} %)")
    _, _, t2, t3, _ = grid[0]

    def run(options: DiarizationOptions) -> tuple[dict, float]:
        ders = {1: [], 2: [], 3: []}
        right = []
        for call, speech, windows in prepared:
            centroids = speaker_centroids(windows, options)
            n = centroids.shape[0]
            frames = window_frame_labels(windows, centroids, speech, options, 0.02)
            frames = pad_speech(frames, int(round(options.speech_padding_s / 0.02)))
            frames, names = _name_speakers(frames, n, options)
            masks = frames[np.newaxis] == np.arange(len(names))[:, np.newaxis]
            turns = speaker_turns(call.samples, SAMPLE_RATE_HZ, masks, list(names), TurnOptions())
            der = score(call.reference, [(t.start_s, t.end_s, t.speaker) for t in turns])["diarization error rate"]
            ders[len(call.speakers)].append(der)
            right.append(len(names) == len(call.speakers))
        return {k: float(np.mean(v)) for k, v in ders.items()}, float(np.mean(right))

    print(f"with {t2:.2f} / {t3:.2f}: window_switch_penalty -> DER 1 / 2 / 3 speakers, count right; "
          "and the count given")
    for penalty in (0.0, 0.5, 1.0, 2.0, 4.0):
        options = dataclasses.replace(base, two_speaker_similarity=t2, three_speaker_similarity=t3,
                                      window_switch_penalty=penalty)
        ders, right = run(options)
        known = {}
        for k in (2, 3):
            subset_options = dataclasses.replace(options, num_speakers=k)
            subset = [(c, sp, w) for c, sp, w in prepared if len(c.speakers) == k]
            saved, prepared[:] = list(prepared), subset
            known[k] = run(subset_options)[0][k]
            prepared[:] = saved
        print(f"  {penalty:4.1f}: {100 * ders[1]:5.1f} / {100 * ders[2]:5.1f} / {100 * ders[3]:5.1f} %, "
              f"count right {100 * right:5.1f} %; count given: 2 speakers {100 * known[2]:5.1f} %, "
              f"3 speakers {100 * known[3]:5.1f} %", flush=True)


if __name__ == "__main__":
    main()
