"""The DuckDB sink: tables from sql/ DDL, replace-not-append per recording, runs."""
import datetime as dt

import duckdb
import pytest

from beam_pipeline.warehouse.rows import CallResult, ErrorResult
from beam_pipeline.warehouse import open_sink
from beam_pipeline.warehouse.duckdb_sink import DuckDBSink
from sql.schema import VIEWS, columns, view_columns

NOW = dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.timezone.utc)
DAY = dt.date(2026, 11, 23)


def _call(uri: str, n_turns: int, version: str = "ser-test", run_id: str = "r1") -> CallResult:
    segments = tuple({
        "call_id": uri.rsplit("/", 1)[-1], "recording_uri": uri, "call_date": DAY, "agent_id": "A1",
        "queue": "billing", "turn_index": i, "speaker": "agent" if i % 2 == 0 else "customer", "channel": i % 2,
        "start_s": 2.0 * i, "end_s": 2.0 * i + 1.5, "prob_angry": 0.5, "prob_disgust": 0.1, "prob_fear": 0.1,
        "prob_happy": 0.1, "prob_neutral": 0.1, "prob_sad": 0.1, "top_emotion": "angry", "top_confidence": 0.5,
        "arousal": 0.3, "valence": -0.3, "loudness_dbfs": -20.0, "pitch_median_hz": None, "speech_ratio": 0.9,
        "overlap_s": 0.0, "n_windows": 1, "model_version": version, "run_id": run_id, "processed_at": NOW,
    } for i in range(n_turns))
    call = {"call_id": uri.rsplit("/", 1)[-1], "recording_uri": uri, "call_date": DAY, "started_at": None,
            "agent_id": "A1", "queue": "billing", "duration_s": 60.0, "n_channels": 2, "turn_count": n_turns,
            "frustration_score": 0.55, "model_version": version, "run_id": run_id, "processed_at": NOW}
    return CallResult(uri, call, segments)


def _error(uri: str, reason: str = "not audio") -> ErrorResult:
    return ErrorResult(uri, {"recording_uri": uri, "call_id": None, "call_date": None, "stage": "decode",
                             "reason": reason, "model_version": "ser-test", "run_id": "r1", "occurred_at": NOW})


@pytest.fixture
def sink(tmp_path) -> DuckDBSink:
    sink = open_sink(str(tmp_path / "out" / "results.duckdb"))
    sink.ensure_tables()
    return sink


def _count(sink: DuckDBSink, sql: str) -> int:
    with duckdb.connect(sink.path, read_only=True) as con:
        return con.execute(sql).fetchone()[0]


def test_tables_match_the_ddl(sink):
    with duckdb.connect(sink.path, read_only=True) as con:
        for table in ("segments", "calls", "errors", "runs"):
            names = [row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()]
            assert names == [c.name for c in columns(table)]


def test_rewriting_a_call_replaces_its_rows_instead_of_adding(sink):
    sink.replace_calls([_call("/x/a.wav", 3), _call("/x/b.wav", 2)])
    sink.replace_calls([_call("/x/a.wav", 4, run_id="r2")])
    assert _count(sink, "SELECT count(*) FROM segments") == 6
    assert _count(sink, "SELECT count(*) FROM segments WHERE recording_uri = '/x/a.wav' AND run_id = 'r2'") == 4
    assert _count(sink, "SELECT count(*) FROM calls") == 2


def test_a_recording_that_now_succeeds_loses_its_old_error(sink):
    sink.replace_calls([_error("/x/a.wav"), _error("/x/c.wav")])
    sink.replace_calls([_call("/x/a.wav", 1), _error("/x/c.wav", "still broken")])
    assert _count(sink, "SELECT count(*) FROM errors") == 1
    assert _count(sink, "SELECT count(*) FROM errors WHERE reason = 'still broken'") == 1
    assert _count(sink, "SELECT count(*) FROM calls") == 1


def test_done_recordings_are_per_model_version(sink):
    sink.replace_calls([_call("/x/a.wav", 1, version="ser-old"), _call("/x/b.wav", 1, version="ser-new"),
                        _error("/x/c.wav")])
    assert sink.done_recordings("ser-new") == {"/x/b.wav"}
    assert sink.done_recordings("ser-none") == set()


