"""Speech detection on phone lines: quiet talkers over noise, any level, both rates, and non-speech that is no turn.

Speech is real corpus speech (a development speaker of `benchmarks/speech_detection.py`,
never one of its held-out voices) passed through the benchmark's phone line;
non-speech is synthesised by the same benchmark (DTMF, ringback, busy, music on
hold, fax). The corpus is read from ../shared/data (or $CALLMOOD_DATA_ROOT).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import soxr

import benchmarks.speech_detection as bench
from benchmarks.simulated_calls import DEFAULT_DATA_ROOT, read_manifest
from beam_pipeline.segment.turns import TurnOptions, mono_turns, stereo_turns

DATA_ROOT = Path(os.environ.get("CALLMOOD_DATA_ROOT", DEFAULT_DATA_ROOT))
needs_corpus = pytest.mark.skipif(not (DATA_ROOT / "manifest.csv").exists(),
                                  reason=f"speech corpora not found at {DATA_ROOT}")
OPTIONS = TurnOptions()
RATE_HZ = bench.TELEPHONE_HZ


@pytest.fixture(scope="module")
def sentences() -> list[np.ndarray]:
    """Two neutral sentences of a development speaker, 8 kHz, telephone band, 0 dB RMS."""
    clips = read_manifest(DATA_ROOT)["ravdess_03"]
    cache = bench.ClipCache()
    return [cache.get(c) for c in clips if c.emotion == "neutral"][:2]


def laid_out(sentences, level_dbfs: float, gap_s: float = 2.0, lead_s: float = 1.5):
    """The sentences at `level_dbfs` RMS, `gap_s` apart after `lead_s` of line: (speech track, reference spans)."""
    parts, spans, t_s = [np.zeros(int(lead_s * RATE_HZ))], [], lead_s
    for sentence in sentences:
        parts += [sentence * 10 ** (level_dbfs / 20), np.zeros(int(gap_s * RATE_HZ))]
        spans.append((t_s, t_s + sentence.size / RATE_HZ))
        t_s += sentence.size / RATE_HZ + gap_s
    return np.concatenate(parts), spans


def on_line(track: np.ndarray, noise_kind: str, noise_dbfs: float, seed: int = 0, codec: str = "mulaw") -> np.ndarray:
    noise = bench.noise_of(noise_kind, track.size, np.random.default_rng(seed), None) * 10 ** (noise_dbfs / 20)
    return bench.line(track, noise, codec, RATE_HZ)


def spans_of(turns) -> list[tuple[float, float]]:
    return [(t.start_s, t.end_s) for t in turns]


def assert_matches(found, expected, tolerance_s: float):
    assert len(found) == len(expected), f"turns {found}, expected {expected}"
    for (start, end), (want_start, want_end) in zip(found, expected):
        assert abs(start - want_start) <= tolerance_s and abs(end - want_end) <= tolerance_s, (found, expected)


# --------------------------------------------------------------------------- speech

@needs_corpus
def test_a_quiet_sentence_over_loud_ish_pink_noise_is_one_turn(sentences):
    """A -45 dBFS sentence 12 dB over pink line noise: one turn spanning it, not two halves or nothing."""
    track, spans = laid_out(sentences[:1], -45.0)
    samples = on_line(track, "pink", -57.0)
    turns = mono_turns(samples, RATE_HZ, OPTIONS)
    assert_matches(spans_of(turns), spans, tolerance_s=0.25)


@needs_corpus
def test_a_level_sweep_finds_the_same_turns(sentences):
    """The same two sentences at -50 ... -10 dBFS, 25 dB over white line noise: the same turns at every level."""
    found = {}
    for level_dbfs in (-50.0, -40.0, -30.0, -20.0, -10.0):
        track, spans = laid_out(sentences, level_dbfs)
        found[level_dbfs] = spans_of(mono_turns(on_line(track, "white", level_dbfs - 25.0), RATE_HZ, OPTIONS))
    for level_dbfs, turns in found.items():
        assert_matches(turns, spans, tolerance_s=0.2)
        assert_matches(turns, found[-30.0], tolerance_s=0.06)


@needs_corpus
def test_8_and_16_khz_give_the_same_turns(sentences):
    track, spans = laid_out(sentences, -35.0)
    narrow = on_line(track, "pink", -50.0)
    wide = soxr.resample(narrow, RATE_HZ, 16000, quality="HQ").astype(np.float32)
    at_8 = spans_of(mono_turns(narrow, RATE_HZ, OPTIONS))
    at_16 = spans_of(mono_turns(wide, 16000, OPTIONS))
    assert_matches(at_8, spans, tolerance_s=0.2)
    assert_matches(at_16, at_8, tolerance_s=0.04)


@needs_corpus
def test_speech_over_mains_hum_is_found(sentences):
    """Mains hum and its harmonics 10 dB under the speech (in RMS): whitening by the noise spectrum sees through it."""
    track, spans = laid_out(sentences, -30.0)
    turns = mono_turns(on_line(track, "hum", -40.0), RATE_HZ, OPTIONS)
    assert_matches(spans_of(turns), spans, tolerance_s=0.2)


# --------------------------------------------------------------------------- non-speech

def non_speech(kind: str, level_dbfs: float = -20.0, seconds: float = 20.0, seed: int = 3) -> np.ndarray:
    n = int(seconds * RATE_HZ)
    rng = np.random.default_rng(seed)
    if kind == "steady 1 kHz tone":
        x = bench.tone((1000.0,), seconds, rng)
    else:
        x = bench.non_speech_signal(kind, n, rng)
    x = x[:n] * 10 ** (level_dbfs / 20)
    if kind != "fax":
        x = scipy.signal.sosfilt(bench._BAND, x)
    return bench.line(x, rng.standard_normal(n) * 10 ** (-60 / 20), "mulaw", RATE_HZ)


@pytest.mark.parametrize("kind", ["dtmf", "ringback", "busy", "music", "fax", "steady 1 kHz tone"])
def test_tones_music_and_fax_give_no_turns(kind):
    samples = non_speech(kind)
    assert mono_turns(samples, RATE_HZ, OPTIONS) == []
    quiet_line = np.random.default_rng(9).standard_normal(samples.size).astype(np.float32) * 10 ** (-60 / 20)
    turns = stereo_turns(np.stack([samples, quiet_line]), RATE_HZ, {0: "agent", 1: "customer"}, OPTIONS)
    assert turns == []


@needs_corpus
def test_speech_after_music_on_hold_is_still_found(sentences):
    """Ten seconds of hold music, then the agent's two sentences: the music is no turn, the sentences are."""
    music = non_speech("music", level_dbfs=-25.0, seconds=10.0)
    track, spans = laid_out(sentences, -30.0)
    speech = on_line(track, "white", -60.0)
    samples = np.concatenate([music, speech])
    turns = spans_of(mono_turns(samples, RATE_HZ, OPTIONS))
    assert_matches(turns, [(a + 10.0, b + 10.0) for a, b in spans], tolerance_s=0.2)


