"""Reading emotion corpora described by a manifest CSV (the ../shared/data format).

Only columns the model needs are required (path, speaker, label6); corpus, language
and sex are optional so that `callmood evaluate` works on a manifest it has never
seen. Rows whose label6 is empty or outside the chosen classes are left out.
"""
from __future__ import annotations

import csv
import dataclasses
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf
import soxr

from ser_model.features import EMOTIONS


@dataclasses.dataclass(frozen=True)
class Clip:
    path: Path
    speaker: str
    label: str
    corpus: str = ""
    language: str = ""
    sex: str = ""


def read_manifest(manifest_csv: Path | str, data_root: Path | str,
                  classes: Sequence[str] = EMOTIONS) -> list[Clip]:
    """Clips of `classes` listed in `manifest_csv`, paths resolved against `data_root`."""
    data_root = Path(data_root)
    clips = []
    with open(manifest_csv, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"path", "speaker", "label6"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{manifest_csv}: manifest lacks columns {sorted(missing)}")
        for row in reader:
            label = (row.get("label6") or "").strip()
            if label not in classes:
                continue
            clips.append(Clip(
                path=data_root / row["path"],
                speaker=row["speaker"],
                label=label,
                corpus=row.get("corpus", "") or "",
                language=row.get("language", "") or "",
                sex=row.get("sex", "") or "",
            ))
    return clips


def load_clip(path: Path, sample_rate_hz: int = 16000) -> np.ndarray:
    """Mono float32 audio at `sample_rate_hz`, whatever the file's own rate and channels."""
    samples, rate_hz = sf.read(str(path), dtype="float32", always_2d=True)
    mono = samples.mean(axis=1)
    if rate_hz != sample_rate_hz:
        mono = soxr.resample(mono, rate_hz, sample_rate_hz, quality="HQ").astype(np.float32)
    return mono


def label_sets(clips: Sequence[Clip], classes: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Each corpus's own classes: those its clips are labelled with, in `classes` order.

    Read off the labels rather than declared, so a corpus added to the manifest
    needs no code change. A corpus that lacks a class (EmoDB's boredom aside, four
    corpora have no disgust and TurEV-DB has no fear) says nothing about that class,
    and training must not read its absence as "never".
    """
    present: dict[str, set[str]] = {}
    for clip in clips:
        present.setdefault(clip.corpus, set()).add(clip.label)
    return {corpus: tuple(c for c in classes if c in labels) for corpus, labels in sorted(present.items())}


def allowed_classes(clips: Sequence[Clip], classes: Sequence[str]) -> np.ndarray:
    """(n_clips, n_classes) 1.0 where the class is in the clip's corpus's label set, else 0.0."""
    sets = label_sets(clips, classes)
    return np.array([[1.0 if c in sets[clip.corpus] else 0.0 for c in classes] for clip in clips], dtype=np.float32)
