"""Build the demo contact-centre calls in ``examples/calls/`` from RAVDESS clips.

Why this exists
---------------
A newcomer's first ``callmood`` run needs recordings to process, and the end-to-end
test needs recordings whose speaker turns and emotions are known exactly. Real call
recordings cannot be shipped, so this script assembles synthetic stereo calls from
acted RAVDESS speech (the only corpus here whose licence allows sharing derived
demo audio, CC BY-NC-SA 4.0) and writes the ground truth beside them:

- each call pairs one agent actor with one customer actor, alternating turns with
  pauses and a few overlaps, and gives the customer an emotional story (escalating,
  calming down, fearful, sad, disgusted) so the per-call marts have something to show;
- every clip is trimmed of leading/trailing silence first, so the truth turn
  boundaries (``examples/calls_truth.json``) are the true speech boundaries;
- the audio goes through a telephone channel (8 kHz, 300-3400 Hz, line noise,
  per-side gain) because that is what the product sees in production;
- the files are spread over mp3, ogg vorbis, flac and mu-law wav, with sidecars that
  vary (one swapped channel map, one call without a sidecar), plus one corrupt WAV and
  one text file named ``.mp3``, so the decoder and the errors table are exercised.

The call plans are deterministic (fixed seeds): re-running gives the same turns and
the same lossless bytes; only the lossy encoders' bytes may differ between library
versions. The script checks what it wrote: every recording is decoded again and its
alignment with the planned audio measured, and the two bad files must fail to open.

Usage::

    python examples/build_demo_calls.py [--data-root ../shared/data] [--out examples/calls]
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import pathlib
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Sequence

import librosa
import numpy as np
import scipy.signal
import soundfile as sf
import soxr

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCE_RATE_HZ = 16000  # rate of the FLAC clips in the shared data folder
TELEPHONE_RATE_HZ = 8000
TELEPHONE_BAND_HZ = (300.0, 3400.0)
TRIM_TOP_DB = 30.0
TRIM_FRAME_LENGTH = 512  # 32 ms frames, 8 ms hop at 16 kHz: tight boundaries
TRIM_HOP_LENGTH = 128
BASE_SEED = 20261123
MP3_BITRATE = "16k"
OGG_COMPRESSION_LEVEL = 1.0  # libsndfile's smallest vorbis setting; speech stays intelligible at 8 kHz
MAX_TOTAL_BYTES = 3_000_000  # "3 MB" read strictly (decimal)
CALL_DURATION_RANGE_S = (60.0, 120.0)
AGENT_EMOTIONS = ("neutral", "calm", "happy")
LEVEL_SPREAD_KEPT = 0.4  # fraction of the clip-to-clip level differences (dB) a side keeps

# Customer stories: (until fraction of the call, corpus emotions allowed, intensity or None).
# A turn's emotion is drawn from the stage its start time falls in.
Arc = tuple[tuple[float, tuple[str, ...], str | None], ...]
ESCALATES: Arc = ((0.3, ("neutral", "calm"), None), (0.6, ("angry",), "normal"), (1.01, ("angry",), "strong"))
CALMS_DOWN: Arc = ((0.3, ("angry",), "strong"), (0.5, ("angry",), "normal"), (0.8, ("neutral", "calm"), None),
                   (1.01, ("happy",), "normal"))
FEARFUL: Arc = ((0.15, ("neutral",), None), (0.8, ("fear",), None), (1.01, ("calm",), None))
SAD: Arc = ((0.1, ("neutral",), None), (1.01, ("sad",), None))
DISGUSTED: Arc = ((0.25, ("neutral", "calm"), None), (1.01, ("disgust",), None))
SAD_TO_HAPPY: Arc = ((0.45, ("sad",), None), (0.75, ("neutral", "calm"), None), (1.01, ("happy",), None))


@dataclasses.dataclass(frozen=True)
class CallSpec:
    """What one demo call should be; the turns themselves are drawn from its seed."""

    file_name: str
    call_id: str
    story: str
    arc: Arc
    agent_speaker: str
    agent_id: str
    customer_speaker: str
    queue: str
    started_at: str
    target_duration_s: float
    agent_channel: int = 0
    has_sidecar: bool = True


# Agents are a small pool (same actor = same agent_id across calls) so the agent
# wellbeing views have repeat agents; every customer is a different actor.
CALL_SPECS: tuple[CallSpec, ...] = (
    CallSpec("call_0001.mp3", "CM-20261123-0001", "escalates", ESCALATES, "ravdess_08", "AG-1017",
             "ravdess_05", "billing", "2026-11-23T08:14:07+00:00", 86.0),
    CallSpec("call_0002.ogg", "CM-20261123-0002", "calms_down", CALMS_DOWN, "ravdess_11", "AG-1023",
             "ravdess_04", "tech_support", "2026-11-23T09:32:45+00:00", 84.0),
    CallSpec("call_0003.flac", "CM-20261123-0003", "fearful", FEARFUL, "ravdess_14", "AG-1042",
             "ravdess_10", "fraud", "2026-11-23T10:47:19+00:00", 58.0),
    CallSpec("call_0004.mp3", "CM-20261123-0004", "sad", SAD, "ravdess_17", "AG-1058",
             "ravdess_13", "cancellations", "2026-11-23T12:05:52+00:00", 78.0),
    CallSpec("call_0005.ogg", "CM-20261123-0005", "disgusted", DISGUSTED, "ravdess_08", "AG-1017",
             "ravdess_09", "complaints", "2026-11-23T14:21:33-05:00", 84.0),
    CallSpec("call_0006.mp3", "CM-20261123-0006", "calms_down", CALMS_DOWN, "ravdess_11", "AG-1023",
             "ravdess_16", "billing", "2026-11-23T16:58:02Z", 92.0, agent_channel=1),
    CallSpec("call_0007.wav", "CM-20261123-0007", "escalates", ESCALATES, "ravdess_14", "AG-1042",
             "ravdess_01", "tech_support", "2026-11-23T22:41:26+00:00", 58.0),
    CallSpec("rec_20261123_193012_ext4471.mp3", "", "calms_down", SAD_TO_HAPPY, "ravdess_17", "AG-1058",
             "ravdess_06", "cancellations", "2026-11-23T19:30:12+00:00", 76.0, has_sidecar=False),
)
CORRUPT_WAV = "call_corrupt.wav"
NOT_AUDIO_MP3 = "voicemail_broken.mp3"


@dataclasses.dataclass(frozen=True)
class Clip:
    """One RAVDESS clip, trimmed of its leading and trailing silence."""

    path: str
    samples: np.ndarray  # float32 mono at SOURCE_RATE_HZ


@dataclasses.dataclass(frozen=True)
class PlacedTurn:
    """One planned turn: which clips, where on the timeline (in source samples)."""

    speaker: str
    corpus_emotion: str
    intensity: str | None
    clip_paths: tuple[str, ...]
    clip_starts: tuple[int, ...]  # sample offsets of each clip on the call timeline
    clip_lengths: tuple[int, ...]

    @property
    def start_sample(self) -> int:
        return self.clip_starts[0]

    @property
    def end_sample(self) -> int:
        return self.clip_starts[-1] + self.clip_lengths[-1]


def read_ravdess_manifest(manifest_path: pathlib.Path) -> dict[tuple[str, str, str], list[str]]:
    """Index RAVDESS clip paths by (speaker, corpus emotion, intensity), sorted for determinism."""
    index: dict[tuple[str, str, str], list[str]] = {}
    with manifest_path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["corpus"] != "ravdess":
                continue
            key = (row["speaker"], row["emotion"], row["intensity"])
            index.setdefault(key, []).append(row["path"])
    return {key: sorted(paths) for key, paths in index.items()}


def label6(corpus_emotion: str) -> str:
    """The product's six-class label: calm counts as neutral (as in the manifest)."""
    return "neutral" if corpus_emotion == "calm" else corpus_emotion


