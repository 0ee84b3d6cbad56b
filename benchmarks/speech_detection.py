"""Speech detection on simulated phone calls: turns of held-out voices, and non-speech that must not be turns.

What it measures
----------------
Stereo calls are laid out from real corpus clips (two voices of one corpus, one per
channel, alternating turns of 1-3 clips with 0.15-0.4 s pauses inside a turn and
0.2-1.5 s between turns, now and then overlapping), each clip trimmed of its
leading and trailing silence so its span is reference speech. Each side then goes
down a phone line built here: 8 kHz, 300-3400 Hz band, line noise of one kind at a
given SNR below the speech, a codec, and back up to 16 kHz if the grid says so.

Grid (full factorial, one call per cell; `--quick` keeps every 5th cell):

* SNR 10, 15, 20, 30, 40 dB: speech RMS (over the clips) over noise RMS, both at 8 kHz after the band-pass;
* speech level -50, -40, -30, -20, -10 dBFS (each clip within +-2 dB of it);
* noise: white, pink (1/f), hum (50 or 60 Hz and 19 harmonics, 1/k, plus broadband
  hiss 20 dB under it), babble (six streams of distant voices of speakers used
  nowhere else: ASED 01-10);
* codec: PCM, G.711 mu-law, G.711 A-law, MP3 (libsndfile's LAME at 8 kHz, ~16 kbit/s, with the
  archive low-pass of `ser_model.augment`);
* rate: 8 and 16 kHz.

Non-speech recordings (both channels, every codec and rate, signal levels -40, -25
and -10 dBFS over -60 dBFS line noise): synthesised music on hold (chords, bass and
melody with harmonics, a kick and hi-hat beat), DTMF digit strings, ringback
(440+480 Hz, 2 s on, 4 s off), busy (480+620 Hz, 0.5/0.5), dial tone (350+440 Hz),
fax and modem (CNG 1100 Hz 0.5 s every 3.5 s, CED 2100 Hz, V.21 FSK 1650/1850 Hz, then
broadband modem hiss), and noise-only lines of the four noise kinds.

Reference speech is, by default, each placed clip's whole span (trimmed of leading
and trailing silence), and reference turns are a side's clips merged across gaps
under 0.5 s, the job's own `min_gap_s`: one clip is one utterance, and an utterance
cut in two by the detector counts as a miss. `--reference speech` takes each clean
clip's own activity instead: its 20 ms frames (8 kHz, telephone band, before the
line) within 30 dB of its loudest, gaps up to 0.2 s bridged, and turns merged the
same way. Under it a pause of 0.5 s or more inside a sentence separates two
reference turns, and breaths and tails count as non-speech; it is the better
reference for missed speech, the clip spans are the better one for turns. Neither
is the truth: a breath 35 dB under the peak is audible at 40 dB SNR.

Printed: per SNR, noise kind, codec, level and rate, turn recall (a reference turn
is found when a detected turn of its channel has IoU >= 0.5 with it), median
|start| and |end| error of the found turns, missed speech (share of reference
speech frames the VAD calls non-speech), unturned speech (share of reference
speech frames inside no detected turn: never scored; a turn spans its own short
pauses, so this can be lower than missed speech) and false-alarm speech in the calls'
pauses; per non-speech kind, the share of the audio that ends up inside turns
(and as seconds per hour).

Held-out voices (`EVALUATION`): RAVDESS 11-20, EmoDB 12-16 (the diarization
benchmark's evaluation speakers), nEMO SM0/TP0/WR0, ASED the last ten sorted ids (48-65),
emotiontts the last four (nee, nek, nel, nem), TurEV 6783/7895. Every other speaker (except the babble voices) is
development: `--speakers development` runs the same grid on them, the only set any
detector setting was tuned on. Signals synthesised for tuning use other seeds
(`--seed`).

    python benchmarks/speech_detection.py [--quick] [--speakers evaluation|development]
        [--data-root ../shared/data] [--turns-file path/to/turns.py]

`--turns-file` loads another version of `beam_pipeline/segment/turns.py` (say the one before
a change, `git show REV:beam_pipeline/segment/turns.py > /tmp/turns_old.py`) to compare.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import itertools
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import scipy.signal  # noqa: E402
import soxr  # noqa: E402

from benchmarks.simulated_calls import DEFAULT_DATA_ROOT, read_manifest, trimmed_speech  # noqa: E402
from ser_model.augment import _a_law, _archive_codec, _mu_law  # noqa: E402

TELEPHONE_HZ = 8000
SNRS_DB = (10, 15, 20, 30, 40)
LEVELS_DBFS = (-50, -40, -30, -20, -10)
NOISES = ("white", "pink", "hum", "babble")
CODECS = ("pcm", "mulaw", "alaw", "mp3")
RATES_HZ = (8000, 16000)
NON_SPEECH = ("music", "dtmf", "ringback", "busy", "dial", "fax")
NON_SPEECH_LEVELS_DBFS = (-40, -25, -10)
CALL_S = 24.0
IOU = 0.5
FRAME_S = 0.02

BABBLE_SPEAKERS = tuple(f"ased_{i:02d}" for i in range(1, 11))


def evaluation_speakers(speakers: list[str]) -> list[str]:
    ased = sorted(s for s in speakers if s.startswith("ased"))[-10:]
    ektts = sorted(s for s in speakers if s.startswith("ektts"))[-4:]
    return [*(f"ravdess_{i:02d}" for i in range(11, 21)), *(f"emodb_{i:02d}" for i in range(12, 17)),
            "nemo_SM0", "nemo_TP0", "nemo_WR0", *ased, *ektts, "turev_6783", "turev_7895"]


def development_speakers(speakers: list[str]) -> list[str]:
    held = set(evaluation_speakers(speakers)) | set(BABBLE_SPEAKERS)
    return sorted(s for s in speakers if s not in held)


# --------------------------------------------------------------------------- signals

def rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(x, dtype=np.float64) ** 2) + 1e-20))


_BAND = scipy.signal.butter(6, [300.0, 3400.0], btype="bandpass", fs=TELEPHONE_HZ, output="sos")


def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / TELEPHONE_HZ)
    spectrum /= np.sqrt(np.maximum(f, 20.0))
    return np.fft.irfft(spectrum, n)


def hum(n: int, rng: np.random.Generator) -> np.ndarray:
    f0 = float(rng.choice([50.0, 60.0]))
    t = np.arange(n) / TELEPHONE_HZ
    out = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6.3)) / k for k in range(1, 21))
    out = out / np.sqrt(np.mean(out ** 2))
    return out + 0.1 * rng.standard_normal(n)


class Babble:
    """Six streams of back-to-back clips of the babble voices, summed: distant voices on the line."""

    def __init__(self, clips_by_speaker, rng: np.random.Generator, seconds: float = 180.0):
        pool = [c for s in BABBLE_SPEAKERS for c in clips_by_speaker.get(s, [])]
        n = int(seconds * TELEPHONE_HZ)
        self.signal = np.zeros(n)
        for _ in range(6):
            stream, filled = np.zeros(n), 0
            while filled < n:
                clip = pool[int(rng.integers(len(pool)))]
                x = soxr.resample(trimmed_speech(clip.path).astype(np.float64), 16000, TELEPHONE_HZ)
                x = x / (np.sqrt(np.mean(x ** 2)) + 1e-9) * 10 ** (rng.uniform(-3, 3) / 20)
                m = min(x.size, n - filled)
                stream[filled: filled + m] = x[:m]
                filled += m
            self.signal += stream
        self.rng = rng

    def take(self, n: int) -> np.ndarray:
        start = int(self.rng.integers(self.signal.size - n))
        return self.signal[start: start + n]


def noise_of(kind: str, n: int, rng: np.random.Generator, babble: Babble | None) -> np.ndarray:
    if kind == "white":
        x = rng.standard_normal(n)
    elif kind == "pink":
        x = pink(n, rng)
    elif kind == "hum":
        x = hum(n, rng)
    elif kind == "babble":
        x = babble.take(n)
    else:
        raise ValueError(kind)
    return x / np.sqrt(np.mean(x ** 2))


def codec_of(x: np.ndarray, codec: str) -> np.ndarray:
    x = np.clip(x, -1.0, 1.0)
    if codec == "mulaw":
        return _mu_law(x)
    if codec == "alaw":
        return _a_law(x)
    if codec == "mp3":
        return _archive_codec(x, TELEPHONE_HZ, "mp3")
    return x


def line(narrow_speech: np.ndarray, noise: np.ndarray, codec: str, rate_hz: int) -> np.ndarray:
    """8 kHz band-limited speech (already at its level) plus line noise, through the codec, at `rate_hz`."""
    out = codec_of(narrow_speech + noise, codec)
    if rate_hz != TELEPHONE_HZ:
        out = soxr.resample(out, TELEPHONE_HZ, rate_hz, quality="HQ")
    return out.astype(np.float32)


# --------------------------------------------------------------------------- calls

@dataclasses.dataclass
class Call:
    samples: np.ndarray                 # (2, n) float32
    rate_hz: int
    turns: list[list[tuple[float, float]]]     # per channel, reference turns (clips < 0.5 s apart merged)
    speech: list[list[tuple[float, float]]]    # per channel, clip spans
    condition: dict


REFERENCE = "clips"      # or "speech": see `--reference`
ACTIVITY_TOP_DB = 30.0   # a clip's speech frames: within this of its loudest 20 ms frame (as its trim) ...
ACTIVITY_BRIDGE_S = 0.2  # ... with gaps up to this long (syllable gaps, stop closures) counted as speech


class ClipCache:
    def __init__(self):
        self.narrow: dict[Path, np.ndarray] = {}
        self._activity: dict[int, list[tuple[float, float]]] = {}

    def activity(self, x: np.ndarray) -> list[tuple[float, float]]:
        """Speech spans of a clean clip (seconds from its start): the reference the VAD is scored against."""
        key = id(x)
        if key not in self._activity:
            n = x.size // 160
            level = 10 * np.log10(np.mean(x[: n * 160].reshape(n, 160) ** 2, axis=1) + 1e-20)
            active = level > level.max() - ACTIVITY_TOP_DB
            edges = np.diff(np.concatenate(([0], active.astype(np.int8), [0])))
            runs = merge([(a * FRAME_S, b * FRAME_S) for a, b in zip(np.flatnonzero(edges == 1),
                                                                  np.flatnonzero(edges == -1))], ACTIVITY_BRIDGE_S)
            self._activity[key] = runs
        return self._activity[key]

    def get(self, clip) -> np.ndarray:
        """Trimmed clip at 8 kHz in the telephone band, scaled to 0 dB RMS."""
        if clip.path not in self.narrow:
            x = soxr.resample(trimmed_speech(clip.path).astype(np.float64), 16000, TELEPHONE_HZ, quality="HQ")
            x = scipy.signal.sosfilt(_BAND, x)
            self.narrow[clip.path] = x / (np.sqrt(np.mean(x ** 2)) + 1e-12)
        return self.narrow[clip.path]


def merge(spans: list[tuple[float, float]], gap_s: float = 0.5) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for start, end in sorted(spans):
        if out and start - out[-1][1] < gap_s:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(a, b) for a, b in out]


def speech_call(pair, clips_by_speaker, cache: ClipCache, condition: dict, babble: Babble,
                rng: np.random.Generator) -> Call:
    n = int(CALL_S * TELEPHONE_HZ)
    tracks = np.zeros((2, n))
    spans: list[list[tuple[float, float]]] = [[], []]
    t_s, side = float(rng.uniform(0.3, 1.0)), int(rng.integers(2))
    full = False
    while not full:
        turn_start, turn_end = t_s, t_s
        for _ in range(int(rng.integers(1, 4))):
            clips = clips_by_speaker[pair[side]]
            x = cache.get(clips[int(rng.integers(len(clips)))])
            start = int(round(t_s * TELEPHONE_HZ))
            if start + x.size > n - int(0.3 * TELEPHONE_HZ):
                full = True
                break
            level = condition["level"] + rng.uniform(-2, 2)
            tracks[side, start: start + x.size] += x * 10 ** (level / 20)
            turn_end = (start + x.size) / TELEPHONE_HZ
            if REFERENCE == "clips":
                spans[side].append((start / TELEPHONE_HZ, turn_end))
            else:
                spans[side].extend((start / TELEPHONE_HZ + a, start / TELEPHONE_HZ + b) for a, b in cache.activity(x))
            t_s = turn_end + rng.uniform(0.15, 0.4)
        if rng.random() < 0.15:
            t_s = max(turn_end - rng.uniform(0.2, 0.8), (turn_start + turn_end) / 2)
        else:
            t_s = turn_end + rng.uniform(0.2, 1.5)
        side = 1 - side
    out = []
    for side in range(2):
        speech_mask = np.zeros(n, dtype=bool)
        for a, b in spans[side]:
            speech_mask[int(a * TELEPHONE_HZ): int(b * TELEPHONE_HZ)] = True
        speech_db = rms_db(tracks[side][speech_mask]) if speech_mask.any() else condition["level"]
        noise = noise_of(condition["noise"], n, rng, babble) * 10 ** ((speech_db - condition["snr"]) / 20)
        out.append(line(tracks[side], noise, condition["codec"], condition["rate"]))
    samples = np.stack(out)
    return Call(samples, condition["rate"], [merge(s) for s in spans], spans, condition)


# --------------------------------------------------------------------------- non-speech

def tone(freqs, seconds: float, rng=None) -> np.ndarray:
    t = np.arange(int(round(seconds * TELEPHONE_HZ))) / TELEPHONE_HZ
    return sum(np.sin(2 * np.pi * f * t + (rng.uniform(0, 6.3) if rng is not None else 0.0)) for f in freqs)


def cadence(n: int, on_s: float, off_s: float, freqs, rng) -> np.ndarray:
    out = np.zeros(n)
    burst = tone(freqs, on_s, rng)
    start = int(rng.uniform(0, on_s + off_s) * TELEPHONE_HZ)
    while start < n:
        m = min(burst.size, n - start)
        out[start: start + m] = burst[:m]
        start += int((on_s + off_s) * TELEPHONE_HZ)
    return out


def dtmf(n: int, rng) -> np.ndarray:
    low, high = (697, 770, 852, 941), (1209, 1336, 1477)
    out = np.zeros(n)
    pos = int(rng.uniform(0.2, 1.0) * TELEPHONE_HZ)
    while pos < n:
        for _ in range(int(rng.integers(4, 12))):
            on = tone((low[int(rng.integers(4))], high[int(rng.integers(3))]), rng.uniform(0.07, 0.15), rng)
            m = min(on.size, n - pos)
            if m <= 0:
                break
            out[pos: pos + m] = on[:m] * 10 ** (rng.uniform(-2, 2) / 20)
            pos += on.size + int(rng.uniform(0.06, 0.15) * TELEPHONE_HZ)
        pos += int(rng.uniform(0.8, 3.0) * TELEPHONE_HZ)
    return out


def fax(n: int, rng) -> np.ndarray:
    """CNG cadence, CED answer tone, V.21 FSK preamble and data, then broadband modem hiss."""
    parts = [cadence(int(7.0 * TELEPHONE_HZ), 0.5, 3.0, (1100.0,), rng), np.zeros(int(0.5 * TELEPHONE_HZ)),
             tone((2100.0,), 3.0, rng), np.zeros(int(0.1 * TELEPHONE_HZ))]
    bits = rng.integers(0, 2, int(3.0 * 300))
    freq = np.repeat(np.where(bits, 1650.0, 1850.0), TELEPHONE_HZ // 300)
    parts.append(np.sin(2 * np.pi * np.cumsum(freq) / TELEPHONE_HZ))
    used = sum(p.size for p in parts)
    hiss = scipy.signal.sosfilt(_BAND, rng.standard_normal(max(n - used, 0)))
    parts.append(hiss / (np.sqrt(np.mean(hiss ** 2)) + 1e-12) * 0.7)
    return np.concatenate(parts)[:n]


_NOTE_HZ = 440.0 * 2 ** ((np.arange(-24, 25)) / 12)


def music(n: int, rng) -> np.ndarray:
    """Music on hold: a chord pad, a bass line and a melody, each note with harmonics, and a drum beat."""
    t = np.arange(n) / TELEPHONE_HZ
    out = np.zeros(n)
    beat_s = 60.0 / rng.uniform(80, 130)
    key = int(rng.integers(-5, 6))
    major = np.array([0, 2, 4, 5, 7, 9, 11])
    progression = [0, 4, 5, 3] if rng.random() < 0.5 else [0, 5, 3, 4]
    bar_s = 4 * beat_s

    def note(semitone: int, start_s: float, dur_s: float, n_harm: int, decay: float, amp: float):
        a, b = int(start_s * TELEPHONE_HZ), min(n, int((start_s + dur_s) * TELEPHONE_HZ))
        if b <= a:
            return
        f = 440.0 * 2 ** ((semitone + key) / 12)
        tt = t[a:b] - start_s
        env = np.minimum(1.0, tt / 0.01) * np.exp(-tt * decay)
        vib = 1 + 0.003 * np.sin(2 * np.pi * 5.0 * tt)
        phase = 2 * np.pi * f * np.cumsum(vib) / TELEPHONE_HZ
        out[a:b] += amp * env * sum(np.sin(k * phase) / k ** 1.3 for k in range(1, n_harm + 1) if k * f < 3800)

    bar = 0
    while bar * bar_s < CALL_S + bar_s:
        degree = progression[bar % 4]
        root = major[degree % 7] - 12
        for offset in (0, 2, 4):
            semitone = major[(degree + offset) % 7] + 12 * ((degree + offset) // 7) - 12
            note(semitone, bar * bar_s, bar_s, 6, 0.4, 0.25)
        for beat in range(4):
            note(root - 12, bar * bar_s + beat * beat_s, beat_s, 8, 3.0, 0.4)
        pos = bar * bar_s
        while pos < (bar + 1) * bar_s - 1e-6:
            dur = beat_s * float(rng.choice([0.5, 1.0, 1.0, 2.0]))
            semitone = major[int(rng.integers(7))] + 12 * int(rng.integers(0, 2))
            note(semitone, pos, dur, 10, 2.0, 0.5)
            pos += dur
        for beat in range(4):
            a = int((bar * bar_s + beat * beat_s) * TELEPHONE_HZ)
            kick = np.sin(2 * np.pi * np.cumsum(np.linspace(150, 50, 1200)) / TELEPHONE_HZ) * np.exp(
                -np.arange(1200) / 300)
            hat = rng.standard_normal(240) * np.exp(-np.arange(240) / 60) * 0.3
            for sig, at in ((kick, a), (hat, a + int(beat_s / 2 * TELEPHONE_HZ))):
                m = min(sig.size, n - at)
                if m > 0:
                    out[at: at + m] += sig[:m]
        bar += 1
    return out


def non_speech_signal(kind: str, n: int, rng) -> np.ndarray:
    if kind == "music":
        x = music(n, rng)
    elif kind == "dtmf":
        x = dtmf(n, rng)
    elif kind == "ringback":
        x = cadence(n, 2.0, 4.0, (440.0, 480.0), rng)
    elif kind == "busy":
        x = cadence(n, 0.5, 0.5, (480.0, 620.0), rng)
    elif kind == "dial":
        x = tone((350.0, 440.0), n / TELEPHONE_HZ, rng)[:n]
    elif kind == "fax":
        x = fax(n, rng)
    else:
        raise ValueError(kind)
    on = np.abs(x) > 1e-6
    return x / np.sqrt(np.mean(x[on] ** 2))


def non_speech_recordings(condition: dict, babble: Babble, rng) -> list[tuple[str, np.ndarray]]:
    """(kind, channel) pairs at one level, codec and rate: every kind, and each noise kind alone."""
    n = int(CALL_S * TELEPHONE_HZ)
    out = []
    for kind in NON_SPEECH:
        x = non_speech_signal(kind, n, rng) * 10 ** (condition["level"] / 20)
        x = scipy.signal.sosfilt(_BAND, x) if kind != "fax" else x
        noise = rng.standard_normal(n) * 10 ** (-60 / 20)
        out.append((kind, line(x, noise, condition["codec"], condition["rate"])))
    for kind in NOISES:
        noise = noise_of(kind, n, rng, babble) * 10 ** ((condition["level"] - 10) / 20)
        out.append((f"noise:{kind}", line(np.zeros(n), noise, condition["codec"], condition["rate"])))
    return out


# --------------------------------------------------------------------------- scoring

def iou(a, b) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


@dataclasses.dataclass
class Tally:
    turns: int = 0
    found: int = 0
    start_err: list = dataclasses.field(default_factory=list)
    end_err: list = dataclasses.field(default_factory=list)
    speech_frames: int = 0
    missed_frames: int = 0
    unturned_frames: int = 0
    pause_frames: int = 0
    false_frames: int = 0

    def add(self, other: "Tally"):
        self.turns += other.turns
        self.found += other.found
        self.start_err += other.start_err
        self.end_err += other.end_err
        self.speech_frames += other.speech_frames
        self.missed_frames += other.missed_frames
        self.unturned_frames += other.unturned_frames
        self.pause_frames += other.pause_frames
        self.false_frames += other.false_frames

    def row(self) -> str:
        recall = self.found / max(self.turns, 1)
        s = np.median(self.start_err) * 1000 if self.start_err else float("nan")
        e = np.median(self.end_err) * 1000 if self.end_err else float("nan")
        missed = 100 * self.missed_frames / max(self.speech_frames, 1)
        unturned = 100 * self.unturned_frames / max(self.speech_frames, 1)
        return (f"{self.turns:6d} {recall:7.3f} {s:8.0f} {e:8.0f} {missed:8.1f} {unturned:8.1f}"
                f" {100 * self.false_frames / max(self.pause_frames, 1):8.1f}")


HEADER = (f"{'':>14s} {'turns':>6s} {'recall':>7s} {'|start|':>8s} {'|end|':>8s} {'missed%':>8s} {'unturned%':>8s}"
          f" {'FA%pause':>8s}")


def span_mask(spans, n_frames: int, pad_s: float = 0.0) -> np.ndarray:
    """Frames inside any (start_s, end_s) span, each widened by `pad_s` on both sides."""
    mask = np.zeros(n_frames, dtype=bool)
    for a, b in spans:
        mask[max(0, int(round((a - pad_s) / FRAME_S))): int(round((b + pad_s) / FRAME_S))] = True
    return mask


def score_call(call: Call, turns, mask: np.ndarray) -> Tally:
    tally = Tally()
    n_frames = mask.shape[1]
    for ch in range(2):
        hyp = [(t.start_s, t.end_s) for t in turns if t.channel == ch]
        for ref in call.turns[ch]:
            tally.turns += 1
            best = max(hyp, key=lambda h: iou(ref, h), default=None)
            if best is not None and iou(ref, best) >= IOU:
                tally.found += 1
                tally.start_err.append(abs(best[0] - ref[0]))
                tally.end_err.append(abs(best[1] - ref[1]))
        ref_mask = span_mask(call.speech[ch], n_frames)
        near = span_mask(call.speech[ch], n_frames, pad_s=0.2)   # speech and 0.2 s either side: not counted as pause
        in_turns = span_mask(hyp, n_frames)
        tally.speech_frames += int(ref_mask.sum())
        tally.missed_frames += int((ref_mask & ~mask[ch]).sum())
        tally.unturned_frames += int((ref_mask & ~in_turns).sum())
        tally.pause_frames += int((~near).sum())
        tally.false_frames += int((~near & mask[ch]).sum())
    return tally


def load_turns_module(path: str | None):
    if path is None:
        from beam_pipeline.segment import turns
        return turns
    spec = importlib.util.spec_from_file_location("turns_under_test", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="every 5th cell of the grid, one non-speech level")
    parser.add_argument("--speakers", choices=("evaluation", "development"), default="evaluation")
    parser.add_argument("--data-root", type=Path, default=Path(os.environ.get("CALLMOOD_DATA_ROOT", DEFAULT_DATA_ROOT)))
    parser.add_argument("--turns-file", default=None, help="a turns.py to test instead of beam_pipeline.segment.turns")
    parser.add_argument("--seed", type=int, default=None, help="default 15 (evaluation) / 1015 (development)")
    parser.add_argument("--reference", choices=("clips", "speech"), default="clips",
                        help="reference speech: whole clip spans (default), or the clean clips' own speech frames")
    args = parser.parse_args()
    global REFERENCE
    REFERENCE = args.reference
    seed = args.seed if args.seed is not None else (15 if args.speakers == "evaluation" else 1015)

    turns_module = load_turns_module(args.turns_file)
    options = turns_module.TurnOptions()
    roles = {0: "agent", 1: "customer"}
    clips = read_manifest(args.data_root)
    speakers = (evaluation_speakers if args.speakers == "evaluation" else development_speakers)(sorted(clips))
    by_corpus: dict[str, list[str]] = {}
    for s in speakers:
        by_corpus.setdefault(clips[s][0].corpus, []).append(s)
    corpora = sorted(by_corpus)
    rng = np.random.default_rng(seed)
    babble = Babble(clips, np.random.default_rng(seed + 1))
    cache = ClipCache()
    print(f"reference: {REFERENCE}; ", end="")
    print(f"speakers ({args.speakers}): " + ", ".join(f"{c} {len(by_corpus[c])}" for c in corpora))

    cells = list(itertools.product(SNRS_DB, LEVELS_DBFS, NOISES, CODECS, RATES_HZ))
    if args.quick:
        cells = cells[::5]
    groups = {"snr": {}, "noise": {}, "codec": {}, "level": {}, "rate": {}, "corpus": {}}
    by_snr_noise: dict = {}
    total = Tally()
    vad_cpu, audio_s, sim_s = 0.0, 0.0, 0.0
    for index, (snr, level, noise, codec, rate) in enumerate(cells):
        corpus = corpora[(index // len(RATES_HZ)) % len(corpora)]     # not confounded with the rate
        pair = [str(s) for s in rng.choice(by_corpus[corpus], size=2, replace=len(by_corpus[corpus]) < 2)]
        condition = dict(snr=snr, level=level, noise=noise, codec=codec, rate=rate)
        started = time.process_time()
        call = speech_call(pair, clips, cache, condition, babble, rng)
        sim_s += time.process_time() - started
        started = time.process_time()
        mask = turns_module.speech_frames(call.samples, rate, options)
        vad_cpu += time.process_time() - started
        audio_s += call.samples.shape[1] / rate
        turns = turns_module.stereo_turns(call.samples, rate, roles, options)
        tally = score_call(call, turns, mask)
        total.add(tally)
        for key, value in (("snr", snr), ("noise", noise), ("codec", codec), ("level", level), ("rate", rate),
                           ("corpus", corpus)):
            groups[key].setdefault(value, Tally()).add(tally)
        by_snr_noise.setdefault((snr, noise), Tally()).add(tally)

    print(f"\n{len(cells)} stereo calls of {CALL_S:.0f} s ({audio_s / 3600:.2f} h); "
          f"speech_frames CPU {1000 * vad_cpu / audio_s:.3f} ms per s of stereo call (simulation {sim_s:.0f} s)")
    print(HEADER)
    for key, label in (("snr", "SNR dB"), ("noise", "noise"), ("codec", "codec"), ("level", "level dBFS"),
                       ("rate", "rate Hz"), ("corpus", "corpus")):
        for value, tally in groups[key].items():
            print(f"{label + ' ' + str(value):>14s} {tally.row()}")
    print(f"{'all':>14s} {total.row()}")
    print("\nrecall by SNR (rows) and noise (columns)")
    print(f"{'':>8s}" + "".join(f"{n:>8s}" for n in NOISES))
    for snr in SNRS_DB:
        print(f"{snr:>8d}" + "".join(
            f"{by_snr_noise[(snr, n)].found / max(by_snr_noise[(snr, n)].turns, 1):8.3f}" if (snr, n) in by_snr_noise
            else f"{'':>8s}" for n in NOISES))

    # non-speech
    ns_cells = list(itertools.product(NON_SPEECH_LEVELS_DBFS, CODECS, RATES_HZ))
    if args.quick:
        ns_cells = ns_cells[::3]
    fa: dict[str, list[float]] = {}
    for level, codec, rate in ns_cells:
        condition = dict(level=level, codec=codec, rate=rate)
        recordings = non_speech_recordings(condition, babble, rng)
        for first, second in zip(recordings[0::2], recordings[1::2]):
            stereo = np.stack([first[1], second[1]])
            turns = turns_module.stereo_turns(stereo, rate, roles, options)
            for ch, (kind, _) in enumerate((first, second)):
                seconds = sum(t.end_s - t.start_s for t in turns if t.channel == ch)
                fa.setdefault(kind, [0.0, 0.0, 0])
                fa[kind][0] += seconds
                fa[kind][1] += stereo.shape[1] / rate
                fa[kind][2] += sum(1 for t in turns if t.channel == ch)
    print(f"\nnon-speech ({len(ns_cells)} level/codec/rate conditions, {CALL_S:.0f} s each): audio inside turns")
    print(f"{'kind':>14s} {'FA %':>7s} {'s per h':>8s} {'turns':>6s}")
    all_fa = [0.0, 0.0, 0]
    for kind, (seconds, duration, count) in fa.items():
        print(f"{kind:>14s} {100 * seconds / duration:7.2f} {3600 * seconds / duration:8.0f} {count:6d}")
        all_fa = [all_fa[0] + seconds, all_fa[1] + duration, all_fa[2] + count]
    print(f"{'all':>14s} {100 * all_fa[0] / all_fa[1]:7.2f} {3600 * all_fa[0] / all_fa[1]:8.0f} {all_fa[2]:6d}")


if __name__ == "__main__":
    main()
