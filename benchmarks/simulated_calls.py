"""Simulated mono call recordings with known speaker turns, built from real corpus speakers.

Why this exists
---------------
Diarization needs recordings whose "who spoke when" is known to the frame, and
real call recordings with such labels cannot be shipped or downloaded here. A
simulated call takes real speech of real, distinct speakers (RAVDESS, EmoDB,
TurEV clips in ``../shared/data``) and lays it out the way a contact-centre
recording sounds:

- alternating turns of one to three clips each (pauses of 0.15-0.4 s inside a
  turn), pauses of 0.2-1.5 s between turns, and now and then the next side
  starting 0.2-0.8 s before the other finishes (overlap);
- every clip trimmed of its leading and trailing silence first, so each placed
  clip's span is the reference speech segment (one RTTM line per clip);
- each side on its own telephone line (``ser_model.augment.telephone_channel``:
  8 kHz, 300-3400 Hz, G.711, line noise at -62 to -50 dBFS) at its own speech
  level (-30 to -22 dBFS in the telephone band, so sides differ by up to 8 dB),
  every clip within +-2 dB of its side's level, then summed to one 16 kHz channel.
  Both lines share one band-pass: the only channel differences between the sides
  are codec (mu-law / A-law), noise level and gain;
- clips of every emotion the corpus has, with a mood that carries over from one
  turn to the speaker's next (kept with probability `CallPlan.mood_persistence`,
  otherwise redrawn: neutral or calm with probability `CallPlan.neutral_share`,
  else one of the other emotions), so one speaker sounds calm for a while and
  angry later in the same call: the diarizer must follow the voice, not the
  mood. With persistence 0 every clip is a fresh draw of emotion (a stress test:
  no real caller swings from angry to sad to happy sentence by sentence).

Speakers are split by ``speaker`` (never by clip) into a development set, the only
one any diarization parameter may be tuned on, and an evaluation set; see
`DEVELOPMENT_SPEAKERS` and `EVALUATION_SPEAKERS`.
"""
from __future__ import annotations

import csv
import dataclasses
import os
from pathlib import Path
from typing import Sequence

import librosa
import numpy as np
import scipy.signal
import soundfile as sf

from ser_model.augment import telephone_channel

SAMPLE_RATE_HZ = 16000
# ../shared/data beside the repo; CALLMOOD_DATA_ROOT overrides it (a git worktree elsewhere, a CI copy)
DEFAULT_DATA_ROOT = Path(os.environ.get("CALLMOOD_DATA_ROOT") or Path(__file__).resolve().parents[2] / "shared" / "data")

TRIM_TOP_DB = 30.0                  # a clip's speech: frames within 30 dB of its loudest
TRIM_FRAME_LENGTH = 512             # 32 ms frames, 8 ms hop: tight reference boundaries
TRIM_HOP_LENGTH = 128

# Development speakers: every tuned number of the diarizer comes from calls of these only.
DEVELOPMENT_SPEAKERS: tuple[str, ...] = (
    *(f"ravdess_{i:02d}" for i in range(1, 11)),              # 5 male, 5 female
    "emodb_03", "emodb_08", "emodb_09", "emodb_10", "emodb_11",   # 3 male, 2 female
)                                                               # ... and every TurEV speaker (see development_speakers)
# Of those, the tuning speakers: left out of the speaker embedding's training so that the
# diarizer's thresholds are tuned on voices the embedding never heard, as at run time.
TUNING_SPEAKERS: tuple[str, ...] = ("ravdess_07", "ravdess_08", "ravdess_09", "ravdess_10", "emodb_10", "emodb_11")
# The rest of the development speakers: what the CAM++ embedding's within-speaker whitening is fitted
# on (`benchmarks/tune_campplus.py`), so neither its thresholds' tuning nor its figures see them.
NORMALISATION_SPEAKERS: tuple[str, ...] = tuple(s for s in DEVELOPMENT_SPEAKERS if s not in TUNING_SPEAKERS)
# Evaluation speakers: disjoint from the above, never used for tuning.
EVALUATION_SPEAKERS: tuple[str, ...] = (
    *(f"ravdess_{i:02d}" for i in range(11, 21)),             # 5 male, 5 female
    "emodb_12", "emodb_13", "emodb_14", "emodb_15", "emodb_16",   # 2 male, 3 female
)