def load_trimmed_clip(data_root: pathlib.Path, rel_path: str) -> Clip:
    """Read a clip and cut its leading/trailing silence, so turn boundaries are speech boundaries.

    The silence is found on the telephone band (300-3400 Hz) of the clip: some quiet
    RAVDESS clips carry low-frequency room rumble within 30 dB of their speech peak,
    which a full-band trim keeps as "speech" for up to a second, although the phone
    line removes it.
    """
    samples, rate_hz = sf.read(data_root / rel_path, dtype="float32", always_2d=True)
    mono = samples.mean(axis=1)
    if rate_hz != SOURCE_RATE_HZ:
        mono = soxr.resample(mono, rate_hz, SOURCE_RATE_HZ, quality="HQ").astype(np.float32)
    band = scipy.signal.butter(4, TELEPHONE_BAND_HZ, btype="bandpass", fs=SOURCE_RATE_HZ, output="sos")
    _, (start, end) = librosa.effects.trim(scipy.signal.sosfiltfilt(band, mono), top_db=TRIM_TOP_DB,
                                           frame_length=TRIM_FRAME_LENGTH, hop_length=TRIM_HOP_LENGTH)
    return Clip(rel_path, mono[start:end].copy())


class ClipPool:
    """Deals clips of one actor without repeats until the pool is used up, then reshuffles.

    RAVDESS has only 4-8 clips per actor and emotion, so a 90 s call must reuse some;
    dealing from a shuffled deck spreads the reuse evenly.
    """

    def __init__(self, index: dict[tuple[str, str, str], list[str]], data_root: pathlib.Path,
                 rng: np.random.Generator) -> None:
        self._index = index
        self._data_root = data_root
        self._rng = rng
        self._decks: dict[tuple[str, str, str | None], list[str]] = {}
        self._clips: dict[str, Clip] = {}

    def _paths(self, speaker: str, emotion: str, intensity: str | None) -> list[str]:
        intensities = (intensity,) if intensity else ("normal", "strong")
        paths = [p for level in intensities for p in self._index.get((speaker, emotion, level), [])]
        if not paths:
            raise ValueError(f"no RAVDESS clips for {speaker} {emotion} {intensity}")
        return paths

    def deal(self, speaker: str, emotion: str, intensity: str | None, count: int) -> list[Clip]:
        key = (speaker, emotion, intensity)
        dealt: list[Clip] = []
        while len(dealt) < count:
            deck = self._decks.get(key)
            if not deck:
                deck = list(self._rng.permutation(self._paths(speaker, emotion, intensity)))
                self._decks[key] = deck
            path = str(deck.pop())
            if any(clip.path == path for clip in dealt):  # never the same clip twice in one turn
                continue
            if path not in self._clips:
                self._clips[path] = load_trimmed_clip(self._data_root, path)
            dealt.append(self._clips[path])
        return dealt

    def clip(self, path: str) -> Clip:
        return self._clips[path]