def _table_rows(sink: DuckDBSink) -> dict[str, list[tuple]]:
    with duckdb.connect(sink.path, read_only=True) as con:
        return {table: con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
                for table in ("segments", "calls", "errors", "recording_paths")}


def test_a_batch_that_fails_part_way_leaves_the_warehouse_as_it_was(sink):
    """One transaction per batch: a failure after some of the batch's statements succeeded undoes them all.

    The batch replaces a.wav, whose old rows are already there. Its segments
    delete and insert succeed; its calls insert then fails (NOT NULL). Without
    the transaction a.wav would be left with the new segments and no calls row.
    """
    sink.replace_calls([_call("/x/a.wav", 3), _call("/x/b.wav", 2), _error("/x/c.wav")])
    before = _table_rows(sink)
    good = _call("/x/a.wav", 5, run_id="r2")
    bad = _call("/x/b.wav", 1, run_id="r2")
    bad.call_row["call_date"] = None                  # calls.call_date is NOT NULL; its segment is fine
    with pytest.raises(duckdb.ConstraintException, match="NOT NULL constraint failed: calls.call_date"):
        sink.replace_calls([good, bad, _error("/x/c.wav", "read again")])
    assert _table_rows(sink) == before


def test_run_rows_are_upserted(sink):
    row = {"run_id": "r1", "started_at": NOW, "status": "running"}
    sink.write_run(row)
    sink.write_run({**row, "status": "succeeded", "calls_ok": 3, "finished_at": NOW})
    with duckdb.connect(sink.path, read_only=True) as con:
        assert con.execute("SELECT status, calls_ok FROM runs").fetchall() == [("succeeded", 3)]


