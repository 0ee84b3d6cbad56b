"""The production path end to end: `callmood run` from gs:// into bq://, on the GCS and BigQuery emulators.

The demo night is uploaded to the GCS emulator under a dated prefix, the real CLI
runs in a subprocess (Beam's GCS filesystem and the BigQuery client find the
emulators through their environment variables alone), and the rows are read back
through the google-cloud-bigquery client.
"""
from __future__ import annotations

import json
import subprocess
import uuid
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest

from beam_pipeline.warehouse.rows import CallResult
from beam_pipeline.warehouse.duckdb_sink import DuckDBSink
from sql.schema import VIEWS, view_columns
from tests import cli
from tests.emulators import BUCKET, PROJECT, bigquery_client, query
from tests.test_end_to_end import EXPECTED_ERRORS, TOP_IS_THE_ARGMAX_SQL

REPO = Path(__file__).resolve().parents[1]
CALLS = REPO / "examples" / "calls"
TRUTH = json.loads((REPO / "examples" / "calls_truth.json").read_text())
NIGHT = "2026-11-23"
PREFIX = f"gs://{BUCKET}/{NIGHT}/"


def _callmood(*args: str) -> subprocess.CompletedProcess:
    return cli.run(*args, timeout=600)


@pytest.fixture(scope="module")
def night(emulators):
    from google.cloud import storage

    bucket = storage.Client(project=PROJECT).bucket(BUCKET)
    for path in sorted(CALLS.iterdir()):
        bucket.blob(f"{NIGHT}/{path.name}").upload_from_filename(str(path))
    dataset = f"{PROJECT}.night_{uuid.uuid4().hex[:8]}"
    args = ("run", "--input", PREFIX, "--output", f"bq://{dataset}", "--temp_location", f"gs://{BUCKET}/tmp")
    done = _callmood(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    return {"dataset": dataset, "args": args, "stdout": done.stdout, "client": bigquery_client()}


def _rows(night, sql: str) -> list[dict]:
    return query(night["client"], sql.replace("{ds}", night["dataset"]))


def test_every_recording_in_the_bucket_becomes_a_call_or_an_error(night):
    assert "calls ok 8, skipped 0, failed 2" in night["stdout"]
    calls = {r["recording_uri"].removeprefix(PREFIX): r
             for r in _rows(night, "SELECT recording_uri, call_id, agent_id, queue, call_date FROM `{ds}.calls`")}
    assert set(calls) == set(TRUTH["recordings"])      # every uri is gs://calls/2026-11-23/<name>
    for name, truth in TRUTH["recordings"].items():
        row = calls[name]
        assert row["call_id"] == truth["call_id"]
        expected = (truth["agent_id"], truth["queue"]) if truth["has_sidecar"] else ("", "")
        assert (row["agent_id"], row["queue"]) == expected, name    # sidecars read from gs:// too
        assert str(row["call_date"]) == NIGHT
    errors = {r["recording_uri"].removeprefix(PREFIX): (r["stage"], r["reason"])
              for r in _rows(night, "SELECT recording_uri, stage, reason FROM `{ds}.errors`")}
    assert set(errors) == set(TRUTH["expected_errors"]) == set(EXPECTED_ERRORS)
    for name, (stage, cause) in EXPECTED_ERRORS.items():       # read from gs://, the same causes as from disk
        assert errors[name][0] == stage and errors[name][1].startswith(cause), (name, errors[name])


def test_rows_carry_the_contract_and_the_run_is_recorded(night):
    bad = _rows(night, """
        SELECT count(*) AS n FROM `{ds}.segments`
        WHERE ABS(prob_angry + prob_disgust + prob_fear + prob_happy + prob_neutral + prob_sad - 1) > 1e-6
           OR NOT (""" + TOP_IS_THE_ARGMAX_SQL + """)
           OR arousal NOT BETWEEN -1 AND 1 OR valence NOT BETWEEN -1 AND 1
           OR end_s <= start_s OR NOT STARTS_WITH(recording_uri, 'gs://')""")
    assert bad == [{"n": 0}]
    turns = _rows(night, "SELECT count(*) AS n FROM `{ds}.segments`")[0]["n"]
    assert turns > 8 * 5
    runs = _rows(night, "SELECT status, calls_ok, calls_failed, turns_written, output, input_pattern "
                        "FROM `{ds}.runs`")
    assert runs == [{"status": "succeeded", "calls_ok": 8, "calls_failed": 2, "turns_written": turns,
                     "output": f"bq://{night['dataset']}", "input_pattern": PREFIX + "**"}]


def test_the_views_restate_the_pipelines_own_call_figures(night):
    """cx_call_summary computes from segments in SQL what rows.py computes in Python: they must agree."""
    pairs = _rows(night, """
        SELECT c.call_id, c.frustration_score, v.frustration_score AS view_frustration,
               c.first_customer_emotion, v.start_emotion, c.last_customer_emotion, v.end_emotion,
               c.customer_negative_share, v.negative_turn_share
        FROM `{ds}.calls` AS c JOIN `{ds}.cx_call_summary` AS v ON v.recording_uri = c.recording_uri""")
    assert len(pairs) == 8
    for row in pairs:
        assert row["view_frustration"] == pytest.approx(row["frustration_score"], abs=1e-9), row
        assert (row["start_emotion"], row["end_emotion"]) == (row["first_customer_emotion"],
                                                              row["last_customer_emotion"])
        assert row["negative_turn_share"] == pytest.approx(row["customer_negative_share"], abs=1e-9)
    agents = _rows(night, "SELECT agent_id, sum(calls) AS calls FROM `{ds}.agent_daily_wellbeing` GROUP BY agent_id")
    with_sidecar = [t["agent_id"] for t in TRUTH["recordings"].values() if t["has_sidecar"]]
    assert {r["agent_id"]: r["calls"] for r in agents} == {a: with_sidecar.count(a) for a in set(with_sidecar)}


def test_duckdb_gives_the_same_view_answers_on_the_nights_rows(night, tmp_path):
    segments, calls = defaultdict(list), {}
    for row in _rows(night, "SELECT * FROM `{ds}.segments` ORDER BY recording_uri, turn_index"):
        segments[row["recording_uri"]].append(row)
    for row in _rows(night, "SELECT * FROM `{ds}.calls`"):
        calls[row["recording_uri"]] = row
    sink = DuckDBSink(str(tmp_path / "copy.duckdb"))
    sink.ensure_tables()
    sink.replace_calls([CallResult(uri, call, tuple(segments[uri])) for uri, call in calls.items()])
    for snapshot in _rows(night, "SELECT DISTINCT run_id, computed_at FROM `{ds}.run_metrics`"):
        sink.write_run_metrics(snapshot["run_id"], snapshot["computed_at"])
    with duckdb.connect(sink.path, read_only=True) as con:
        for view in VIEWS:
            names = list(view_columns(view))
            key = ", ".join(str(position) for position in range(1, len(names) + 1))   # every column: a total order
            from_duckdb = con.execute(f"SELECT * FROM {view} ORDER BY {key}").fetchall()
            from_bigquery = _rows(night, f"SELECT * FROM `{{ds}}.{view}` ORDER BY {key}")
            assert len(from_duckdb) == len(from_bigquery) > 0
            for duck, big in zip(from_duckdb, from_bigquery):
                for name, value in zip(names, duck):
                    expected = big[name]
                    if isinstance(expected, float):
                        assert value == pytest.approx(expected, abs=1e-9), (view, name)
                    else:
                        assert value == expected, (view, name)


def test_a_rerun_skips_the_night_and_reprocess_replaces_it_without_duplicates(night):
    count_sql = ("SELECT (SELECT count(*) FROM `{ds}.segments`) AS segments, "
                 "(SELECT count(*) FROM `{ds}.calls`) AS calls, (SELECT count(*) FROM `{ds}.errors`) AS errors")
    before = _rows(night, count_sql)
    again = _callmood(*night["args"])
    assert again.returncode == 0, again.stderr[-3000:]
    assert "calls ok 0, skipped 8, failed 2" in again.stdout      # the broken two are tried again, not added
    assert _rows(night, count_sql) == before
    redo = _callmood(*night["args"], "--reprocess")
    assert redo.returncode == 0, redo.stderr[-3000:]
    assert "calls ok 8, skipped 0, failed 2" in redo.stdout
    assert _rows(night, count_sql) == before
    duplicates = _rows(night, "SELECT count(*) - count(DISTINCT CONCAT(recording_uri, '#', CAST(turn_index AS STRING)))"
                              " AS n FROM `{ds}.segments`")
    assert duplicates == [{"n": 0}]
    runs = _rows(night, "SELECT run_id, status FROM `{ds}.runs` ORDER BY started_at")
    assert [r["status"] for r in runs] == ["succeeded"] * 3
    written_by = _rows(night, "SELECT DISTINCT run_id FROM `{ds}.segments` UNION DISTINCT "
                              "SELECT DISTINCT run_id FROM `{ds}.calls`")
    assert written_by == [{"run_id": runs[-1]["run_id"]}]      # every row now comes from the reprocess


@pytest.mark.parametrize("given, words", [
    (f"gs://{BUCKET}/1999-01-01/", "nothing is stored under it"),                 # a mistyped night
    (f"gs://{BUCKET}/{NIGHT}", "no such object (a folder prefix ends with /)"),   # the folder, slash forgotten
    (f"gs://{BUCKET}/1999-01-01/*.wav", f"nothing is stored under gs://{BUCKET}/1999-01-01/"),
])
def test_a_gs_input_with_nothing_behind_it_is_an_error_not_a_quiet_night(night, given, words):
    """Before, these ran a night of zero calls and exited 0: a missing drop looked like a quiet night."""
    done = _callmood("run", "--input", given, "--output", f"bq://{night['dataset']}")
    assert done.returncode == 2, done.stdout + done.stderr[-2000:]
    assert words in done.stderr and "Traceback" not in done.stderr
    assert f"callmood run: input {given}" in done.stderr


def test_a_gs_glob_that_matches_none_of_a_nights_files_is_a_quiet_night(night, tmp_path):
    done = _callmood("run", "--input", f"gs://{BUCKET}/{NIGHT}/*.aiff", "--output", str(tmp_path / "r.duckdb"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "calls ok 0, skipped 0, failed 0" in done.stdout
