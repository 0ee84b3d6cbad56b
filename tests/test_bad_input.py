"""Bad input never stops a night and never vanishes: each becomes one errors row with a clear reason."""
import json
from pathlib import Path

import duckdb
import numpy as np
import pytest
import soundfile as sf

from beam_pipeline.options import CallmoodOptions
from beam_pipeline.pipeline import run

REPO = Path(__file__).resolve().parents[1]
DEMO_CALL = REPO / "examples" / "calls" / "call_0003.flac"


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    folder = tmp_path_factory.mktemp("night")
    speech, rate_hz = sf.read(DEMO_CALL, dtype="float32")
    speech = speech[: 20 * rate_hz]
    sf.write(folder / "good.flac", speech, rate_hz)
    sf.write(folder / "mono.wav", speech.mean(axis=1), rate_hz, subtype="PCM_16")
    mono = speech.mean(axis=1)
    sf.write(folder / "dual_mono.wav", np.stack([mono, mono], axis=1), rate_hz, subtype="PCM_16")
    (folder / "empty.wav").write_bytes(b"")
    sf.write(folder / "silent.wav", np.zeros((10 * rate_hz, 2), dtype=np.float32), rate_hz)
    sf.write(folder / "short.wav", speech[: rate_hz // 2], rate_hz)
    sf.write(folder / "long.flac", np.tile(speech, (2, 1)), rate_hz)  # 40 s, over the 30 s limit below
    good_bytes = (folder / "good.flac").read_bytes()
    (folder / "bad_sidecar.flac").write_bytes(good_bytes)
    (folder / "bad_sidecar.json").write_text("{\"call_id\": \"x\", ")
    (folder / "mislabelled.flac").write_bytes(good_bytes)
    (folder / "mislabelled.json").write_text(json.dumps({"call_id": "m1", "channels": {"0": "agent", "2": "customer"}}))
    wav = folder / "truncated.wav"
    sf.write(wav, speech, rate_hz, subtype="PCM_16")
    wav.write_bytes(wav.read_bytes()[: 40_000])
    (folder / "notes.txt").write_text("not a recording, not an error")
    db = folder / "out.duckdb"
    summary = run(CallmoodOptions(input=str(folder), output=str(db), max_duration_s=30.0))
    with duckdb.connect(str(db), read_only=True) as con:
        errors = {Path(uri).name: (stage, reason) for uri, stage, reason in
                  con.execute("SELECT recording_uri, stage, reason FROM errors").fetchall()}
        calls = {Path(uri).name: speakers for uri, speakers in con.execute(
            "SELECT recording_uri, list(DISTINCT speaker ORDER BY speaker) FROM segments GROUP BY 1").fetchall()}
    return {"summary": summary, "errors": errors, "calls": calls}


@pytest.mark.parametrize("name, stage, words", [
    ("empty.wav", "decode", "empty"),
    ("silent.wav", "segment", "no speech"),
    ("short.wav", "decode", "minimum"),
    ("long.flac", "decode", "limit"),
    ("bad_sidecar.flac", "sidecar", "not valid JSON"),
    ("mislabelled.flac", "sidecar", "does not fit"),
    ("truncated.wav", "decode", "truncated"),
])
def test_each_bad_file_is_one_error_row_with_its_reason(night, name, stage, words):
    assert night["errors"][name][0] == stage
    assert words in night["errors"][name][1]


def test_the_rest_of_the_night_is_processed(night):
    assert night["calls"]["good.flac"] == ["agent", "customer"]
    # mono goes through diarization: speaker_N labels, never a stereo side
    assert night["calls"]["mono.wav"][0] == "speaker_0"
    assert all(s.startswith("speaker_") for s in night["calls"]["mono.wav"])
    # the same signal on both channels is not two sides of a call: it is diarized as mono
    assert night["calls"]["dual_mono.wav"] == night["calls"]["mono.wav"]
    assert "notes.txt" not in night["errors"] and "notes.txt" not in night["calls"]
    summary = night["summary"]
    assert (summary.calls_ok, summary.calls_failed, summary.calls_skipped) == (3, 7, 0)