def test_ensure_tables_creates_the_analysis_views_too_and_can_run_again(sink):
    sink.ensure_tables()
    with duckdb.connect(sink.path, read_only=True) as con:
        views = {row[0] for row in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        assert views == set(VIEWS)
        for view in VIEWS:
            names = [row[0] for row in con.execute(f"DESCRIBE {view}").fetchall()]
            assert names == list(view_columns(view))


def test_bigquery_output_opens_the_bigquery_sink_without_connecting():
    from beam_pipeline.warehouse.bigquery_sink import BigQuerySink

    sink = open_sink("bq://my-project.callmood")
    assert isinstance(sink, BigQuerySink)
    assert (sink.project, sink.dataset, sink._client) == ("my-project", "callmood", None)
    assert sink.describe() == "bq://my-project.callmood"


def test_only_local_runs_left_running_are_marked_died(sink):
    now = dt.datetime(2026, 11, 23, 22, 0, tzinfo=dt.timezone.utc)
    for run_id, runner, status in [("local-killed", "FnApiRunner", "running"),
                                   ("on-dataflow", "DataflowRunner", "running"),
                                   ("local-done", "FnApiRunner", "succeeded")]:
        sink.write_run({"run_id": run_id, "started_at": now, "status": status, "runner": runner})
    assert sink.mark_runs_died(["FnApiRunner", "DirectRunner"]) == ["local-killed"]
    with duckdb.connect(sink.path, read_only=True) as con:
        statuses = dict(con.execute("SELECT run_id, status FROM runs").fetchall())
    assert statuses == {"local-killed": "died", "on-dataflow": "running", "local-done": "succeeded"}


def test_a_live_local_run_holds_the_lock_that_tells_a_new_run_it_is_not_alone(tmp_path):
    import subprocess
    import sys

    from beam_pipeline.warehouse.run_lock import LocalRunLock

    with LocalRunLock("out.duckdb", lock_dir=str(tmp_path)) as alone:
        assert alone
        # A second process (a second run of the same output) sees the first one alive.
        probe = ("import sys; from beam_pipeline.warehouse.run_lock import LocalRunLock\n"
                 f"with LocalRunLock('out.duckdb', lock_dir={str(tmp_path)!r}) as alone: sys.exit(0 if alone else 3)")
        assert subprocess.run([sys.executable, "-c", probe]).returncode == 3
    assert subprocess.run([sys.executable, "-c", probe]).returncode == 0


def test_rows_the_warehouse_refuses_become_one_errors_row_and_the_rest_of_the_batch_is_written(sink):
    from beam_pipeline.warehouse.sink import WriteResults

    bad = _call("/night/bad\udcff.wav", 2)            # a file name that is not UTF-8: no string column takes it
    writer = WriteResults(sink, write_every_calls=10)
    writer.start_bundle()
    for result in (_call("/night/good_1.wav", 3), bad, _call("/night/good_2.wav", 2)):
        writer.process(result)
    writer.finish_bundle()
    assert _count(sink, "SELECT count(*) FROM calls") == 2
    assert _count(sink, "SELECT count(*) FROM segments") == 5
    with duckdb.connect(sink.path, read_only=True) as con:
        errors = con.execute("SELECT recording_uri, stage, reason FROM errors").fetchall()
    assert len(errors) == 1
    uri, stage, reason = errors[0]
    assert (uri, stage) == ("/night/bad\\udcff.wav", "write") and "refused" in reason


def _pseudonymised(call: CallResult, clear_uri: str) -> CallResult:
    return CallResult(call.recording_uri, call.call_row, call.segment_rows, clear_uri=clear_uri)


def test_clear_paths_go_to_recording_paths_only_and_done_knows_both_spellings(sink):
    clear = "/night/out-5551234567-20261123-101500.wav"
    stored = "/night/out-tel-abcdefghijkl-20261123-101500.wav"
    sink.replace_calls([_pseudonymised(_call(stored, 2), clear), _call("/night/plain.wav", 1)])
    sink.replace_calls([_pseudonymised(_call(stored, 2), clear)])                  # a re-run: still one of each
    with duckdb.connect(sink.path, read_only=True) as con:
        assert con.execute("SELECT recording_uri, clear_uri FROM recording_paths").fetchall() == [(stored, clear)]
        assert con.execute("SELECT count(*) FROM calls WHERE recording_uri LIKE '%5551234567%'").fetchone() == (0,)
    assert sink.done_recordings("ser-test") == {stored, clear, "/night/plain.wav"}   # a match yields the clear one
    sink.apply_retention(1, today=DAY + dt.timedelta(days=30))
    assert _count(sink, "SELECT count(*) FROM recording_paths") == 0                  # clear paths expire too


def test_retention_keeps_the_cutoff_day_and_deletes_the_day_before_it(sink):
    """--retention-days 30 on Dec 23 keeps call dates from Nov 23 on: the boundary day itself, checked on both sides.

    A call and its clear path on each of Nov 22, 23 and 24, and two errors with no
    call date, written one second either side of Nov 23 00:00 UTC. A cut-off one
    day out either way, or an hour's shift of the written-at rule, changes the answer.
    """
    days = {"before": DAY - dt.timedelta(days=1), "cutoff": DAY, "after": DAY + dt.timedelta(days=1)}
    calls = []
    for name, day in days.items():
        call = _call(f"/night/tel-{name}.wav", 2)
        for row in (call.call_row, *call.segment_rows):
            row["call_date"] = day
        calls.append(_pseudonymised(call, f"/night/555-{name}.wav"))
    midnight = dt.datetime.combine(DAY, dt.time(), dt.timezone.utc)
    late, early = _error("/night/late.wav"), _error("/night/early.wav")
    late.error_row["occurred_at"] = midnight - dt.timedelta(seconds=1)
    early.error_row["occurred_at"] = midnight
    sink.replace_calls([*calls, late, early])
    sink.apply_retention(30, today=dt.date(2026, 12, 23))
    with duckdb.connect(sink.path, read_only=True) as con:
        kept = {table: sorted(uri.rsplit("/", 1)[-1] for (uri,) in
                              con.execute(f"SELECT DISTINCT recording_uri FROM {table}").fetchall())
                for table in ("segments", "calls", "errors", "recording_paths")}
    assert kept == {"segments": ["tel-after.wav", "tel-cutoff.wav"], "calls": ["tel-after.wav", "tel-cutoff.wav"],
                    "errors": ["early.wav"], "recording_paths": ["tel-after.wav", "tel-cutoff.wav"]}