def customer_stage(arc: Arc, position: float) -> tuple[tuple[str, ...], str | None]:
    """The allowed emotions and intensity for a customer turn starting at `position` (0-1) of the call."""
    for until, emotions, intensity in arc:
        if position < until:
            return emotions, intensity
    return arc[-1][1], arc[-1][2]


def plan_call(spec: CallSpec, pool: ClipPool, rng: np.random.Generator) -> tuple[list[PlacedTurn], int]:
    """Lay out alternating agent/customer turns until the target length; return turns and call length.

    The agent opens the call and closes it with the first agent turn that starts within
    5 s of the target length. Between turns there is a pause of 0.2-1.5 s,
    or (about one turn in five) the next speaker starts 0.3-0.8 s before the current
    turn ends. Clips inside a turn are separated by 0.05-0.2 s, shorter than any pause.
    """
    rate = SOURCE_RATE_HZ
    target = int(spec.target_duration_s * rate)
    cursor = int(rng.uniform(0.4, 1.0) * rate)
    turns: list[PlacedTurn] = []
    speaker = "agent"
    while True:
        position = cursor / target
        closing = speaker == "agent" and cursor >= target - 5 * rate
        if speaker == "agent":
            if not turns or closing:
                emotion, intensity = str(rng.choice(["happy", "calm"])), "normal"
            else:
                emotion = str(rng.choice(AGENT_EMOTIONS, p=[0.45, 0.45, 0.10]))
                intensity = "normal"
            actor = spec.agent_speaker
        else:
            emotions, intensity = customer_stage(spec.arc, position)
            emotion = str(rng.choice(emotions))
            actor = spec.customer_speaker
        count = int(rng.integers(1, 3)) if (closing or not turns) else int(rng.integers(1, 4))
        clips = pool.deal(actor, emotion, intensity, count)
        starts, at = [], cursor
        for clip in clips:
            starts.append(at)
            at += clip.samples.size + int(rng.uniform(0.05, 0.2) * rate)
        turn = PlacedTurn(speaker, emotion, intensity, tuple(c.path for c in clips), tuple(starts),
                          tuple(c.samples.size for c in clips))
        turns.append(turn)
        if closing:
            break
        duration = turn.end_sample - turn.start_sample
        overlap = int(rng.uniform(0.3, 0.8) * rate)
        if len(turns) >= 3 and duration > overlap + rate and rng.random() < 0.2:
            cursor = turn.end_sample - overlap
        else:
            cursor = turn.end_sample + int(rng.uniform(0.2, 1.5) * rate)
        speaker = "customer" if speaker == "agent" else "agent"
    total = turns[-1].end_sample + int(rng.uniform(0.5, 1.2) * rate)
    overlaps = sum(b.start_sample < a.end_sample for a, b in zip(turns, turns[1:]))
    if overlaps == 0:
        raise ValueError(f"{spec.file_name}: no overlapping turns; change its target_duration_s")
    low_s, high_s = CALL_DURATION_RANGE_S
    if not low_s <= total / rate <= high_s:
        raise ValueError(f"{spec.file_name}: planned {total / rate:.1f} s, outside {low_s}-{high_s} s; "
                         "adjust its target_duration_s")
    return turns, total


