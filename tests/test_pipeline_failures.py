"""How the job fails: a bug on one recording is one errors row, a run that dies says so, a kill loses nothing.

The paths here are the job's safety nets (beam_pipeline/pipeline.py and steps.py),
which good input never reaches. Where a real input reaches them (an output whose
errors table an older release made, a file too big to be any recording), the test
uses it; where only a bug would (an unexpected exception, a call that comes back
from scoring incomplete, a kill inside a transaction), the test plants exactly that
failure at one named function and says why in its docstring.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest
import soundfile as sf
from apache_beam.ml.inference.base import PredictionResult

from beam_pipeline import options as opts
from beam_pipeline import steps
from beam_pipeline.pipeline import run
from beam_pipeline.prepare import prepare_call
from beam_pipeline.records import RunContext
from beam_pipeline.sources.recordings import read_identity
from beam_pipeline.steps import AssembleCalls
from beam_pipeline.warehouse.rows import CallResult, ErrorResult
from ser_model.inference import ModelInfo

REPO = Path(__file__).resolve().parents[1]
CALLS = REPO / "examples" / "calls"
DEMO_CALL = CALLS / "call_0003.flac"


def _rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def _write_call(folder: Path, name: str) -> None:
    """The first 20 s of a demo call, which has speech on both sides."""
    speech, rate_hz = sf.read(DEMO_CALL, dtype="float32")
    sf.write(folder / name, speech[: 20 * rate_hz], rate_hz)


@pytest.fixture(scope="module")
def buggy_night(tmp_path_factory):
    """A night of a good call, a call the job has a bug on, and a file too big to be any recording.

    No real input is known to raise an unexpected exception (each one found so far
    became a StageError with its own reason, as it should), so the bug is planted:
    `prepare_call`, as `PrepareRecording` calls it, raises ZeroDivisionError for
    bug.flac alone. The in-process runner runs the steps in this process, where
    the patch is in place.
    """
    folder = tmp_path_factory.mktemp("buggy") / "2026-11-23"
    folder.mkdir()
    _write_call(folder, "good.flac")
    _write_call(folder, "bug.flac")
    with open(folder / "huge.wav", "wb") as handle:     # sparse: 12 MB on paper, more than 30 s of any format
        handle.truncate(12_000_000)
    real_prepare_call = steps.prepare_call

    def prepare_call_with_a_bug(data, uri, *args, **kwargs):
        if uri.endswith("bug.flac"):
            raise ZeroDivisionError("float division by zero")
        return real_prepare_call(data, uri, *args, **kwargs)

    db = folder.parent / "out.duckdb"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(steps, "prepare_call", prepare_call_with_a_bug)
        summary = run(opts.CallmoodOptions(input=str(folder), output=str(db), max_duration_s=30.0))
    errors = {Path(uri).name: (stage, reason) for uri, stage, reason in
              _rows(db, "SELECT recording_uri, stage, reason FROM errors")}
    calls = [Path(uri).name for (uri,) in _rows(db, "SELECT recording_uri FROM calls")]
    return {"summary": summary, "errors": errors, "calls": calls}


def test_an_unexpected_exception_on_one_recording_is_its_errors_row_and_the_night_goes_on(buggy_night):
    """The catch-all behind "bad input never stops a run": the bug is named, the good call is still written."""
    stage, reason = buggy_night["errors"]["bug.flac"]
    assert stage == "segment"
    assert reason == "internal error ZeroDivisionError: float division by zero"
    assert buggy_night["calls"] == ["good.flac"]
    summary = buggy_night["summary"]
    assert (summary.calls_ok, summary.calls_failed) == (1, 2)


def test_a_file_bigger_than_any_recording_of_the_limit_is_refused_before_it_is_read(buggy_night):
    stage, reason = buggy_night["errors"]["huge.wav"]
    assert stage == "read"
    assert reason == "file is 12.0 MB, more than 30 s of any audio format"


def test_a_run_that_dies_is_recorded_as_failed(tmp_path):
    """An output whose errors table an older release made (no `stage` column) takes no errors row at all.

    That is the warehouse failing, not a recording: the run stops, and its runs
    row must say failed (with when), not stay 'running' as a killed run's would.
    """
    folder = tmp_path / "night"
    folder.mkdir()
    (folder / "empty.wav").write_bytes(b"")         # a decode error: the one row the errors table must take
    db = tmp_path / "old.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE errors (recording_uri VARCHAR NOT NULL, call_id VARCHAR, call_date DATE, "
                    "reason VARCHAR NOT NULL, model_version VARCHAR, run_id VARCHAR NOT NULL, "
                    "occurred_at TIMESTAMPTZ NOT NULL)")
    with pytest.raises(duckdb.BinderException, match='Table "errors" does not have a column with name "stage"'):
        run(opts.CallmoodOptions(input=str(folder), output=str(db)))
    ((status, finished),) = _rows(db, "SELECT status, finished_at IS NOT NULL FROM runs")
    assert (status, finished) == ("failed", True)


@pytest.fixture(scope="module")
def prepared_call():
    info = ModelInfo.read()
    path = str(CALLS / "call_0001.mp3")
    call = prepare_call((CALLS / "call_0001.mp3").read_bytes(), path, read_identity(path, os.path.getmtime(path)),
                        opts.CallmoodOptions(input=path), info.spec)
    return info, call


def _scored(ref, windows) -> tuple:
    """A turn as RunInference hands it on: its key and one probability row per window (which ones is no matter here)."""
    return ref, PredictionResult(example=windows, inference=np.full((len(windows), 6), 1 / 6))


def test_a_call_incomplete_at_the_end_of_its_bundle_is_an_errors_row_not_a_partial_call(prepared_call):
    """A bug upstream (a turn lost between scoring and assembly) must not write the call with a turn missing.

    Provoked by handing `AssembleCalls` every turn of a real prepared call but the
    last, as a runner would within one bundle; nothing else can lose a turn.
    """
    info, call = prepared_call
    n_turns = len(call.turns)
    assemble = AssembleCalls(RunContext(run_id="r1", model_version=info.model_version, classes=info.classes))
    assemble.start_bundle()
    emitted = [out for ref, windows in zip(call.turns[:-1], call.windows[:-1])
               for out in assemble.process(_scored(ref, windows))]
    finished = [windowed.value for windowed in assemble.finish_bundle()]
    assert emitted == []
    (error,) = finished
    assert isinstance(error, ErrorResult)
    assert error.error_row["stage"] == "score"
    assert error.error_row["reason"] == f"only {n_turns - 1} of {n_turns} turns came back from scoring"
    assert error.error_row["call_id"] == call.call.identity.call_id


def test_a_complete_call_is_assembled_and_nothing_is_left_for_the_end_of_the_bundle(prepared_call):
    info, call = prepared_call
    assemble = AssembleCalls(RunContext(run_id="r1", model_version=info.model_version, classes=info.classes))
    assemble.start_bundle()
    emitted = [out for ref, windows in zip(call.turns, call.windows) for out in assemble.process(_scored(ref, windows))]
    (result,) = emitted
    assert isinstance(result, CallResult) and len(result.segment_rows) == len(call.turns)
    assert list(assemble.finish_bundle()) == []


# The killed run: the real CLI, with one function wrapped so that the process SIGKILLs its own group at the
# one moment no outside observer can hit without a race: inside the second batch's transaction, after that
# batch's segments rows are inserted and before its calls rows are.
_KILLED_INSIDE_THE_SECOND_BATCH = """
import os, signal, sys
from beam_pipeline.warehouse import duckdb_sink
from beam_pipeline.cli.main import main

