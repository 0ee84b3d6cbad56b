"""No recording vanishes without a row, and a night that is not there is not a quiet night (issue 18, items 4, 7, 8).

One night through the real `callmood run` (a subprocess, the in-process Beam
runner, a DuckDB file) holding, beside good recordings that must come through:
a symlinked subfolder, a subfolder that may not be listed, a dangling link, a
link loop, a link back up the tree, two sidecars claiming one call_id, a sidecar
that cannot be read, a recording that may not be read, DC offsets, and full-scale
white noise.

Permissions mean nothing to root, and tests may run as root (a container): the
run then drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from its bounding set
before exec, so a folder with mode 000 is as unreadable to it as to anyone else.
"""
from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import numpy as np
import pytest
import soundfile as sf

from tests import cli

REPO = Path(__file__).resolve().parents[1]
DEMO_CALL = REPO / "examples" / "calls" / "call_0003.flac"
_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2


def _without_permission_override() -> None:
    """preexec_fn: as root, lose the capabilities that bypass file modes, for this child and what it execs."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def _callmood(*args: str) -> subprocess.CompletedProcess:
    return cli.run(*args, preexec_fn=_without_permission_override)


def _rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    base = tmp_path_factory.mktemp("unseen")
    folder = base / "2026-11-23"
    folder.mkdir()
    speech, rate_hz = sf.read(DEMO_CALL, dtype="float32")
    speech = speech[: 20 * rate_hz]
    sf.write(folder / "good.flac", speech, rate_hz)
    good = (folder / "good.flac").read_bytes()
    # item 4: DC offsets that made the call "silent" (0.05) or cut its turns (0.03)
    sf.write(folder / "offset_005.wav", speech + 0.05, rate_hz, subtype="PCM_16")
    sf.write(folder / "offset_003.wav", speech + 0.03, rate_hz, subtype="PCM_16")
    # item 8: full-scale white noise, and a sidecar that cannot be read (a folder where the JSON should be)
    noise = np.random.default_rng(1).uniform(-1, 1, (10 * rate_hz, 2)).astype(np.float32)
    sf.write(folder / "noise.wav", noise, rate_hz, subtype="PCM_16")
    (folder / "unreadable_sidecar.flac").write_bytes(good)
    (folder / "unreadable_sidecar.json").mkdir()
    (folder / "locked_sidecar.flac").write_bytes(good)
    (folder / "locked_sidecar.json").write_text(json.dumps({"call_id": "L1"}))
    (folder / "locked_sidecar.json").chmod(0)
    (folder / "locked_recording.flac").write_bytes(good)     # listed (its folder may be read), then not readable
    (folder / "locked_recording.flac").chmod(0)
    # item 7: a symlinked folder from another volume, linked twice; a locked folder; dangling and looping links
    elsewhere = base / "other_volume"
    elsewhere.mkdir()
    (elsewhere / "linked_call.flac").write_bytes(good)
    (folder / "linked").symlink_to(elsewhere, target_is_directory=True)
    (folder / "linked_again").symlink_to(elsewhere, target_is_directory=True)
    (folder / "sub").mkdir()
    (folder / "sub" / "up").symlink_to(folder, target_is_directory=True)    # a loop back up the tree
    (folder / "locked").mkdir()
    (folder / "locked" / "locked_call.flac").write_bytes(good)
    (folder / "locked").chmod(0)
    (folder / "dangling.wav").symlink_to(base / "moved_away.wav")
    (folder / "missing_folder").symlink_to(base / "unmounted", target_is_directory=True)
    (folder / "loop.wav").symlink_to(folder / "loop.wav")
    # item 7: two sidecars claiming one call_id, beside a sidecar with an id of its own
    for name, call_id in [("dup_a", "DUP-1"), ("dup_b", "DUP-1"), ("own", "OWN-1")]:
        (folder / f"{name}.flac").write_bytes(good)
        (folder / f"{name}.json").write_text(json.dumps({"call_id": call_id, "agent_id": "a1"}))
    db = base / "out.duckdb"
    try:
        done = _callmood("run", "--input", str(folder), "--output", str(db))
    finally:
        (folder / "locked").chmod(0o755)
        (folder / "locked_sidecar.json").chmod(0o644)
        (folder / "locked_recording.flac").chmod(0o644)
    assert done.returncode == 0, done.stderr[-3000:]
    errors = {Path(uri).name: (stage, reason, call_id) for uri, stage, reason, call_id in
              _rows(db, "SELECT recording_uri, stage, reason, call_id FROM errors")}
    calls = {Path(uri).name: n for uri, n in _rows(db, "SELECT recording_uri, turn_count FROM calls")}
    uris = [uri for (uri,) in _rows(db, "SELECT recording_uri FROM calls")]
    return {"folder": folder, "stdout": done.stdout, "errors": errors, "calls": calls, "uris": uris, "db": db}


def test_good_recordings_come_through(night):
    assert {"good.flac", "own.flac", "linked_call.flac"} <= set(night["calls"])


def test_dc_offset_gives_the_turns_of_the_clean_call(night):
    assert night["calls"]["offset_005.wav"] == night["calls"]["good.flac"]
    assert night["calls"]["offset_003.wav"] == night["calls"]["good.flac"]


def test_a_symlinked_folder_is_read_once_and_a_loop_is_not_followed(night):
    linked = [uri for uri in night["uris"] if uri.endswith("linked_call.flac")]
    assert len(linked) == 1                              # linked and linked_again are one real folder
    assert len(night["uris"]) == len(set(Path(uri).resolve() for uri in night["uris"]))   # nothing twice via sub/up


@pytest.mark.parametrize("name, words", [
    ("locked", "folder could not be listed (Permission denied)"),
    ("dangling.wav", "recording is a symbolic link whose target does not exist"),
    ("missing_folder", "folder is a symbolic link whose target does not exist"),
    ("loop.wav", "symbolic link loop"),
])
def test_what_cannot_be_reached_is_an_errors_row(night, name, words):
    stage, reason, _ = night["errors"][name]
    assert stage == "match"
    assert words in reason


def test_two_sidecars_claiming_one_call_id_are_both_rejected(night):
    for name in ("dup_a.flac", "dup_b.flac"):
        stage, reason, call_id = night["errors"][name]
        assert (stage, call_id) == ("sidecar", "DUP-1")
        assert "2 recordings in this run have sidecars claiming the same call_id" in reason
        assert "DUP-1" not in reason
    assert "own.flac" in night["calls"]


def test_an_unreadable_sidecar_is_a_sidecar_error(night):
    for name, words in [("unreadable_sidecar.flac", "Is a directory"), ("locked_sidecar.flac", "Permission denied")]:
        stage, reason, _ = night["errors"][name]
        assert stage == "sidecar"
        assert "could not be read" in reason and words in reason


def test_a_recording_that_may_not_be_read_is_a_read_error_naming_the_permission(night):
    stage, reason, _ = night["errors"]["locked_recording.flac"]
    assert stage == "read"
    assert reason.startswith("could not read the file:") and "Permission denied" in reason


def test_full_scale_noise_is_not_called_silent(night):
    stage, reason, _ = night["errors"]["noise.wav"]
    assert stage == "segment"
    assert "loud noise" in reason and "silent" not in reason
    level_dbfs = float(reason.split("level ")[1].split(" dBFS")[0])
    assert -8 < level_dbfs < -2                           # uniform noise at full scale: -4.8 dBFS


def test_the_summary_counts_every_row(night):
    n_calls, n_errors = len(night["calls"]), len(night["errors"])
    assert f"calls ok {n_calls}, skipped 0, failed {n_errors}" in night["stdout"]
    assert (n_calls, n_errors) == (5, 10)


def test_a_missing_input_folder_stops_the_run_before_anything_is_read(night, tmp_path):
    db = tmp_path / "missing.duckdb"
    for missing in (str(night["folder"].parent / "2026-11-24"), str(night["folder"].parent / "2026-11-24" / "*.wav")):
        done = _callmood("run", "--input", missing, "--output", str(db))
        assert done.returncode == 2
        assert "does not exist: no recordings were read" in done.stderr
        assert "Traceback" not in done.stderr
    assert not db.exists()


def test_a_corrupt_output_stops_the_run_before_any_audio_is_read(night, tmp_path):
    damaged = tmp_path / "damaged.duckdb"
    shutil.copy(night["db"], damaged)
    with duckdb.connect(str(damaged), read_only=True) as con:   # a data block of segments, not the catalog
        (block_id,) = con.execute("SELECT min(block_id) FROM pragma_storage_info('segments') "
                                  "WHERE block_id >= 0").fetchone()
    with open(damaged, "r+b") as handle:
        handle.seek(3 * 4096 + block_id * 262144 + 1000)
        handle.write(np.random.default_rng(2).bytes(64))
    done = _callmood("run", "--input", str(night["folder"]), "--output", str(damaged), "--reprocess")
    assert done.returncode == 2
    assert "is not a usable DuckDB file" in done.stderr and "Traceback" not in done.stderr
    assert "recordings matched" not in done.stderr                # stopped before matching, let alone decoding


@pytest.mark.parametrize("make, words", [
    (lambda tmp: tmp / "nowhere.wav", "does not exist"),
    (lambda tmp: tmp, "is a folder"),
    (lambda tmp: _loop(tmp), "symbolic link loop"),
])
def test_score_says_in_one_line_what_the_path_is_instead_of_a_recording(tmp_path, make, words):
    done = _callmood("score", str(make(tmp_path)))
    assert done.returncode == 2
    assert words in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def _loop(tmp: Path) -> Path:
    (tmp / "a.wav").symlink_to(tmp / "b.wav")
    (tmp / "b.wav").symlink_to(tmp / "a.wav")
    return tmp / "a.wav"