@needs_corpus
def test_a_line_of_distant_babble_alone_gives_almost_no_turns(sentences):
    """Babble of six distant voices and nothing else on the line: under 1 % of it inside turns, and a
    sentence 10 dB over the same babble is still one turn."""
    babble = bench.Babble(read_manifest(DATA_ROOT), np.random.default_rng(9), seconds=60.0)
    n = int(24.0 * RATE_HZ)
    in_turns_s = 0.0
    for level_dbfs in (-45.0, -35.0, -25.0):
        lines = [bench.line(np.zeros(n), babble.take(n) * 10 ** (level_dbfs / 20), "mulaw", RATE_HZ)
                 for _ in range(2)]
        turns = stereo_turns(np.stack(lines), RATE_HZ, {0: "agent", 1: "customer"}, OPTIONS)
        in_turns_s += sum(t.duration_s for t in turns)
    assert in_turns_s / (3 * 2 * 24.0) < 0.01, f"{in_turns_s:.2f} s of babble inside turns"
    track, spans = laid_out(sentences[:1], -30.0)
    noise = babble.take(track.size) * 10 ** (-40.0 / 20)
    speech = bench.line(track, noise, "mulaw", RATE_HZ)
    assert_matches(spans_of(mono_turns(speech, RATE_HZ, OPTIONS)), spans, tolerance_s=0.25)
