"""Sidecars and call identity: what a recording is, before any audio is decoded."""
import datetime as dt
import json

import pytest

from beam_pipeline.options import parse_channel_map
from beam_pipeline.sources.recordings import (SidecarError, call_date_from_path, is_recording, parse_sidecar, read_identity,
                                   recording_pattern)

FALLBACK = dt.date(2026, 1, 1)


def test_a_full_sidecar_gives_identity_date_and_channels():
    text = json.dumps({"call_id": "C-1", "agent_id": "A1", "queue": "billing",
                       "started_at": "2026-11-23T23:50:00-05:00", "channels": {"0": "customer", "1": "agent"}})
    identity = parse_sidecar(text, "/x/rec.wav", FALLBACK)
    assert (identity.call_id, identity.agent_id, identity.queue) == ("C-1", "A1", "billing")
    assert identity.call_date == dt.date(2026, 11, 23)  # the call's local date, not UTC's
    assert identity.channel_map == {0: "customer", 1: "agent"}


@pytest.mark.parametrize("text, words", [
    ("[1, 2]", "JSON object"),
    ("{\"started_at\": \"yesterday\"}", "ISO 8601"),
    ("{\"channels\": {\"0\": \"agent\", \"1\": \"agent\"}}", "same role"),
    ("{\"channels\": {\"left\": \"agent\"}}", "channel numbers"),
    ("{\"channels\": {\"0\": \"caller\"}}", "agent or customer"),
    ("{\"call_id\": 7}", "string"),
])
def test_untrustworthy_sidecars_are_refused_with_a_reason(text, words):
    with pytest.raises(SidecarError, match=words):
        parse_sidecar(text, "/x/rec.wav", FALLBACK)


def test_without_a_sidecar_the_file_name_and_path_date_identify_the_call(tmp_path):
    night = tmp_path / "2026-11-23"
    night.mkdir()
    (night / "rec_42.mp3").write_bytes(b"x")
    identity = read_identity(str(night / "rec_42.mp3"), last_modified_s=0)
    assert (identity.call_id, identity.agent_id, identity.queue) == ("rec_42", "", "")
    assert identity.call_date == dt.date(2026, 11, 23)
    assert identity.channel_map is None


def test_both_sidecar_spellings_are_found(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"x")
    (tmp_path / "a.wav.json").write_text(json.dumps({"call_id": "from-long-name"}))
    assert read_identity(str(tmp_path / "a.wav"), None).call_id == "from-long-name"
    (tmp_path / "a.json").write_text(json.dumps({"call_id": "from-stem"}))
    assert read_identity(str(tmp_path / "a.wav"), None).call_id == "from-stem"


def test_paths_and_patterns(tmp_path):
    assert call_date_from_path("gs://calls/20261123/x.wav") == dt.date(2026, 11, 23)
    assert call_date_from_path("gs://calls/2026-13-45/x.wav") is None
    assert is_recording("/x/A.WAV") and is_recording("/x/a.m4a") and not is_recording("/x/a.json")
    assert recording_pattern(str(tmp_path)) == str(tmp_path.resolve() / "**")
    assert recording_pattern("gs://calls/2026-11-23/") == "gs://calls/2026-11-23/**"


def test_channel_map_flag():
    assert parse_channel_map("0=customer,1=agent") == {0: "customer", 1: "agent"}
    assert parse_channel_map('{"0": "agent"}') == {0: "agent"}
    with pytest.raises(ValueError):
        parse_channel_map("0=boss")
