"""The BigQuery sink on the BigQuery emulator: tables and views from sql/, load jobs, replace-not-append, retries."""
from __future__ import annotations

import datetime as dt
import pickle

import pytest
from google.api_core import exceptions

from beam_pipeline.warehouse import open_sink
from beam_pipeline.warehouse.bigquery_sink import STAGING_PREFIX, BigQuerySink, ndjson, parse_output
from sql.schema import TABLES, VIEWS, columns
from tests.emulators import bigquery_client, query
from tests.test_duckdb_sink import NOW, _call, _error


@pytest.fixture
def sink(bq_dataset) -> BigQuerySink:
    sink = open_sink(f"bq://{bq_dataset}")
    sink.ensure_tables()
    return sink


def _count(sink: BigQuerySink, table: str, where: str = "TRUE") -> int:
    return query(sink.client, f"SELECT count(*) AS n FROM `{sink.table_id(table)}` WHERE {where}")[0]["n"]


def _table_ids(sink: BigQuerySink) -> set[str]:
    return {t.table_id for t in bigquery_client().list_tables(sink.dataset_ref)}


def test_ensure_tables_creates_the_tables_from_the_ddl_and_the_views_and_can_run_again(sink):
    sink.ensure_tables()   # every night: nothing fails, nothing is duplicated
    assert _table_ids(sink) == set(TABLES) | set(VIEWS)
    client = bigquery_client()
    for table in TABLES:
        fields = client.get_table(sink.table_id(table)).schema
        assert [(f.name, f.field_type, f.mode) for f in fields] == [
            (c.name, {"INT64": "INTEGER", "FLOAT64": "FLOAT"}.get(c.bigquery_type, c.bigquery_type), c.mode)
            for c in columns(table)]
    assert client.get_table(sink.table_id("segments")).time_partitioning.field == "call_date"


def test_rewriting_a_call_replaces_its_rows_instead_of_adding(sink):
    sink.replace_calls([_call("gs://x/a.wav", 3), _call("gs://x/b.wav", 2)])
    sink.replace_calls([_call("gs://x/a.wav", 4, run_id="r2")])
    assert _count(sink, "segments") == 6
    assert _count(sink, "segments", "recording_uri = 'gs://x/a.wav' AND run_id = 'r2'") == 4
    assert _count(sink, "calls") == 2


def test_writing_the_same_batch_twice_leaves_it_once(sink):
    batch = [_call("gs://x/a.wav", 3), _error("gs://x/c.wav")]
    sink.replace_calls(batch)
    sink.replace_calls(batch)   # what a retried Dataflow bundle does
    assert (_count(sink, "segments"), _count(sink, "calls"), _count(sink, "errors")) == (3, 1, 1)


def test_a_call_moved_to_another_date_leaves_nothing_in_its_old_partition(sink):
    """Writes delete only inside the partitions involved; a corrected sidecar's new date must not strand rows."""
    sink.replace_calls([_call("gs://x/a.wav", 3), _call("gs://x/b.wav", 2)])
    moved = _call("gs://x/a.wav", 2, run_id="r2")
    for row in (moved.call_row, *moved.segment_rows):
        row["call_date"] = dt.date(2026, 11, 30)
    sink.replace_calls([moved])
    assert _count(sink, "segments", "recording_uri = 'gs://x/a.wav'") == 2
    assert _count(sink, "calls", "recording_uri = 'gs://x/a.wav' AND call_date = '2026-11-30'") == 1
    assert (_count(sink, "segments"), _count(sink, "calls")) == (4, 2)


def test_a_recording_that_now_succeeds_loses_its_old_error(sink):
    sink.replace_calls([_error("gs://x/a.wav"), _error("gs://x/c.wav")])
    sink.replace_calls([_call("gs://x/a.wav", 1), _error("gs://x/c.wav", "still broken")])
    assert _count(sink, "errors") == 1
    assert _count(sink, "errors", "reason = 'still broken'") == 1
    assert _count(sink, "calls") == 1


def test_done_recordings_are_per_model_version(sink):
    sink.replace_calls([_call("gs://x/a.wav", 1, version="ser-old"), _call("gs://x/b.wav", 1, version="ser-new"),
                        _error("gs://x/c.wav")])
    assert sink.done_recordings("ser-new") == {"gs://x/b.wav"}
    assert sink.done_recordings("ser-none") == set()


