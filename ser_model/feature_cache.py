"""Model windows for every clip under every perturbation, computed once and cached on disk.

Feature extraction (decode, trim, telephone channel, log-mel) costs more than a
training epoch on two cores, and the hyperparameter search and the cross-validation
folds all reuse the same windows, so they are computed once per (clip list,
variant, feature spec) and stored under a content key.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import zlib
from pathlib import Path
from typing import Sequence

import joblib
import librosa
import numpy as np

from ser_model.augment import Variant, apply_variant
from ser_model.corpus import Clip, load_clip
from ser_model.features import DEFAULT_SPEC, FeatureSpec, combine_window_probabilities, window_features


@dataclasses.dataclass
class VariantWindows:
    """All windows of all clips for one variant, flattened; `clip_index` maps each back."""

    windows: np.ndarray      # float16 (n_windows, frames, mels)
    weights: np.ndarray      # float32 (n_windows,)
    clip_index: np.ndarray   # int32 (n_windows,)

    def first_window_of_each_clip(self, n_clips: int) -> np.ndarray:
        """Row index of each clip's first window: a trimmed clip nearly always fits one window."""
        clips, first_rows = np.unique(self.clip_index, return_index=True)
        if clips.size != n_clips:
            raise ValueError(f"{n_clips - clips.size} clips have no window")
        return first_rows

    def rows_of(self, clip_rows: np.ndarray) -> np.ndarray:
        """Row index of every window belonging to one of `clip_rows`."""
        return np.flatnonzero(np.isin(self.clip_index, clip_rows))

    def clip_probabilities(self, rows: np.ndarray, window_probabilities: np.ndarray,
                           clip_rows: np.ndarray) -> np.ndarray:
        """(len(clip_rows), n_classes): each clip's windows combined as the pipeline combines a turn's.

        `window_probabilities[i]` belongs to window `rows[i]`.
        """
        clip_of_row = self.clip_index[rows]
        return np.stack([combine_window_probabilities(window_probabilities[clip_of_row == clip],
                                                      self.weights[rows][clip_of_row == clip])
                         for clip in clip_rows])


def trimmed_clip(path: Path, spec: FeatureSpec, top_db: float) -> np.ndarray:
    """Clip audio with leading/trailing silence cut, like the speech turns the pipeline cuts."""
    samples = load_clip(path, spec.sample_rate_hz)
    trimmed, _ = librosa.effects.trim(samples, top_db=top_db, frame_length=512, hop_length=160)
    return trimmed if trimmed.size >= spec.n_fft else samples


def _clip_windows(clip: Clip, variants: Sequence[Variant], spec: FeatureSpec, top_db: float):
    samples = trimmed_clip(clip.path, spec, top_db)
    out = []
    for variant in variants:
        seed = zlib.crc32(f"{clip.path.name}:{variant.name}".encode())
        windows, weights = window_features(apply_variant(samples, spec.sample_rate_hz, variant, seed), spec)
        out.append((windows.astype(np.float16), weights))
    return out


def cache_key(clips: Sequence[Clip], variant: Variant, spec: FeatureSpec, top_db: float) -> str:
    payload = json.dumps({
        "clips": [str(c.path) for c in clips],
        "variant": dataclasses.asdict(variant),
        "spec": spec.to_dict(),
        "top_db": top_db,
    }, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _cache_file(cache_dir: Path, clips: Sequence[Clip], variant: Variant, spec: FeatureSpec, top_db: float) -> Path:
    return Path(cache_dir) / f"windows_{variant.name}_{cache_key(clips, variant, spec, top_db)}.npz"


def compute_windows(clips: Sequence[Clip], variants: Sequence[Variant], *, spec: FeatureSpec = DEFAULT_SPEC,
                    top_db: float = 35.0, cache_dir: Path | None = None, n_jobs: int = 2) -> dict[str, VariantWindows]:
    """Windows per variant name for `clips`; each variant is cached on its own in `cache_dir`.

    One file per variant means adding a perturbation computes only that one.
    """
    result: dict[str, VariantWindows] = {}
    if cache_dir is not None:
        for variant in variants:
            cache_file = _cache_file(cache_dir, clips, variant, spec, top_db)
            if cache_file.exists():
                with np.load(cache_file) as stored:
                    result[variant.name] = VariantWindows(stored["windows"], stored["weights"], stored["clip_index"])
    missing = [v for v in variants if v.name not in result]
    if not missing:
        return result
    per_clip = joblib.Parallel(n_jobs=n_jobs, batch_size=16)(
        joblib.delayed(_clip_windows)(clip, missing, spec, top_db) for clip in clips)
    for v_index, variant in enumerate(missing):
        windows = [per_clip[c][v_index][0] for c in range(len(clips))]
        computed = VariantWindows(
            windows=np.concatenate(windows),
            weights=np.concatenate([per_clip[c][v_index][1] for c in range(len(clips))]),
            clip_index=np.concatenate([np.full(len(w), c, dtype=np.int32) for c, w in enumerate(windows)]),
        )
        result[variant.name] = computed
        if cache_dir is not None:
            cache_file = _cache_file(cache_dir, clips, variant, spec, top_db)
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            np.savez(cache_file, windows=computed.windows, weights=computed.weights, clip_index=computed.clip_index)
    return result
