"""--mono-speakers: a deployment that knows its mono recordings' voice count can say so."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from beam_pipeline import options
from beam_pipeline.prepare import prepare_call
from beam_pipeline.sources.recordings import read_identity
from ser_model.inference import DEFAULT_MODEL_DIR, ModelInfo

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("text, expected", [("auto", None), ("1", 1), ("2", 2), ("3", 3)])
def test_the_flag_parses_to_a_count(text, expected):
    parsed, _ = options.parse(["--input", "x", "--mono-speakers", text])
    assert parsed.mono_speakers == expected


@pytest.mark.parametrize("text", ["0", "4", "two"])
def test_other_counts_are_refused(text):
    with pytest.raises(SystemExit):
        options.parse(["--input", "x", "--mono-speakers", text])


@pytest.fixture(scope="module")
def mono_call(tmp_path_factory) -> Path:
    """A two-voice demo call (agent and customer: different RAVDESS actors) summed to one channel."""
    stereo, rate_hz = sf.read(REPO / "examples" / "calls" / "call_0003.flac", dtype="float32")
    path = tmp_path_factory.mktemp("mono") / "mono_call.wav"
    sf.write(path, stereo.mean(axis=1), rate_hz, subtype="PCM_16")
    return path


@pytest.mark.parametrize("count", [1, 2, 3])
def test_a_given_count_is_the_number_of_speakers_in_the_turns(mono_call, count):
    parsed, _ = options.parse(["--input", str(mono_call), "--mono-speakers", str(count)])
    info = ModelInfo.read(DEFAULT_MODEL_DIR)
    identity = read_identity(str(mono_call), mono_call.stat().st_mtime)
    prepared = prepare_call(mono_call.read_bytes(), str(mono_call), identity, parsed, info.spec)
    speakers = {ref.turn.speaker for ref in prepared.turns}
    assert speakers == {f"speaker_{i}" for i in range(count)}
    assert np.all(np.diff([ref.turn.start_s for ref in prepared.turns]) >= 0)


def test_inbound_queues_can_name_the_first_voice_the_agent(mono_call):
    parsed, _ = options.parse(["--input", str(mono_call), "--mono-speakers", "2", "--mono-first-speaker-agent"])
    info = ModelInfo.read(DEFAULT_MODEL_DIR)
    identity = read_identity(str(mono_call), mono_call.stat().st_mtime)
    turns = [ref.turn for ref in prepare_call(mono_call.read_bytes(), str(mono_call), identity, parsed,
                                              info.spec).turns]
    assert {t.speaker for t in turns} == {"agent", "customer"}
    assert min(turns, key=lambda t: t.start_s).speaker == "agent"