def clip_level_dbfs(samples: np.ndarray) -> float:
    """RMS level of a trimmed clip (all speech), in dB relative to full scale."""
    return float(10 * np.log10(np.mean(samples.astype(np.float64) ** 2) + 1e-20))


def render_side(turns: Sequence[PlacedTurn], pool: ClipPool, speaker: str, total_samples: int) -> np.ndarray:
    """One side's clean audio at the source rate: its clips at their places, their level spread narrowed.

    RAVDESS levels differ by ~25 dB between a calm and a strong angry clip of one
    actor; a phone line's automatic gain control evens that out, and without it the
    quiet turns would sink into the line noise. Each clip keeps LEVEL_SPREAD_KEPT of
    its distance (in dB) from the side's median clip level, so angry still sounds louder.
    """
    placed = [(pool.clip(path).samples, start) for turn in turns if turn.speaker == speaker
              for path, start in zip(turn.clip_paths, turn.clip_starts)]
    levels = [clip_level_dbfs(samples) for samples, _ in placed]
    median_dbfs = float(np.median(levels))
    side = np.zeros(total_samples, dtype=np.float64)
    for (samples, start), level in zip(placed, levels):
        gain_db = (1.0 - LEVEL_SPREAD_KEPT) * (median_dbfs - level)
        side[start:start + samples.size] += samples * 10 ** (gain_db / 20.0)
    return side


def level_side(side: np.ndarray, mask: np.ndarray, speech_level_dbfs: float, peak_limit: float = 0.9) -> np.ndarray:
    """Scale a side so its speech RMS is `speech_level_dbfs`, backing off if a peak would pass `peak_limit`.

    RAVDESS is recorded quietly (speech around -35 dBFS); call recordings sit nearer
    -20 to -30 dBFS with a different level per side (headset vs handset).
    """
    speech_rms = float(np.sqrt(np.mean(side[mask[:side.size]] ** 2)))
    scaled = side * (10 ** (speech_level_dbfs / 20.0) / speech_rms)
    peak = float(np.max(np.abs(scaled)))
    return scaled * (peak_limit / peak) if peak > peak_limit else scaled


