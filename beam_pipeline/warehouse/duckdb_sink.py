"""The embedded warehouse: one DuckDB file, tables and views created from the same SQL files as BigQuery's."""
from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Sequence

import duckdb
import pyarrow as pa

from beam_pipeline.warehouse import run_metrics
from beam_pipeline.warehouse.retention import RETAINED_TABLES, WRITTEN_AT, retention_cutoff
from beam_pipeline.warehouse.rows import CallResult, ErrorResult, path_row, processed_at
from beam_pipeline.warehouse.sink import Sink
from sql.schema import TABLES, VIEWS, columns, duckdb_ddl, duckdb_view

_ARROW_TYPES = {"STRING": pa.string(), "INT64": pa.int64(), "FLOAT64": pa.float64(), "DATE": pa.date32(),
                "TIMESTAMP": pa.timestamp("us", tz="UTC"), "BOOL": pa.bool_()}


def arrow_table(table: str, rows: Sequence[dict]) -> pa.Table:
    """Rows as an Arrow table typed from the DDL, so an all-NULL column still has its type."""
    schema = pa.schema([(c.name, _ARROW_TYPES[c.bigquery_type]) for c in columns(table)])
    return pa.Table.from_pylist([{name: row.get(name) for name in schema.names} for row in rows], schema=schema)


class UnusableOutputError(RuntimeError):
    """The output cannot take the night's rows (corrupt, not DuckDB, locked, not writable): stop before reading."""


class DuckDBSink(Sink):
    """Opens the file per transaction, so a reader (or the next run) is never locked out for long."""

    def __init__(self, path: str, lock_timeout_s: float = 60.0):
        self.path = str(Path(path).resolve())
        self._lock_timeout_s = lock_timeout_s

    def _connect(self) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self._lock_timeout_s
        while True:
            try:
                return duckdb.connect(self.path)
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def ensure_tables(self) -> None:
        """Create what is missing, then prove the file is usable, before the run reads any audio.

        A damaged DuckDB file can open, and even answer `done_recordings`, and
        still fail the first write: a checksum error in a block of `segments`
        that only the write's scan reaches. The night would then be scored in
        full and lost. Hashing every value of every table once here finds such
        damage up front (a hash, because DuckDB answers count() and min() from
        statistics without reading the blocks); any failure becomes an
        `UnusableOutputError` saying which file and why.
        """
        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as con:
                for table in TABLES:
                    con.execute(duckdb_ddl(table))
                for view in VIEWS:   # CREATE OR REPLACE: a new release's views replace the old ones
                    con.execute(duckdb_view(view))
                for table in TABLES:
                    con.execute(f"SELECT max(hash(COLUMNS(*))) FROM {table}").fetchall()   # reads every value
        except (duckdb.Error, OSError) as exc:
            raise UnusableOutputError(f"output {self.path} is not a usable DuckDB file: "
                                      f"{' '.join(str(exc).split())[:300]}") from exc

    def done_recordings(self, model_version: str) -> set[str]:
        """Stored uris of the calls done, and the clear path of each that was pseudonymised (what a match yields)."""
        with self._connect() as con:
            rows = con.execute("SELECT DISTINCT c.recording_uri, p.clear_uri FROM calls c "
                               "LEFT JOIN recording_paths p USING (recording_uri) WHERE c.model_version = ?",
                               [model_version]).fetchall()
        return {uri for row in rows for uri in row if uri is not None}

    def replace_calls(self, results: Sequence[CallResult | ErrorResult]) -> None:
        """Every row of these recordings replaced in one transaction; recording_paths rows only where a result brings one."""
        paths = [row for row in (path_row(r, processed_at()) for r in results) if row is not None]
        batches = {
            "segments": [row for r in results if isinstance(r, CallResult) for row in r.segment_rows],
            "calls": [r.call_row for r in results if isinstance(r, CallResult)],
            "errors": [r.error_row for r in results if isinstance(r, ErrorResult)],
            "recording_paths": paths,
        }
        keys = {table: sorted({r.recording_uri for r in results}) for table in batches}
        keys["recording_paths"] = sorted({row["recording_uri"] for row in paths})
        with self._connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                for table, rows in batches.items():
                    con.execute(f"DELETE FROM {table} WHERE recording_uri IN (SELECT unnest(?))", [keys[table]])
                    if rows:
                        con.register("staged", arrow_table(table, rows))
                        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM staged")
                        con.unregister("staged")
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise

    def write_run(self, run_row: dict) -> None:
        with self._connect() as con:
            con.execute("BEGIN TRANSACTION")
            con.execute("DELETE FROM runs WHERE run_id = ?", [run_row["run_id"]])
            con.register("staged", arrow_table("runs", [run_row]))
            con.execute("INSERT INTO runs BY NAME SELECT * FROM staged")
            con.execute("COMMIT")

    def mark_runs_died(self, runners: Sequence[str]) -> list[str]:
        with self._connect() as con:
            rows = con.execute("UPDATE runs SET status = 'died' WHERE status = 'running' AND runner IN "
                               "(SELECT unnest(?)) RETURNING run_id", [list(runners)]).fetchall()
        return sorted(run_id for (run_id,) in rows)

    def write_run_metrics(self, run_id: str, computed_at: dt.datetime) -> int:
        with self._connect() as con:
            nights = [night for (night,) in con.execute("SELECT DISTINCT call_date FROM calls WHERE run_id = ?",
                                                        [run_id]).fetchall()]
            if not nights:
                return 0
            cursor = con.execute(run_metrics.duckdb_sql(run_metrics.aggregate_sql(nights)))
            names = [d[0] for d in cursor.description]
            rows = run_metrics.metric_rows([dict(zip(names, r)) for r in cursor.fetchall()], run_id, computed_at)
            con.execute("BEGIN TRANSACTION")
            con.execute("DELETE FROM run_metrics WHERE run_id = ?", [run_id])
            con.register("staged", arrow_table("run_metrics", rows))
            con.execute("INSERT INTO run_metrics BY NAME SELECT * FROM staged")
            con.execute("COMMIT")
        return len(rows)

    def apply_retention(self, retention_days: int, today: dt.date | None = None) -> None:
        """Deletes the call rows of call dates before the cutoff; errors without a call date go by occurred_at."""
        cutoff = retention_cutoff(retention_days, today)
        cutoff_at = dt.datetime.combine(cutoff, dt.time(), dt.timezone.utc)
        with self._connect() as con:
            con.execute("BEGIN TRANSACTION")
            for table in RETAINED_TABLES:
                if table in WRITTEN_AT:
                    con.execute(f"DELETE FROM {table} WHERE COALESCE(call_date < ?, {WRITTEN_AT[table]} < ?)",
                                [cutoff, cutoff_at])
                else:
                    con.execute(f"DELETE FROM {table} WHERE call_date < ?", [cutoff])
            con.execute("COMMIT")

    def describe(self) -> str:
        return self.path
