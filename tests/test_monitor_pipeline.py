"""run_metrics as a real `callmood run` writes it: DuckDB through the CLI, BigQuery on the emulator; re-runs and retention."""
from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from beam_pipeline.warehouse.run_metrics import METRICS
from tests import cli

REPO = Path(__file__).resolve().parents[1]
CALLS = REPO / "examples" / "calls"
DEMO_NIGHT = dt.date(2026, 11, 23)      # every demo call's date (sidecar or path)
UTC = dt.timezone.utc


def _callmood(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return cli.run(*args, env={**os.environ, **(env or {})})


def _rows(db: Path, sql: str, params=()) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> dict:
    calls = tmp_path_factory.mktemp("monitored") / "calls"
    shutil.copytree(CALLS, calls)
    db = calls.parent / "results.duckdb"
    done = _callmood("run", "--input", str(calls), "--output", str(db))
    assert done.returncode == 0, done.stderr[-3000:]
    (run_id,) = _rows(db, "SELECT run_id FROM runs")[0]
    return {"calls": calls, "db": db, "run_id": run_id}


def test_a_run_snapshots_its_night_from_the_rows_it_wrote(night):
    db = night["db"]
    assert _rows(db, "SELECT DISTINCT run_id, call_date FROM run_metrics") == [(night["run_id"], DEMO_NIGHT)]
    n_items = dict(_rows(db, "SELECT DISTINCT metric, n_items FROM run_metrics"))
    (n_calls, n_turns), = _rows(db, "SELECT (SELECT count(*) FROM calls), (SELECT count(*) FROM segments)")
    assert set(n_items) == {m.name for m in METRICS}
    assert all(n_items[m.name] == (n_calls if m.population == "calls" else n_turns) for m in METRICS)
    shares = dict(_rows(db, "SELECT bin_label, bin_share FROM run_metrics WHERE metric = 'top_emotion'"))
    counted = dict(_rows(db, "SELECT top_emotion, count(*) / sum(count(*)) OVER () FROM segments GROUP BY 1"))
    assert shares == pytest.approx(counted)
    (snr_mean,), = _rows(db, "SELECT avg(snr_db) FROM segments")
    assert _rows(db, "SELECT mean_value FROM run_metrics WHERE metric = 'snr_db' LIMIT 1")[0][0] == \
        pytest.approx(snr_mean)
    assert 0 < snr_mean < 100
    codecs = {label for (label,) in _rows(db, "SELECT bin_label FROM run_metrics WHERE metric = 'codec'")}
    assert codecs <= {"pcm", "mulaw", "alaw", "flac", "mp3", "vorbis", "opus", "aac"} and len(codecs) >= 3


def test_monitor_reads_the_run_and_compares_it_with_the_training_baseline(night):
    """`callmood monitor` on the demo night: each row restates the night's segments and the shipped baseline.

    The night's side is worked out here from the segments themselves (count and
    mean, or the commonest top emotion and its share), the baseline's from
    ser_model/artifacts/baseline_metrics.json; per-call metrics have no training
    counterpart (n/a), and each verdict is the printed PSI and JS against the
    default thresholds (0.2, 0.1): the demo night's 100-odd turns are enough to judge.
    """
    import json

    from beam_pipeline.monitoring.monitor import TRAINING_BASELINE
    from tests.test_monitor import report_rows

    done = _callmood("monitor", "--db", str(night["db"]))
    assert done.returncode == 0, done.stderr
    baseline = json.loads(TRAINING_BASELINE.read_text())
    assert done.stdout.startswith(f"night {DEMO_NIGHT} (run {night['run_id']}) against training "
                                  f"({baseline['clips']} corpus clips via telephone, "
                                  f"model {baseline['model_version']})")
    rows = report_rows(done.stdout)
    assert set(rows) == {m.name for m in METRICS}
    for metric in METRICS:
        row = rows[metric.name]
        if metric.population == "calls":
            assert (row["baseline"], row["n_latest"], row["status"]) == ("-", "8", "n/a"), metric.name
            continue
        entry = baseline["metrics"][metric.name]
        if metric.numeric:
            (n, mean), = _rows(night["db"], f"SELECT count({metric.sql}), avg({metric.sql}) FROM segments")
            assert (row["baseline"], row["latest"]) == (f"{entry['mean_value']:.3g}", f"{mean:.3g}"), metric.name
        else:
            (n,), = _rows(night["db"], "SELECT count(top_emotion) FROM segments")
            (top, count), = _rows(night["db"], "SELECT top_emotion, count(*) FROM segments GROUP BY 1 "
                                               "ORDER BY 2 DESC LIMIT 1")
            base_top = max(entry["bins"], key=entry["bins"].get)
            assert row["baseline"] == f"{base_top} {entry['bins'][base_top] / entry['n_items']:.0%}"
            assert row["latest"] == f"{top} {count / n:.0%}"
        assert (row["n_base"], row["n_latest"]) == (str(entry["n_items"]), str(n)), metric.name
        assert n >= 50
        drifted = float(row["psi"]) > 0.2 or float(row["js"]) > 0.1
        assert row["status"] == ("DRIFT" if drifted else "ok"), (metric.name, row)


def test_a_rerun_that_skips_everything_leaves_the_snapshot_and_a_reprocess_adds_one(night):
    db = night["db"]
    before = _rows(db, "SELECT * FROM run_metrics ORDER BY metric, bin_index")
    again = _callmood("run", "--input", str(night["calls"]), "--output", str(db))
    assert again.returncode == 0 and "calls ok 0, skipped 8" in again.stdout
    assert _rows(db, "SELECT * FROM run_metrics ORDER BY metric, bin_index") == before
    redo = _callmood("run", "--input", str(night["calls"] / "call_000[12].*"), "--output", str(db), "--reprocess")
    assert redo.returncode == 0, redo.stderr[-3000:]
    runs = {r for (r,) in _rows(db, "SELECT DISTINCT run_id FROM run_metrics")}
    assert len(runs) == 2 and night["run_id"] in runs
    (newest,) = runs - {night["run_id"]}
    # the reprocess rewrote two calls but snapshots the whole night; the view shows the newest snapshot
    assert _rows(db, "SELECT DISTINCT run_id, n_items FROM monitoring_nightly WHERE metric = 'duration_s'") == \
        [(newest, 8)]
    assert _rows(db, "SELECT count(*) FROM run_metrics WHERE run_id = ?", [newest]) == [(len(before),)]


def test_retention_deletes_old_call_rows_and_keeps_the_metrics(night, tmp_path):
    from beam_pipeline.warehouse.rows import CallResult, ErrorResult
    from beam_pipeline.warehouse.duckdb_sink import DuckDBSink

    db = tmp_path / "retained.duckdb"
    shutil.copy(night["db"], db)
    old_day = DEMO_NIGHT - dt.timedelta(days=30)
    sink = DuckDBSink(str(db))
    stamp = {"call_id": "old", "recording_uri": "gs://x/old.wav", "call_date": old_day, "model_version": "m",
             "run_id": "old-run", "processed_at": dt.datetime(2026, 10, 24, tzinfo=UTC)}
    sink.replace_calls([CallResult("gs://x/old.wav", stamp, ({**stamp, "turn_index": 0, "speaker": "agent"},)),
                        ErrorResult("gs://x/bad.wav", {"recording_uri": "gs://x/bad.wav", "stage": "decode",
                                                       "reason": "not audio", "run_id": "old-run",
                                                       "occurred_at": dt.datetime(2026, 10, 24, tzinfo=UTC)})])
    sink.write_run_metrics("old-run", dt.datetime(2026, 10, 24, 3, tzinfo=UTC))
    # keep the demo night (whatever today is), drop the night 30 days before it
    keep_days = (dt.datetime.now(UTC).date() - DEMO_NIGHT).days + 2
    done = _callmood("run", "--input", str(night["calls"]), "--output", str(db), "--retention-days", str(keep_days))
    assert done.returncode == 0, done.stderr[-3000:]
    for table in ("segments", "calls", "errors"):
        assert _rows(db, f"SELECT count(*) FROM {table} WHERE recording_uri LIKE 'gs://x/%'") == [(0,)], table
    assert _rows(db, "SELECT count(*) FROM calls") == [(8,)]
    assert _rows(db, "SELECT count(*) FROM run_metrics WHERE call_date = ?", [old_day])[0][0] > 0


def test_retention_days_must_be_positive():
    done = _callmood("run", "--input", str(CALLS), "--output", "/nonexistent/x.duckdb", "--retention-days", "0")
    assert done.returncode == 2 and "--retention-days must be at least 1" in done.stderr


# ------------------------------------------------------------------------------------------- BigQuery


def test_a_run_into_bigquery_writes_the_same_metrics_and_a_rerun_adds_none(night, bq_dataset, tmp_path, capsys):
    from tests.emulators import bigquery_client, query

    output = f"bq://{bq_dataset}"
    done = _callmood("run", "--input", str(night["calls"]), "--output", output, "--retention-days", "400")
    assert done.returncode == 0, done.stderr[-3000:]
    client = bigquery_client()
    table = f"{bq_dataset}.run_metrics"
    rows = query(client, f"SELECT metric, bin_label, bin_count, n_items FROM `{table}`")
    expected = _rows(night["db"], "SELECT metric, bin_label, bin_count, n_items FROM run_metrics WHERE run_id = ?",
                     [night["run_id"]])
    assert sorted((r["metric"], r["bin_label"], r["bin_count"], r["n_items"]) for r in rows) == sorted(expected)
    # Checked now: the emulator forgets it on the next CREATE TABLE IF NOT EXISTS, and it does not keep errors'
    # DATE(occurred_at) partitioning at all (BigQuery does, and gets the expiration too).
    for name in ("segments", "calls"):
        assert client.get_table(f"{bq_dataset}.{name}").time_partitioning.expiration_ms == 400 * 86_400_000, name
    again = _callmood("run", "--input", str(night["calls"]), "--output", output)
    assert again.returncode == 0 and "skipped 8" in again.stdout
    assert query(client, f"SELECT count(*) AS n FROM `{table}`")[0]["n"] == len(expected)
    from beam_pipeline.warehouse.bigquery_sink import BigQuerySink

    (run_id,) = {r["run_id"] for r in query(client, f"SELECT run_id FROM `{table}`")}
    BigQuerySink.from_output(output).write_run_metrics(run_id, dt.datetime.now(UTC))   # a retried write
    assert query(client, f"SELECT count(*) AS n FROM `{table}`")[0]["n"] == len(expected)
    report = _callmood("monitor", "--output", output, "--baseline", "training")
    assert report.returncode == 0, report.stderr
    # the same night scored into DuckDB gives the same report, row for row, whichever warehouse holds it
    from beam_pipeline.monitoring import monitor
    from tests.test_monitor import report_rows

    assert report.stdout.startswith(f"night {DEMO_NIGHT} (run {run_id}) against training")
    assert monitor.main(["--db", str(night["db"]), "--baseline", "training"]) == monitor.EXIT_OK
    from_duckdb = report_rows(capsys.readouterr().out)
    assert report_rows(report.stdout) == from_duckdb and len(from_duckdb) == len(METRICS)
    view = query(client, f"SELECT DISTINCT metric, n_items FROM `{bq_dataset}.monitoring_nightly`")
    assert {r["metric"] for r in view} == {m.name for m in METRICS}