def test_a_failed_batch_leaves_nothing_half_written_and_no_staging_tables(sink):
    sink.replace_calls([_call("gs://x/a.wav", 2)])
    good = _call("gs://x/a.wav", 5, run_id="r2")
    bad = _call("gs://x/b.wav", 2, run_id="r2")
    bad.segment_rows[1]["speaker"] = None  # violates NOT NULL
    # the warehouse's refusal, naming the column; an emulator outage or a bug in the sink is another error
    with pytest.raises(exceptions.BadRequest, match="NOT NULL constraint failed: segments.speaker"):
        sink.replace_calls([good, bad])
    assert _count(sink, "segments") == 2 and _count(sink, "segments", "run_id = 'r2'") == 0
    assert _count(sink, "calls") == 1
    assert not [t for t in _table_ids(sink) if t.startswith(STAGING_PREFIX)]


def test_run_rows_are_upserted(sink):
    row = {"run_id": "r1", "started_at": NOW, "status": "running"}
    sink.write_run(row)
    sink.write_run({**row, "status": "succeeded", "calls_ok": 3, "finished_at": NOW})
    assert query(sink.client, f"SELECT status, calls_ok FROM `{sink.table_id('runs')}`") == [
        {"status": "succeeded", "calls_ok": 3}]


def test_rows_arrive_by_load_jobs_into_staging_tables_never_streaming(sink):
    sink.replace_calls([_call("gs://x/a.wav", 2), _error("gs://x/c.wav")])
    loads = [job for job in bigquery_client().list_jobs(max_results=200)
             if job.job_type == "load" and job.destination.dataset_id == sink.dataset]
    assert {job.destination.table_id.split("_")[3] for job in loads} == {"segments", "calls", "errors"}
    assert all(job.destination.table_id.startswith(STAGING_PREFIX) for job in loads)
    assert not [t for t in _table_ids(sink) if t.startswith(STAGING_PREFIX)]


def test_the_sink_pickles_without_its_client_and_reconnects(sink):
    sink.done_recordings("ser-test")          # the client exists now
    copy = pickle.loads(pickle.dumps(sink))
    assert copy._client is None
    copy.replace_calls([_call("gs://x/a.wav", 1)])
    assert sink.done_recordings("ser-test") == {"gs://x/a.wav"}


def test_ndjson_carries_every_column_with_iso_times_and_no_nan():
    import json

    row = _call("gs://x/a.wav", 1).segment_rows[0] | {"pitch_median_hz": float("nan")}
    decoded = json.loads(ndjson("segments", [row]))
    assert list(decoded) == [c.name for c in columns("segments")]
    assert decoded["processed_at"] == "2026-11-24T02:00:00+00:00" and decoded["call_date"] == "2026-11-23"
    assert decoded["pitch_median_hz"] is None


@pytest.mark.parametrize("output, expected", [("bq://my-proj.callmood", ("my-proj", "callmood")),
                                              ("bq://example.com:proj-1.cm_2", ("example.com:proj-1", "cm_2"))])
def test_bq_outputs_name_a_project_and_dataset(output, expected):
    assert parse_output(output) == expected
    assert open_sink(output).describe() == output


@pytest.mark.parametrize("bad", ["bq://callmood", "bq://my-proj.", "bq://my-proj.call-mood", "bq://My_Proj.ds",
                                 "bq://my-proj.ds.table", "bq://my-proj.ds`x"])
def test_malformed_bq_outputs_are_refused_with_the_expected_form(bad):
    with pytest.raises(ValueError, match="bq://project.dataset"):
        open_sink(bad)


def test_writes_prune_by_the_partition_column_the_ddl_declares():
    from sql.schema import partition_column

    assert {t: partition_column(t) for t in TABLES} == {"segments": "call_date", "calls": "call_date",
                                                       "errors": None, "runs": None, "run_metrics": None,
                                                       "recording_paths": None}


