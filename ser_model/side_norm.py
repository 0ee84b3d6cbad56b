"""Side normalisation: every window minus the mean spectrum of its side of the call.

A call side is one voice on one line. Its long-term spectrum carries the speaker's
timbre and the line's colouring (handset, codec, archive encoder); neither says
anything about emotion, and on the demo calls the line's colouring alone pushed
most turns toward "disgust". Subtracting the side's mean log-mel spectrum from every
frame (cepstral mean normalisation per side; "speaker normalisation" in the
emotion literature) leaves how each turn departs from that voice's usual sound,
which is where the emotion is. It needs no labels, only more speech of the same
voice: the pipeline takes the profile from all turns of a side; training and
evaluation take it from a pseudo-call, a few clips of one speaker in one channel.

Windows are zero-padded after their own level is removed (`features.normalise_window`),
so a sum over all frames is a sum over the real ones; `weights` say how many are real.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.sparse

from ser_model.features import FeatureSpec

# Clips per evaluation pseudo-call: about 20 s of speech from trimmed corpus clips,
# a short side of a real call. A whole speaker's clips would flatter the figures.
EVALUATION_CALL_CLIPS = 8


def real_frames(weights: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """Real (unpadded) frames per window, from the windows' weights."""
    return np.rint(np.asarray(weights) * spec.window_frames).astype(np.int64)


