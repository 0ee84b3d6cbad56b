"""A DC offset or sub-audio rumble must not change what the job finds in a call (issue 18, item 4).

Before the audio stage removed them, an offset of 0.05 of full scale made a demo
call "silent or empty" and 0.03 cut its 17 turns to 2: the offset lifts every
frame's energy, so the line's noise floor rises to just under the speech.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from beam_pipeline.audio.dc import HighPass
from beam_pipeline.options import CallmoodOptions
from beam_pipeline.prepare import prepare_call
from beam_pipeline.sources.recordings import CallIdentity
from ser_model.inference import DEFAULT_MODEL_DIR, ModelInfo

REPO = Path(__file__).resolve().parents[1]
DEMO_CALL = REPO / "examples" / "calls" / "call_0003.flac"      # 17 turns, 8 kHz stereo


@pytest.fixture(scope="module")
def spec():
    return ModelInfo.read(DEFAULT_MODEL_DIR).spec


def _turns(path: Path, spec) -> list[tuple[str, float, float]]:
    with open(path, "rb") as handle:
        prepared = prepare_call(handle, str(path), CallIdentity(call_id=path.stem, call_date=dt.date(2026, 11, 23)),
                                CallmoodOptions(input=str(path)), spec)
    return [(ref.turn.speaker, ref.turn.start_s, ref.turn.end_s) for ref in prepared.turns]


def _write_with(tmp_path: Path, name: str, offset: float = 0.0, rumble: float = 0.0) -> Path:
    speech, rate_hz = sf.read(DEMO_CALL, dtype="float32", always_2d=True)
    time_s = np.arange(speech.shape[0])[:, None] / rate_hz
    distorted = speech + offset + rumble * np.sin(2 * np.pi * 4.0 * time_s + np.array([[0.0, 1.0]]))
    path = tmp_path / name
    sf.write(path, np.clip(distorted, -1, 1), rate_hz, subtype="PCM_16")
    return path


def test_offset_and_rumble_give_the_turns_of_the_clean_call(tmp_path, spec):
    clean = _turns(_write_with(tmp_path, "clean.wav"), spec)
    assert len(clean) == 17
    for name, offset, rumble in [("offset_005.wav", 0.05, 0.0), ("offset_003.wav", 0.03, 0.0),
                                 ("offset_neg.wav", -0.08, 0.0), ("rumble.wav", 0.02, 0.05)]:
        found = _turns(_write_with(tmp_path, name, offset, rumble), spec)
        assert [speaker for speaker, _, _ in found] == [speaker for speaker, _, _ in clean], name
        assert np.allclose([t[1:] for t in found], [t[1:] for t in clean], atol=0.05), name


def _amplitude(signal: np.ndarray, frequency_hz: float, rate_hz: int) -> float:
    """Amplitude of one frequency in a signal holding a whole number of its cycles."""
    time_s = np.arange(signal.size) / rate_hz
    return float(2 * np.abs(np.mean(signal * np.exp(-2j * np.pi * frequency_hz * time_s))))


def test_the_filter_removes_offset_and_rumble_and_keeps_the_voice_band():
    rate_hz = 16000
    time_s = np.arange(10 * rate_hz) / rate_hz
    voice = 0.3 * np.sin(2 * np.pi * 120.0 * time_s)
    channels = np.stack([voice + 0.05, voice + 0.05 * np.sin(2 * np.pi * 5.0 * time_s)]).astype(np.float32)
    # in blocks of 0.7 s, as the decoder hands them over: the state must carry across
    high_pass = HighPass(2, rate_hz)
    channels = np.concatenate([high_pass(np.ascontiguousarray(block.T)) for block in
                               np.array_split(channels, 14, axis=1)]).T
    steady = channels[:, rate_hz:].astype(np.float64)    # after the filter's first second (9 s: whole cycles)
    assert np.all(np.abs(steady.mean(axis=1)) < 1e-3)    # the offset is gone
    for channel in steady:
        assert _amplitude(channel, 120.0, rate_hz) == pytest.approx(0.3, rel=0.01)   # the voice band passes
    assert _amplitude(steady[1], 5.0, rate_hz) < 0.05 / 20   # the 5 Hz rumble is down by more than 26 dB
    assert channels.dtype == np.float32 and np.all(np.abs(channels) <= 1.0)


def test_filtering_in_blocks_at_8_khz_matches_one_pass():
    rng = np.random.default_rng(5)
    block = (rng.normal(0, 0.1, (40000, 2)) + 0.05).astype(np.float32)
    whole = HighPass(2, 8000)(block.copy())
    pieces = HighPass(2, 8000)
    in_blocks = np.concatenate([pieces(np.ascontiguousarray(piece)) for piece in np.array_split(block, 7)])
    np.testing.assert_allclose(in_blocks, whole, atol=1e-6)


def test_the_decoder_high_passes_before_resampling_as_the_filter_does_after(tmp_path):
    from beam_pipeline.audio.decode import decode_audio

    path = _write_with(tmp_path, "rumble.wav", 0.02, 0.05)                  # 8 kHz stereo
    data = path.read_bytes()
    exact = decode_audio(data, path.name, target_rate_hz=16000)
    filtered = decode_audio(data, path.name, target_rate_hz=16000, high_pass_hz=30.0)
    after = HighPass(2, 16000)(np.ascontiguousarray(exact.channels.T)).T
    assert filtered.channels.shape == exact.channels.shape
    assert np.abs(filtered.channels.mean(axis=1)).max() < 1e-3 < np.abs(exact.channels.mean(axis=1)).min()
    # the same filter at 8 kHz before the resampler as at 16 kHz after it, to within a small part of the signal
    assert np.sqrt(np.mean((filtered.channels - after) ** 2)) < 0.01 * np.sqrt(np.mean(after ** 2))


def test_a_recording_that_starts_on_an_offset_has_no_click():
    """The filter starts in the offset's steady state: no step response for the VAD to call speech."""
    channels = HighPass(1, 16000)(np.full((16000, 1), 0.2, dtype=np.float32))
    assert float(np.max(np.abs(channels))) < 1e-3