def test_only_local_runs_left_running_are_marked_died(sink):
    for run_id, runner, status in [("local-killed", "FnApiRunner", "running"),
                                   ("on-dataflow", "DataflowRunner", "running"),
                                   ("local-done", "FnApiRunner", "succeeded")]:
        sink.write_run({"run_id": run_id, "started_at": NOW, "status": status, "runner": runner})
    assert sink.mark_runs_died(["FnApiRunner", "DirectRunner"]) == ["local-killed"]
    runs = sink.table_id("runs")
    statuses = {r["run_id"]: r["status"] for r in query(sink.client, f"SELECT run_id, status FROM `{runs}`")}
    assert statuses == {"local-killed": "died", "on-dataflow": "running", "local-done": "succeeded"}
    assert sink.mark_runs_died(["FnApiRunner"]) == []


def test_clear_paths_go_to_recording_paths_only_and_done_knows_both_spellings(sink):
    from beam_pipeline.warehouse.rows import CallResult

    clear, stored = "gs://x/out-5551234567-20261123.wav", "gs://x/out-tel-abcdefghijkl-20261123.wav"
    call = _call(stored, 2)
    for _ in range(2):                                                       # a re-run: still one of each
        sink.replace_calls([CallResult(stored, call.call_row, call.segment_rows, clear_uri=clear),
                            _call("gs://x/plain.wav", 1)])
    assert query(sink.client, f"SELECT recording_uri, clear_uri FROM `{sink.table_id('recording_paths')}`") == [
        {"recording_uri": stored, "clear_uri": clear}]
    assert _count(sink, "calls", "recording_uri LIKE '%5551234567%'") == 0
    assert sink.done_recordings("ser-test") == {stored, clear, "gs://x/plain.wav"}


def _transactions_answered(sink: BigQuerySink, monkeypatch, first_answer) -> list[str]:
    """Every transaction script the sink sends; the first is answered by `first_answer()` instead of the emulator.

    The emulator serialises writers, so it never makes a transaction lose to another
    one: the loss is injected at the one call where BigQuery reports it (the
    transaction's query job), and every other call reaches the emulator unchanged.
    """
    real_query = sink.query
    scripts: list[str] = []

    def query(sql: str, parameters=()):
        if "BEGIN TRANSACTION" in sql:
            scripts.append(sql)
            if len(scripts) == 1:
                first_answer()
        return real_query(sql, parameters)

    monkeypatch.setattr(sink, "query", query)
    return scripts


def test_a_transaction_that_loses_to_a_concurrent_writer_is_retried_whole(sink, monkeypatch):
    """Another worker writes the same recording first and BigQuery aborts our transaction: we retry the script.

    The retry re-runs the deletes too, so the batch replaces the winner's rows
    (a Dataflow retry of the same bundle, say) instead of landing beside them.
    """
    from google.api_core import exceptions

    winner = BigQuerySink(sink.project, sink.dataset)     # a second worker on the same dataset

    def lose_to_the_winner():
        winner.replace_calls([_call("gs://x/a.wav", 5, run_id="winner")])
        raise exceptions.BadRequest("Transaction is aborted due to concurrent update against table "
                                    f"{sink.table_id('segments')}.")

    scripts = _transactions_answered(sink, monkeypatch, lose_to_the_winner)
    sink.replace_calls([_call("gs://x/a.wav", 3)])
    assert len(scripts) == 2 and scripts[0] == scripts[1]
    assert query(sink.client, f"SELECT run_id, count(*) AS n FROM `{sink.table_id('segments')}` GROUP BY run_id") == [
        {"run_id": "r1", "n": 3}]
    assert _count(sink, "calls") == 1
    assert not [t for t in _table_ids(sink) if t.startswith(STAGING_PREFIX)]


def test_a_transaction_error_that_is_not_a_concurrent_update_is_not_retried(sink, monkeypatch):
    """Retrying a query BigQuery refuses for itself would only repeat it: it is raised at once, nothing written."""
    from google.api_core import exceptions

    def refuse():
        raise exceptions.BadRequest("Syntax error: Unexpected keyword INSERT at [3:1]")

    scripts = _transactions_answered(sink, monkeypatch, refuse)
    with pytest.raises(exceptions.BadRequest, match="Syntax error"):
        sink.replace_calls([_call("gs://x/a.wav", 3)])
    assert len(scripts) == 1
    assert (_count(sink, "segments"), _count(sink, "calls")) == (0, 0)
    assert not [t for t in _table_ids(sink) if t.startswith(STAGING_PREFIX)]