def frame_sums(windows: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """(n_windows, n_mels) float64 sum over each window's frames; padding adds nothing."""
    out = np.empty((len(windows), windows.shape[2]), dtype=np.float64)
    for start in range(0, len(windows), chunk):
        out[start:start + chunk] = windows[start:start + chunk].astype(np.float32).sum(axis=1)
    return out


def subtract(windows: np.ndarray, weights: np.ndarray, profiles: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """float32 windows with `profiles` (one per window, or one for all) taken off their real frames."""
    profiles = np.broadcast_to(np.asarray(profiles, dtype=np.float32), (len(windows), windows.shape[2]))
    is_real = np.arange(windows.shape[1])[None, :] < real_frames(weights, spec)[:, None]
    return (windows.astype(np.float32) - profiles[:, None, :] * is_real[..., None]).astype(np.float32)


def normalise_side(stacks: Sequence[np.ndarray], weights: Sequence[np.ndarray],
                   spec: FeatureSpec) -> list[np.ndarray]:
    """One side's turns (window stacks with their weights), each minus the side's mean frame."""
    n_frames = sum(int(real_frames(w, spec).sum()) for w in weights)
    if n_frames == 0:
        return [np.asarray(s, dtype=np.float32) for s in stacks]
    profile = sum(frame_sums(s).sum(axis=0) for s in stacks) / n_frames
    return [subtract(s, w, profile, spec) for s, w in zip(stacks, weights)]


def pseudo_calls(speakers: np.ndarray, rows: np.ndarray, rng: np.random.Generator, *, clips_per_call: int,
                 random_size: bool = False) -> np.ndarray:
    """Pseudo-call id per clip (-1 outside `rows`): each speaker's clips shuffled and cut into calls.

    A call holds `clips_per_call` clips of one speaker or, with `random_size`,
    between 1 and that many, so training sees profiles from a single short turn up
    to a long side.
    """
    groups = np.full(len(speakers), -1, dtype=np.int64)
    next_group = 0
    for speaker in np.unique(speakers[rows]):
        members = rng.permutation(rows[speakers[rows] == speaker])
        start = 0
        while start < len(members):
            size = int(rng.integers(1, clips_per_call + 1)) if random_size else clips_per_call
            groups[members[start:start + size]] = next_group
            next_group += 1
            start += size
    return groups


def membership(groups: np.ndarray) -> scipy.sparse.csr_matrix:
    """(n_clips, n_clips) 0/1: row i marks the clips whose frames make clip i's profile (its group's)."""
    groups = np.asarray(groups)
    in_call = np.flatnonzero(groups >= 0)
    order = in_call[np.argsort(groups[in_call], kind="stable")]
    starts = np.flatnonzero(np.r_[True, np.diff(groups[order]) != 0, True])
    rows, cols = [], []
    for a, b in zip(starts[:-1], starts[1:]):
        members = order[a:b]
        rows.append(np.repeat(members, len(members)))
        cols.append(np.tile(members, len(members)))
    rows_, cols_ = (np.concatenate(rows), np.concatenate(cols)) if rows else (np.zeros(0, int), np.zeros(0, int))
    return scipy.sparse.csr_matrix((np.ones(len(rows_)), (rows_, cols_)), shape=(len(groups), len(groups)))


CALL_KINDS = ("any", "same emotion", "neutral")


def companion_calls(speakers: np.ndarray, labels: np.ndarray, rows: np.ndarray, rng: np.random.Generator, *,
                    max_clips: int, neutral_label: int, kinds: Sequence[str] = CALL_KINDS,
                    random_size: bool = True) -> scipy.sparse.csr_matrix:
    """A pseudo-call of its own for every clip in `rows`, as `membership` rows.

    Each call is the clip plus up to `max_clips - 1` other clips of its speaker
    (a random number of them with `random_size`), of a kind drawn from `kinds`:
    any clips, only ones of the clip's own emotion, or only neutral ones. A real
    side is rarely a balanced mix of emotions: a customer is upset all call long,
    or calm but for one turn. Training on all three kinds keeps the model from
    reading "unlike this side's usual sound" as the emotion itself; evaluating on
    each says what a side of that kind gets.
    """
    in_rows = np.zeros(len(speakers), dtype=bool)
    in_rows[rows] = True
    by_speaker = {s: np.flatnonzero((speakers == s) & in_rows) for s in np.unique(speakers[rows])}
    row_ids, col_ids = [], []
    for clip in rows:
        pool = by_speaker[speakers[clip]]
        kind = kinds[int(rng.integers(len(kinds)))]
        if kind == "same emotion":
            pool = pool[labels[pool] == labels[clip]]
        elif kind == "neutral":
            pool = pool[labels[pool] == neutral_label]
        pool = pool[pool != clip]
        n_more = min(int(rng.integers(0, max_clips)) if random_size else max_clips - 1, len(pool))
        members = np.concatenate([[clip], rng.choice(pool, size=n_more, replace=False)])
        row_ids.append(np.full(len(members), clip))
        col_ids.append(members)
    row_ids, col_ids = np.concatenate(row_ids), np.concatenate(col_ids)
    return scipy.sparse.csr_matrix((np.ones(len(row_ids)), (row_ids, col_ids)), shape=(len(speakers),) * 2)


def scenario_calls(speakers: np.ndarray, labels: np.ndarray, rows: np.ndarray, *, neutral_label: int,
                   seed: int = 0) -> dict[str, scipy.sparse.csr_matrix]:
    """Held-out sides of three kinds, `EVALUATION_CALL_CLIPS` clips each, for the model card.

    "mixed": the headline pseudo-calls; "one emotion": the clip with clips of its
    own emotion (an upset caller all along); "mostly neutral": the clip with
    neutral clips (a calm side with one emotional turn).
    """
    rng = np.random.default_rng(seed)
    return {"mixed": evaluation_calls(speakers, rows, seed),
            **{name: companion_calls(speakers, labels, rows, rng, max_clips=EVALUATION_CALL_CLIPS,
                                     neutral_label=neutral_label, kinds=(kind,), random_size=False)
               for name, kind in (("one emotion", "same emotion"), ("mostly neutral", "neutral"))}}


def call_profiles(calls: scipy.sparse.csr_matrix, sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(n_clips, n_mels) mean frame over each clip's call; zeros for a clip in no call."""
    return (calls @ sums) / np.maximum(calls @ counts, 1)[:, None]


def evaluation_calls(speakers: Sequence[str], rows: np.ndarray, seed: int = 0) -> scipy.sparse.csr_matrix:
    """The fixed pseudo-calls of `EVALUATION_CALL_CLIPS` clips of one speaker among `rows`, for scoring."""
    return membership(pseudo_calls(np.asarray(speakers), np.asarray(rows), np.random.default_rng(seed),
                                   clips_per_call=EVALUATION_CALL_CLIPS))