def speech_mask(turns: Sequence[PlacedTurn], speaker: str, total_samples: int, rate_hz: int) -> np.ndarray:
    """Boolean mask of one side's speech at `rate_hz`, from the clip placements."""
    mask = np.zeros(total_samples * rate_hz // SOURCE_RATE_HZ + 1, dtype=bool)
    for turn in turns:
        if turn.speaker == speaker:
            for start, length in zip(turn.clip_starts, turn.clip_lengths):
                mask[start * rate_hz // SOURCE_RATE_HZ:(start + length) * rate_hz // SOURCE_RATE_HZ] = True
    return mask


def telephone_side(side: np.ndarray, mask_8k: np.ndarray, noise_below_speech_db: float,
                   rng: np.random.Generator) -> np.ndarray:
    """Narrow-band one side like a phone line: 8 kHz, 300-3400 Hz, hiss `noise_below_speech_db` under speech.

    A zero-phase filter (sosfiltfilt) keeps the speech where the truth says it is.
    """
    narrow = soxr.resample(side, SOURCE_RATE_HZ, TELEPHONE_RATE_HZ, quality="HQ")
    band = scipy.signal.butter(4, TELEPHONE_BAND_HZ, btype="bandpass", fs=TELEPHONE_RATE_HZ, output="sos")
    speech = scipy.signal.sosfiltfilt(band, narrow)
    mask = mask_8k[:speech.size]
    speech_rms = float(np.sqrt(np.mean(speech[mask] ** 2)))
    noise = scipy.signal.sosfiltfilt(band, rng.normal(0.0, 1.0, speech.size))
    noise *= speech_rms * 10 ** (-noise_below_speech_db / 20.0) / float(np.sqrt(np.mean(noise ** 2)))
    return speech + noise


def write_audio(path: pathlib.Path, stereo: np.ndarray, rate_hz: int) -> None:
    """Write by extension: mp3 via ffmpeg/LAME, the rest via soundfile.

    libsndfile's own MP3 writer loses the encoder-delay (gapless) tag below 24 kbit/s,
    which shifts every decoded sample by ~138 ms; ffmpeg's LAME output keeps it, so
    soundfile, ffmpeg and librosa all decode it sample-aligned.
    """
    suffix = path.suffix.lower()
    if suffix == ".mp3":
        with tempfile.TemporaryDirectory() as tmp:
            wav = pathlib.Path(tmp) / "in.wav"
            sf.write(wav, stereo, rate_hz, subtype="PCM_16")
            subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-map_metadata", "-1",
                            "-fflags", "+bitexact", "-flags:a", "+bitexact", "-c:a", "libmp3lame",
                            "-b:a", MP3_BITRATE, str(path)], check=True)
    elif suffix == ".ogg":
        sf.write(path, stereo, rate_hz, format="OGG", subtype="VORBIS", compression_level=OGG_COMPRESSION_LEVEL)
    elif suffix == ".flac":
        sf.write(path, stereo, rate_hz, format="FLAC", subtype="PCM_16", compression_level=1.0)
    elif suffix == ".wav":
        sf.write(path, stereo, rate_hz, format="WAV", subtype="ULAW")  # G.711 mu-law, as a PBX exports
    else:
        raise ValueError(f"no writer for {path.name}")


def alignment_lag_samples(reference: np.ndarray, decoded: np.ndarray, max_lag: int = 400) -> int:
    """Lag (samples) that best aligns `decoded` with `reference`; 0 means the truth times hold."""
    n = min(reference.size, decoded.size)
    corr = scipy.signal.correlate(decoded[:n], reference[:n], mode="full", method="fft")
    centre = n - 1
    window = corr[centre - max_lag:centre + max_lag + 1]
    return int(np.argmax(window)) - max_lag


def turn_truth(turn: PlacedTurn, index: int, channel: int) -> dict:
    """The truth record of one turn, in seconds on the call timeline."""
    return {
        "turn_index": index,
        "speaker": turn.speaker,
        "channel": channel,
        "start_s": round(turn.start_sample / SOURCE_RATE_HZ, 3),
        "end_s": round(turn.end_sample / SOURCE_RATE_HZ, 3),
        "emotion": label6(turn.corpus_emotion),
        "corpus_emotion": turn.corpus_emotion,
        "ravdess_clips": list(turn.clip_paths),
    }


