"""`callmood run` on the bundled demo calls, through the real CLI, the Beam runner and DuckDB."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from benchmarks.demo_calls_accuracy import BALANCED_ACCURACY_FLOOR, balanced_accuracy, matched_turns
from tests import cli

REPO = Path(__file__).resolve().parents[1]
CALLS = REPO / "examples" / "calls"
TRUTH = json.loads((REPO / "examples" / "calls_truth.json").read_text())
# Each bad demo file's errors row: its stage, and the start of the reason that names the cause.
EXPECTED_ERRORS = {"call_corrupt.wav": ("decode", "corrupt or truncated WAV file"),
                   "voicemail_broken.mp3": ("decode", "not an audio file or unrecognised format")}
# The top emotion is the most probable class, and its probability is top_confidence.
TOP_IS_THE_ARGMAX_SQL = """
    top_confidence = GREATEST(prob_angry, prob_disgust, prob_fear, prob_happy, prob_neutral, prob_sad)
    AND top_confidence = CASE top_emotion WHEN 'angry' THEN prob_angry WHEN 'disgust' THEN prob_disgust
        WHEN 'fear' THEN prob_fear WHEN 'happy' THEN prob_happy WHEN 'neutral' THEN prob_neutral
        WHEN 'sad' THEN prob_sad END"""


def _callmood(*args: str) -> subprocess.CompletedProcess:
    return cli.run(*args)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    calls = tmp_path_factory.mktemp("night") / "calls"
    shutil.copytree(CALLS, calls)
    db = calls.parent / "results.duckdb"
    done = _callmood("run", "--input", str(calls), "--output", str(db))
    assert done.returncode == 0, done.stderr[-3000:]
    return {"calls": calls, "db": db, "stdout": done.stdout}


def _rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_every_good_recording_becomes_a_call_and_every_bad_one_an_error(first_run):
    calls = {row[0]: row[1:] for row in _rows(first_run["db"], "SELECT regexp_extract(recording_uri, '[^/]+$'), "
                                                               "call_id, agent_id, queue, call_date FROM calls")}
    assert set(calls) == set(TRUTH["recordings"])
    for name, truth in TRUTH["recordings"].items():
        call_id, agent_id, queue, call_date = calls[name]
        assert call_id == truth["call_id"]
        if truth["has_sidecar"]:
            assert (agent_id, queue) == (truth["agent_id"], truth["queue"])
        else:
            assert (agent_id, queue) == ("", "")
        assert str(call_date) == "2026-11-23"
    errors = {name: (stage, reason) for name, stage, reason in _rows(
        first_run["db"], "SELECT regexp_extract(recording_uri, '[^/]+$'), stage, reason FROM errors")}
    assert set(errors) == set(TRUTH["expected_errors"]) == set(EXPECTED_ERRORS)
    for name, (stage, cause) in EXPECTED_ERRORS.items():
        assert errors[name][0] == stage and errors[name][1].startswith(cause), (name, errors[name])
    assert "calls ok 8, skipped 0, failed 2" in first_run["stdout"]


def test_turns_are_cut_where_the_speakers_spoke(first_run):
    found = _rows(first_run["db"], "SELECT regexp_extract(recording_uri, '[^/]+$'), speaker, start_s, end_s "
                                   "FROM segments")
    by_call: dict[str, list[tuple]] = {}
    for name, speaker, start_s, end_s in found:
        by_call.setdefault(name, []).append((speaker, start_s, end_s))
    matched = total = 0
    for name, truth in TRUTH["recordings"].items():
        for turn in truth["turns"]:
            total += 1
            matched += any(speaker == turn["speaker"] and abs(start_s - turn["start_s"]) < 0.35
                           and abs(end_s - turn["end_s"]) < 0.35 for speaker, start_s, end_s in by_call[name])
    assert matched / total >= 0.85, f"only {matched} of {total} true turns found"


def test_probabilities_are_distributions_and_rows_carry_the_contract(first_run):
    bad = _rows(first_run["db"], """
        SELECT count(*) FROM segments
        WHERE abs(prob_angry + prob_disgust + prob_fear + prob_happy + prob_neutral + prob_sad - 1) > 1e-6
           OR NOT (""" + TOP_IS_THE_ARGMAX_SQL + """)
           OR arousal NOT BETWEEN -1 AND 1 OR valence NOT BETWEEN -1 AND 1
           OR model_version IS NULL OR run_id IS NULL OR end_s <= start_s""")
    assert bad == [(0,)]
    runs = _rows(first_run["db"], "SELECT status, calls_ok, calls_failed, turns_written FROM runs")
    turns = _rows(first_run["db"], "SELECT count(*) FROM segments")[0][0]
    assert runs == [("succeeded", 8, 2, turns)]


def test_the_model_names_the_acted_emotion_of_the_demo_turns_well_above_chance(first_run):
    """The rows the night wrote, scored against the acted emotion of each demo turn (examples/calls_truth.json).

    Balanced accuracy (the mean over acted emotions of the share called right) is
    the measure, because half the turns are neutral: a model that always answered
    neutral would get half the turns right, and the shipped model with its class
    list reversed still gets 23%, but both score a balanced accuracy near or below
    chance, 1/6. The shipped model
    ser-ebc5b85056d8 measured 0.51 (54 of 154 matched turns right) with
    benchmarks/demo_calls_accuracy.py on 2026-12-03; its class list reversed
    measured 0.10. The floor, 0.30 (BALANCED_ACCURACY_FLOOR there), is well above
    chance and well below the measured figure, so a retrained model passes and a
    mislabelled one fails.
    """
    by_call: dict[str, list[dict]] = {}
    for name, speaker, start_s, end_s, top_emotion in _rows(
            first_run["db"], "SELECT regexp_extract(recording_uri, '[^/]+$'), speaker, start_s, end_s, top_emotion "
                             "FROM segments"):
        by_call.setdefault(name, []).append({"speaker": speaker, "start_s": start_s, "end_s": end_s,
                                             "top_emotion": top_emotion})
    turns = matched_turns(TRUTH["recordings"], by_call.get)
    assert len(turns) >= 0.85 * sum(len(call["turns"]) for call in TRUTH["recordings"].values())
    score = balanced_accuracy(turns)
    assert score >= BALANCED_ACCURACY_FLOOR, f"balanced accuracy {score:.2f} on {len(turns)} demo turns"


def test_swapped_channel_map_from_the_sidecar_is_honoured(first_run):
    speakers = dict(_rows(first_run["db"], "SELECT channel, min(speaker) FROM segments "
                                           "WHERE recording_uri LIKE '%call_0006%' GROUP BY channel"))
    assert speakers == {0: "customer", 1: "agent"}


def _check_demo(db: Path, report: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "scripts" / "check_demo.py"), str(db), str(report)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)


def test_the_ci_smoke_check_passes_a_demo_night_and_names_what_a_broken_one_lacks(first_run, tmp_path):
    """scripts/check_demo.py, which CI runs after `make demo`: green on this night, red naming each gap.

    (Before the re-runs below, since it checks a fresh night's one runs row.)
    """
    report = tmp_path / "report.html"
    assert cli.run("dashboard", "--db", str(first_run["db"]), "--out", str(report), timeout=300).returncode == 0
    ok = _check_demo(first_run["db"], report)
    assert ok.returncode == 0, ok.stderr

    broken = tmp_path / "broken.duckdb"
    shutil.copy(first_run["db"], broken)
    with duckdb.connect(str(broken)) as con:
        con.execute("DELETE FROM segments WHERE recording_uri LIKE '%/call_0003.flac'")
        con.execute("DELETE FROM errors WHERE recording_uri LIKE '%/voicemail_broken.mp3'")
    failed = _check_demo(broken, tmp_path / "missing.html")
    assert failed.returncode == 1
    problems = [line for line in failed.stderr.splitlines() if line.startswith("check_demo: ")]
    laid_out = len(TRUTH["recordings"]["call_0003.flac"]["turns"])
    assert any(f"call_0003.flac: 0 turns in segments, {laid_out} laid out" in line for line in problems), problems
    assert any("errors rows for ['call_corrupt.wav']" in line for line in problems), problems
    assert any("missing.html was not written" in line for line in problems), problems


def test_a_second_run_skips_everything_and_reprocess_replaces(first_run):
    count_sql = "SELECT (SELECT count(*) FROM segments), (SELECT count(*) FROM calls), (SELECT count(*) FROM errors)"
    before = _rows(first_run["db"], count_sql)
    again = _callmood("run", "--input", str(first_run["calls"]), "--output", str(first_run["db"]))
    assert again.returncode == 0, again.stderr[-3000:]
    assert "calls ok 0, skipped 8, failed 2" in again.stdout
    assert _rows(first_run["db"], count_sql) == before
    redo = _callmood("run", "--input", str(first_run["calls"] / "call_000[12].*"), "--output",
                     str(first_run["db"]), "--reprocess")
    assert redo.returncode == 0, redo.stderr[-3000:]
    assert "calls ok 2, skipped 0, failed 0" in redo.stdout
    assert _rows(first_run["db"], count_sql) == before
    assert len(_rows(first_run["db"], "SELECT DISTINCT run_id FROM calls")) == 2


def test_score_prints_the_turns_of_one_recording():
    """`callmood score` as JSON and as a table: the table restates, turn by turn, what the JSON says."""
    done = _callmood("score", str(CALLS / "call_0002.ogg"), "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    call = result["call"]
    assert call["call_id"] == TRUTH["recordings"]["call_0002.ogg"]["call_id"]
    assert len(result["turns"]) >= 0.8 * len(TRUTH["recordings"]["call_0002.ogg"]["turns"])
    table = _callmood("score", str(CALLS / "call_0002.ogg"))
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["#", "speaker", "start_s", "end_s", "emotion", "conf", "arousal", "valence", "dBFS",
                                "f0_hz"]
    printed = [line.split()[:6] for line in lines[2:2 + len(result["turns"])]]
    assert printed == [[str(t["turn_index"]), t["speaker"], f"{t['start_s']:.2f}", f"{t['end_s']:.2f}",
                        t["top_emotion"], f"{t['top_confidence']:.2f}"] for t in result["turns"]]
    assert lines[-1] == (f"call {call['call_id']}: {call['duration_s']:.1f} s, {len(result['turns'])} turns, "
                         f"customer {call['first_customer_emotion']} -> {call['last_customer_emotion']}, "
                         f"frustration {call['frustration_score']:.2f}, model {call['model_version']}")
    broken = _callmood("score", str(CALLS / "voicemail_broken.mp3"))
    assert broken.returncode != 0 and "decode" in broken.stderr


def _night_of_copies(folder: Path, n_calls: int) -> Path:
    folder.mkdir()
    sources = sorted(p for p in CALLS.iterdir() if p.name in TRUTH["recordings"])
    for i in range(n_calls):
        source = sources[i % len(sources)]
        (folder / f"c{i:03d}{source.suffix}").symlink_to(source)
    return folder


@pytest.mark.parametrize("workers", [1, 2])
def test_a_killed_run_rerun_finishes_the_rest_without_duplicates(tmp_path, workers):
    import os
    import signal
    import time

    night = _night_of_copies(tmp_path / "night", 24)
    db = tmp_path / "killed.duckdb"
    args = cli.command("run", "--input", str(night), "--output", str(db), "--write-every-calls", "2",
                       "--workers", str(workers))
    # Its own session, so the kill takes the worker processes too, as an OOM kill of the job would.
    process = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    deadline = time.monotonic() + 600
    for line in process.stderr:
        if "written" in line and "recordings so far" in line:
            break
        assert time.monotonic() < deadline
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    partial = _rows(db, "SELECT count(*) FROM calls")[0][0]
    assert 0 < partial < 24
    assert _rows(db, "SELECT status FROM runs") == [("running",)]
    again = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"calls ok {24 - partial}, skipped {partial}, failed 0" in again.stdout
    assert "killed before it finished: marked died" in again.stderr
    assert sorted(_rows(db, "SELECT status FROM runs")) == [("died",), ("succeeded",)]
    assert _rows(db, "SELECT count(*), count(DISTINCT recording_uri) FROM calls") == [(24, 24)]
    assert _rows(db, "SELECT count(*) - count(DISTINCT (recording_uri, turn_index)) FROM segments") == [(0,)]
    orphans = _rows(db, "SELECT count(*) FROM segments s ANTI JOIN calls c USING (recording_uri)")
    assert orphans == [(0,)]


def test_calls_are_written_while_later_ones_are_still_being_scored(tmp_path):
    """The default runner writes as calls finish, not all at the end (a killed night keeps its finished calls)."""
    import datetime as dt

    night = _night_of_copies(tmp_path / "night", 40)
    done = _callmood("run", "--input", str(night), "--output", str(tmp_path / "r.duckdb"),
                     "--write-every-calls", "2", "--workers", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    stamps = [dt.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f") for line in done.stderr.splitlines()
              if "recordings so far" in line]
    started = next(dt.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f") for line in done.stderr.splitlines()
                   if "recordings matched" in line)
    assert len(stamps) == 20
    # Scoring 40 calls takes most of the run; had the writes waited for the last call, they would all
    # land within a fraction of a second at its very end.
    assert (stamps[-1] - stamps[0]) > 0.3 * (stamps[-1] - started)


def _same_rows(left: list[tuple], right: list[tuple], float_tolerance: float = 1e-6) -> bool:
    """Equal row for row; floats may differ in the last bits.

    Two workers hand the model other batches than one does, and a batched
    matrix product sums in another order: probabilities move by ~1e-8.
    Everything else (ids, times, labels, counts) must be identical.
    """
    if len(left) != len(right):
        return False
    for row_a, row_b in zip(left, right):
        for a, b in zip(row_a, row_b, strict=True):
            if isinstance(a, float) and isinstance(b, float):
                if abs(a - b) > float_tolerance:
                    return False
            elif a != b:
                return False
    return True


def test_two_workers_write_the_rows_of_one(tmp_path):
    night = _night_of_copies(tmp_path / "night", 10)
    tables = {}
    for workers in (1, 2):
        db = tmp_path / f"w{workers}.duckdb"
        done = _callmood("run", "--input", str(night), "--output", str(db), "--workers", str(workers))
        assert done.returncode == 0, done.stderr[-3000:]
        tables[workers] = (
            _rows(db, "SELECT * EXCLUDE (run_id, processed_at) FROM segments ORDER BY recording_uri, turn_index"),
            _rows(db, "SELECT * EXCLUDE (run_id, processed_at) FROM calls ORDER BY recording_uri"))
        assert _rows(db, "SELECT count(*) FROM calls")[0][0] == 10
    assert _same_rows(tables[1][0], tables[2][0]) and _same_rows(tables[1][1], tables[2][1])