real_arrow_table = duckdb_sink.arrow_table
calls_batches = 0

def arrow_table(table, rows):
    global calls_batches
    if table == "calls":
        calls_batches += 1
        if calls_batches == 2:
            os.killpg(os.getpgid(0), signal.SIGKILL)
    return real_arrow_table(table, rows)

duckdb_sink.arrow_table = arrow_table
sys.exit(main(sys.argv[1:]))
"""


def _night_of_copies(folder: Path, n_calls: int) -> Path:
    folder.mkdir()
    sources = sorted(p for p in CALLS.glob("call_000*") if p.suffix != ".json")
    for i in range(n_calls):
        source = sources[i % len(sources)]
        (folder / f"c{i:03d}{source.suffix}").symlink_to(source)
    return folder


def test_a_run_killed_inside_a_transaction_keeps_only_whole_calls_and_the_rerun_finishes(tmp_path):
    """A kill mid-batch (before its commit), not just after one: DuckDB drops the open transaction on reopening.

    After the kill the file holds the first batch's calls, whole, and nothing of the
    second (no segments without their call); the re-run writes the rest, each once.
    """
    night = _night_of_copies(tmp_path / "night", 6)
    db = tmp_path / "killed.duckdb"
    args = ["run", "--input", str(night), "--output", str(db), "--write-every-calls", "2", "--workers", "1"]
    killed = subprocess.run([sys.executable, "-c", _KILLED_INSIDE_THE_SECOND_BATCH, *args], cwd=REPO,
                            capture_output=True, text=True, timeout=900, start_new_session=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    partial = _rows(db, "SELECT count(*) FROM calls")[0][0]
    assert 0 < partial < 6
    assert _rows(db, "SELECT count(*) FROM segments s ANTI JOIN calls c USING (recording_uri)") == [(0,)]
    assert _rows(db, "SELECT sum(turn_count) FROM calls") == _rows(db, "SELECT count(*) FROM segments")
    assert _rows(db, "SELECT status FROM runs") == [("running",)]

    again = subprocess.run([sys.executable, "-m", "beam_pipeline.cli.main", *args], cwd=REPO, capture_output=True,
                           text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"calls ok {6 - partial}, skipped {partial}, failed 0" in again.stdout
    assert sorted(_rows(db, "SELECT status FROM runs")) == [("died",), ("succeeded",)]
    assert _rows(db, "SELECT count(*), count(DISTINCT recording_uri) FROM calls") == [(6, 6)]
    assert _rows(db, "SELECT count(*) - count(DISTINCT (recording_uri, turn_index)) FROM segments") == [(0,)]
    assert _rows(db, "SELECT sum(turn_count) FROM calls") == _rows(db, "SELECT count(*) FROM segments")