def build_call(spec: CallSpec, seed: int, index: dict, data_root: pathlib.Path,
               out_dir: pathlib.Path) -> dict:
    """Plan, render, encode and verify one call; return its truth record."""
    rng = np.random.default_rng(seed)
    pool = ClipPool(index, data_root, rng)
    turns, total = plan_call(spec, pool, rng)
    # headset agents are louder and steadier than customers on handsets and mobiles
    levels_dbfs = {"agent": float(rng.uniform(-28.0, -22.0)), "customer": float(rng.uniform(-34.0, -25.0))}
    noise_db = {side: float(rng.uniform(35.0, 45.0)) for side in ("agent", "customer")}
    channels = {spec.agent_channel: "agent", 1 - spec.agent_channel: "customer"}
    sides = []
    for channel in (0, 1):
        role = channels[channel]
        clean = level_side(render_side(turns, pool, role, total),
                           speech_mask(turns, role, total, SOURCE_RATE_HZ), levels_dbfs[role])
        mask = speech_mask(turns, role, total, TELEPHONE_RATE_HZ)
        sides.append(telephone_side(clean, mask, noise_db[role], rng))
    stereo = np.stack(sides, axis=1)
    peak = float(np.max(np.abs(stereo)))
    if peak > 0.85:  # headroom: lossy decoders overshoot the encoded peak by up to ~1 dB
        stereo *= 0.85 / peak
    path = out_dir / spec.file_name
    write_audio(path, stereo.astype(np.float32), TELEPHONE_RATE_HZ)

    decoded, rate_hz = sf.read(path, dtype="float64", always_2d=True)
    if rate_hz != TELEPHONE_RATE_HZ or decoded.shape[1] != 2:
        raise RuntimeError(f"{path.name}: decoded as {rate_hz} Hz x {decoded.shape[1]} channels")
    lags = [alignment_lag_samples(stereo[:, ch], decoded[:, ch]) for ch in (0, 1)]
    if max(abs(lag) for lag in lags) > 2:
        raise RuntimeError(f"{path.name}: decoded audio is shifted by {lags} samples against the plan")

    channel_map = {str(ch): channels[ch] for ch in (0, 1)}
    call_id = spec.call_id if spec.has_sidecar else path.stem
    sidecar = {"call_id": call_id, "agent_id": spec.agent_id, "queue": spec.queue,
               "started_at": spec.started_at, "channels": channel_map}
    sidecar_path = path.with_suffix(".json")
    if spec.has_sidecar:
        sidecar_path.write_text(json.dumps(sidecar, indent=2) + "\n")
    elif sidecar_path.exists():
        sidecar_path.unlink()
    role_channel = {role: ch for ch, role in channels.items()}
    ordered = sorted(turns, key=lambda t: t.start_sample)
    return {
        "call_id": call_id,
        "has_sidecar": spec.has_sidecar,
        "agent_id": spec.agent_id if spec.has_sidecar else None,
        "queue": spec.queue if spec.has_sidecar else None,
        "started_at": spec.started_at if spec.has_sidecar else None,
        "channels": channel_map,
        "duration_s": round(total / SOURCE_RATE_HZ, 3),
        "sample_rate_hz": TELEPHONE_RATE_HZ,
        "format": path.suffix.lstrip("."),
        "story": spec.story,
        "ravdess_speakers": {"agent": spec.agent_speaker, "customer": spec.customer_speaker},
        "target_speech_level_dbfs": {k: round(v, 2) for k, v in levels_dbfs.items()},
        "noise_below_speech_db": {k: round(v, 2) for k, v in noise_db.items()},
        "decoded_lag_samples": lags,
        "turns": [turn_truth(t, i, role_channel[t.speaker]) for i, t in enumerate(ordered)],
    }


def corrupt_wav_bytes(rng: np.random.Generator) -> bytes:
    """A WAV whose RIFF/WAVE header starts correctly, then the fmt chunk and everything after is garbage.

    A header-intact WAV with truncated data still decodes (to a few samples) in
    libsndfile and librosa, so it would not reach the errors table; overwriting the
    fmt body makes soundfile, librosa/audioread and ffmpeg all refuse the file, as a
    recorder crash mid-write or disk corruption does.
    """
    data_bytes = 60 * TELEPHONE_RATE_HZ * 2 * 2
    header = b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE" + b"fmt " + struct.pack("<I", 16)
    return header + rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()


NOT_AUDIO_TEXT = (
    "Voicemail export failed\n"
    "mailbox: 4471\n"
    "reason: quota exceeded; the PBX wrote this notice instead of the recording\n"
)


def check_unreadable(path: pathlib.Path) -> None:
    """The bad files are only useful if a decoder really refuses them."""
    try:
        sf.info(path)
    except sf.LibsndfileError:
        pass
    else:
        raise RuntimeError(f"{path.name} opened as audio; it is meant to be unreadable")
    if shutil.which("ffmpeg"):
        result = subprocess.run(["ffmpeg", "-loglevel", "quiet", "-i", str(path), "-f", "null", "-"],
                                capture_output=True)
        if result.returncode == 0:
            raise RuntimeError(f"ffmpeg decoded {path.name}; it is meant to be unreadable")