# The CAM++ diarizer (a pretrained embedding: none of these voices trained it) tunes only its
# thresholds, on calls of `CAMPPLUS_TUNING_SPEAKERS`: the tuning speakers above plus a fixed few
# of each newer corpus (nEMO Polish, ASED Amharic, emotiontts Korean, TurEV Turkish). It is
# reported on `HELD_OUT_SPEAKERS`: the evaluation speakers above plus the rest of those corpora.
# (The cepstral diarizer's whitening was fitted on every TurEV voice: its TurEV figures flatter it.)
CAMPPLUS_TUNING_SPEAKERS: tuple[str, ...] = (
    *TUNING_SPEAKERS,
    "nemo_EB0", "nemo_KS0",                                    # 1 female, 1 male
    *(f"ased_{i:02d}" for i in range(1, 13)),                  # 6 female, 6 male
    "ektts_ema", "ektts_emb", "ektts_nea", "ektts_neb",        # sex not given
    "turev_1157", "turev_1234",                                # sex not given
)
NEWER_CORPORA = ("nemo", "ased", "ektts", "turev")


def held_out_speakers(clips_by_speaker: dict[str, list["Clip"]]) -> list[str]:
    """`EVALUATION_SPEAKERS` and every speaker of the newer corpora not in `CAMPPLUS_TUNING_SPEAKERS`."""
    newer = sorted(s for s in clips_by_speaker
                   if s.split("_")[0] in NEWER_CORPORA and s not in CAMPPLUS_TUNING_SPEAKERS)
    return list(EVALUATION_SPEAKERS) + newer


MIN_SPEECH_S_PER_SPEAKER = 60.0     # a two-minute call says ~50 s per side: less would repeat most clips


@dataclasses.dataclass(frozen=True)
class Clip:
    path: Path
    speaker: str
    sex: str
    corpus: str
    emotion: str
    duration_s: float = 0.0


@dataclasses.dataclass(frozen=True)
class SimulatedCall:
    """A mono call and its truth: one (start_s, end_s, speaker) per placed clip."""

    name: str
    samples: np.ndarray                            # float32 mono, SAMPLE_RATE_HZ
    reference: tuple[tuple[float, float, str], ...]
    speakers: tuple[str, ...]                      # in order of first appearance

    @property
    def duration_s(self) -> float:
        return self.samples.size / SAMPLE_RATE_HZ


@dataclasses.dataclass(frozen=True)
class CallPlan:
    """How calls are laid out; the defaults are the evaluation's settings."""

    duration_s: float = 60.0
    clips_per_turn: tuple[int, int] = (1, 3)          # inclusive range
    pause_in_turn_s: tuple[float, float] = (0.15, 0.4)
    pause_between_turns_s: tuple[float, float] = (0.2, 1.5)
    overlap_probability: float = 0.15
    overlap_s: tuple[float, float] = (0.2, 0.8)
    side_level_dbfs: tuple[float, float] = (-30.0, -22.0)   # speech RMS per side, in the telephone band
    clip_level_spread_db: float = 2.0
    line_noise_dbfs: tuple[float, float] = (-62.0, -50.0)
    mood_persistence: float = 0.7                           # chance a speaker's next turn keeps the emotion
    neutral_share: float = 0.5                              # chance a new mood is neutral/calm (if the corpus has it)
    snr_db: tuple[float, float] | None = None               # if set, each side's line noise this far under its
                                                            # speech level (instead of line_noise_dbfs)
    codec: str = "g711"                                     # "g711": mu-law / A-law per side; or an archive codec
                                                            # of ser_model.augment ("mp3": 16 kbit/s-like, "vorbis")


def read_manifest(data_root: Path = DEFAULT_DATA_ROOT) -> dict[str, list[Clip]]:
    """Clips per speaker from ``manifest.csv``."""
    clips: dict[str, list[Clip]] = {}
    with open(Path(data_root) / "manifest.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            clips.setdefault(row["speaker"], []).append(
                Clip(Path(data_root) / row["path"], row["speaker"], row["sex"], row["corpus"], row["emotion"],
                     float(row.get("duration_s") or 0.0)))
    return clips


def development_speakers(clips_by_speaker: dict[str, list[Clip]]) -> list[str]:
    """Development set: the fixed RAVDESS/EmoDB ids above plus every TurEV speaker."""
    return list(DEVELOPMENT_SPEAKERS) + sorted(s for s in clips_by_speaker if s.startswith("turev"))


def trimmed_speech(path: Path) -> np.ndarray:
    """A clip's samples from its first to its last frame within `TRIM_TOP_DB` of its peak."""
    samples, rate_hz = sf.read(path, dtype="float32")
    if samples.ndim > 1:
        samples = samples.mean(axis=1)
    if rate_hz != SAMPLE_RATE_HZ:
        raise ValueError(f"{path}: expected {SAMPLE_RATE_HZ} Hz, got {rate_hz}")
    _, (start, end) = librosa.effects.trim(samples, top_db=TRIM_TOP_DB, frame_length=TRIM_FRAME_LENGTH,
                                           hop_length=TRIM_HOP_LENGTH)
    return samples[start:end]


def _clips_by_emotion(clips: Sequence[Clip]) -> dict[str, list[Clip]]:
    grouped: dict[str, list[Clip]] = {}
    for clip in clips:
        grouped.setdefault(clip.emotion, []).append(clip)
    return grouped


def _draw_mood(by_mood: dict[str, list[Clip]], neutral_share: float, rng: np.random.Generator) -> str:
    """A neutral or calm mood with probability `neutral_share`, else any of the speaker's other emotions."""
    calm = sorted(e for e in by_mood if e in ("neutral", "calm"))
    other = sorted(e for e in by_mood if e not in ("neutral", "calm"))
    pool = calm if (calm and (not other or rng.random() < neutral_share)) else other
    return str(rng.choice(pool))


def _band_rms_dbfs(samples: np.ndarray) -> float:
    """RMS level within the telephone band (300-3400 Hz), where the level after the phone line is decided.

    Levels measured on the full band would put voices with strong low harmonics
    (most male voices) 5-10 dB lower than intended once the line has cut them.
    """
    band = scipy.signal.butter(4, [300.0, 3400.0], btype="bandpass", fs=SAMPLE_RATE_HZ, output="sos")
    filtered = scipy.signal.sosfiltfilt(band, samples.astype(np.float64))
    return float(10 * np.log10(np.mean(filtered ** 2) + 1e-20))


def simulate_call(name: str, speaker_clips: Sequence[Sequence[Clip]], seed: int,
                  plan: CallPlan = CallPlan()) -> SimulatedCall:
    """Lay the speakers' clips out as a call, pass each side through a phone line, mix to mono.

    Parameters
    ----------
    name : the call's name (RTTM file id).
    speaker_clips : per speaker, the clips that speaker may say. Each turn has one
        emotion (see `CallPlan.mood_persistence`); its clips are drawn without
        replacement from that emotion's clips, reused only when they run out.
    seed : makes the layout, levels and line noise reproducible.
    plan : layout settings.

    Turns go round the speakers: with two, they alternate; with three, each turn
    goes to one of the two who did not just speak. With one speaker, the "turns"
    are that speaker's sentences with the same pauses (a voicemail, a monologue).
    """
    rng = np.random.default_rng(seed)
    n_speakers = len(speaker_clips)
    n_samples = int(round(plan.duration_s * SAMPLE_RATE_HZ))
    tracks = np.zeros((n_speakers, n_samples + 10 * SAMPLE_RATE_HZ), dtype=np.float64)
    by_mood = [_clips_by_emotion(clips) for clips in speaker_clips]
    queues: list[dict[str, list[int]]] = [{} for _ in speaker_clips]
    moods: list[str | None] = [None] * n_speakers
    cache: dict[Path, np.ndarray] = {}
    levels: dict[Path, float] = {}
    reference: list[tuple[float, float, str]] = []
    side_levels = rng.uniform(*plan.side_level_dbfs, size=n_speakers)
    time_s = float(rng.uniform(0.3, 1.0))
    speaker = int(rng.integers(n_speakers))
    call_full = False
    while not call_full:
        turn_start_s, turn_end_s = time_s, time_s
        if moods[speaker] is None or rng.random() >= plan.mood_persistence:
            moods[speaker] = _draw_mood(by_mood[speaker], plan.neutral_share, rng)
        for _ in range(int(rng.integers(plan.clips_per_turn[0], plan.clips_per_turn[1] + 1))):
            if plan.mood_persistence == 0.0:
                moods[speaker] = _draw_mood(by_mood[speaker], plan.neutral_share, rng)
            mood_clips = by_mood[speaker][moods[speaker]]
            queue = queues[speaker].setdefault(moods[speaker], [])
            if not queue:
                queue.extend(rng.permutation(len(mood_clips)).tolist())
            clip = mood_clips[queue.pop()]
            if clip.path not in cache:
                cache[clip.path] = trimmed_speech(clip.path)
                levels[clip.path] = _band_rms_dbfs(cache[clip.path])
            speech = cache[clip.path]
            start = int(round(time_s * SAMPLE_RATE_HZ))
            if (start + speech.size) / SAMPLE_RATE_HZ > plan.duration_s - 0.3:
                call_full = True
                break
            gain_db = side_levels[speaker] + rng.uniform(-plan.clip_level_spread_db, plan.clip_level_spread_db) \
                - levels[clip.path]
            tracks[speaker, start: start + speech.size] += speech * 10 ** (gain_db / 20)
            turn_end_s = (start + speech.size) / SAMPLE_RATE_HZ
            reference.append((round(start / SAMPLE_RATE_HZ, 4), round(turn_end_s, 4), clip.speaker))
            time_s = turn_end_s + rng.uniform(*plan.pause_in_turn_s)
        if n_speakers > 1 and rng.random() < plan.overlap_probability:
            # the next side starts before this one is done, never before half of this turn
            time_s = max(turn_end_s - rng.uniform(*plan.overlap_s), (turn_start_s + turn_end_s) / 2)
        else:
            time_s = turn_end_s + rng.uniform(*plan.pause_between_turns_s)
        if n_speakers == 2:
            speaker = 1 - speaker
        elif n_speakers > 2:
            speaker = int(rng.choice([s for s in range(n_speakers) if s != speaker]))
    mixed = np.zeros(n_samples, dtype=np.float64)
    for side in range(n_speakers):
        noise_dbfs = float(rng.uniform(*plan.line_noise_dbfs)) if plan.snr_db is None else \
            float(side_levels[side] - rng.uniform(*plan.snr_db))
        codec = ("mulaw", "alaw")[side % 2] if plan.codec == "g711" else plan.codec
        line = telephone_channel(tracks[side, :n_samples], SAMPLE_RATE_HZ, codec=codec, noise_dbfs=noise_dbfs,
                                 rng=np.random.default_rng(seed * 7 + side))
        mixed += line
    reference.sort()
    order = list(dict.fromkeys(spk for _, _, spk in reference))
    return SimulatedCall(name=name, samples=np.clip(mixed, -1.0, 1.0).astype(np.float32),
                         reference=tuple(reference), speakers=tuple(order))