NOTICE = """\
# Demo calls: source and licence

The recordings in this folder are synthetic contact-centre calls made by
`examples/build_demo_calls.py` from the speech part of RAVDESS:

> Livingstone SR, Russo FA (2018) The Ryerson Audio-Visual Database of Emotional
> Speech and Song (RAVDESS): A dynamic, multimodal set of facial and vocal
> expressions in North American English. PLoS ONE 13(5): e0196391.
> https://doi.org/10.1371/journal.pone.0196391 ;
> data: Zenodo, https://doi.org/10.5281/zenodo.1188976

RAVDESS is licensed under Creative Commons Attribution-NonCommercial-ShareAlike 4.0
International (CC BY-NC-SA 4.0, https://creativecommons.org/licenses/by-nc-sa/4.0/).
These derived recordings are shared under the same licence: **non-commercial use
only**, with attribution, and any adaptation must be shared alike. They are not
covered by the licence of the callmood code.

## What was changed

- The clips (converted to 16 kHz mono) had their leading and trailing silence
  trimmed (librosa.effects.trim, 30 dB below the peak of the 300-3400 Hz band).
- One to three clips of the same actor and emotion were concatenated into a turn,
  and the turns of two actors (an "agent" and a "customer") were laid out as a
  conversation with pauses and a few overlaps; many clips are used more than once.
- The level differences between clips of one side were narrowed (as a line's
  automatic gain control does); each side was then scaled to its own speech level
  (per-side gain), passed through a telephone channel
  (resampled to 8 kHz, band-passed 300-3400 Hz, white line noise added 35-45 dB
  below speech) and mixed into a stereo file, one side per channel.
- The files were encoded as MP3, Ogg Vorbis, FLAC or mu-law WAV.

The call identifiers, agent identifiers, queues and times in the sidecar JSON files
are invented. The speakers are actors reading two fixed sentences; the emotions are
acted. `call_corrupt.wav` and `voicemail_broken.mp3` contain no audio on purpose:
they test that unreadable recordings are reported, not skipped.
The true turns and emotions are in `examples/calls_truth.json`.
"""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=pathlib.Path, default=REPO_ROOT.parent / "shared" / "data",
                        help="folder holding manifest.csv and the ravdess/ clips (default: ../shared/data)")
    parser.add_argument("--out", type=pathlib.Path, default=REPO_ROOT / "examples" / "calls",
                        help="folder for the recordings and sidecars (default: examples/calls)")
    parser.add_argument("--truth", type=pathlib.Path, default=REPO_ROOT / "examples" / "calls_truth.json",
                        help="where to write the ground truth (keep it outside --out)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    out_dir: pathlib.Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    index = read_ravdess_manifest(args.data_root / "manifest.csv")

    recordings = {}
    for number, spec in enumerate(CALL_SPECS):
        recordings[spec.file_name] = build_call(spec, BASE_SEED + number, index, args.data_root, out_dir)
        rec = recordings[spec.file_name]
        print(f"{spec.file_name:36s} {rec['duration_s']:6.1f} s  {len(rec['turns']):2d} turns  "
              f"{(out_dir / spec.file_name).stat().st_size / 1024:6.0f} KiB  lag {rec['decoded_lag_samples']}")

    corrupt = out_dir / CORRUPT_WAV
    corrupt.write_bytes(corrupt_wav_bytes(np.random.default_rng(BASE_SEED - 1)))
    not_audio = out_dir / NOT_AUDIO_MP3
    not_audio.write_text(NOT_AUDIO_TEXT)
    for bad in (corrupt, not_audio):
        check_unreadable(bad)
    (out_dir / "NOTICE.md").write_text(NOTICE)

    truth = {
        "description": "Ground truth for examples/calls, written by examples/build_demo_calls.py. "
                       "Times are seconds from the start of the recording; start_s/end_s are the "
                       "speech boundaries of the trimmed RAVDESS clips; emotion is the six-class label.",
        "recordings": recordings,
        "expected_errors": {
            CORRUPT_WAV: "RIFF/WAVE header followed by garbage: no decoder can open it",
            NOT_AUDIO_MP3: "a text file with an .mp3 extension",
        },
    }
    args.truth.write_text(json.dumps(truth, indent=1) + "\n")

    total_bytes = sum(p.stat().st_size for p in out_dir.iterdir() if p.is_file())
    print(f"{out_dir}: {total_bytes} bytes ({total_bytes / 1024 / 1024:.2f} MiB) in "
          f"{sum(1 for p in out_dir.iterdir() if p.is_file())} files")
    if total_bytes > MAX_TOTAL_BYTES:
        raise SystemExit(f"{out_dir} is {total_bytes} bytes, over the {MAX_TOTAL_BYTES} byte budget")


if __name__ == "__main__":
    main()