def rttm_lines(file_id: str, segments: Sequence[tuple[float, float, str]]) -> list[str]:
    """NIST RTTM SPEAKER lines (onset and duration in seconds) for (start_s, end_s, speaker) segments."""
    return [f"SPEAKER {file_id} 1 {start_s:.3f} {end_s - start_s:.3f} <NA> <NA> {speaker} <NA> <NA>"
            for start_s, end_s, speaker in sorted(segments) if end_s > start_s]


def call_set(n_calls: int, n_speakers: int, speakers: Sequence[str], clips_by_speaker: dict[str, list[Clip]],
             seed: int, plan: CallPlan = CallPlan(), prefix: str = "call", min_speech_s: float = 0.0,
             by_corpus_evenly: bool = False) -> list[SimulatedCall]:
    """`n_calls` calls of `n_speakers` speakers each, drawn from `speakers`.

    Speakers of one call come from the same corpus (a call is in one language);
    pairs are otherwise random, so same-sex and mixed-sex calls both occur.
    Speakers with under `min_speech_s` of clips in all are left out. A call's corpus is
    drawn in proportion to its speakers, or, with `by_corpus_evenly`, evenly (so a
    corpus of 45 voices does not crowd out one of 5).
    """
    rng = np.random.default_rng(seed)
    by_corpus: dict[str, list[str]] = {}
    for speaker in speakers:
        if sum(c.duration_s for c in clips_by_speaker[speaker]) >= min_speech_s:
            by_corpus.setdefault(clips_by_speaker[speaker][0].corpus, []).append(speaker)
    pools = [pool for pool in by_corpus.values() if len(pool) >= n_speakers]
    weights = np.array([1.0 if by_corpus_evenly else len(pool) for pool in pools], dtype=float)
    calls = []
    for index in range(n_calls):
        pool = pools[int(rng.choice(len(pools), p=weights / weights.sum()))]
        chosen = [str(s) for s in rng.choice(pool, size=n_speakers, replace=False)]
        calls.append(simulate_call(f"{prefix}_{n_speakers}spk_{index:02d}",
                                   [clips_by_speaker[s] for s in chosen], seed=seed * 1000 + index, plan=plan))
    return calls
