"""The production warehouse: BigQuery, written with load jobs and replaced per recording.

Why load jobs and not streaming inserts: rows still in the streaming buffer
cannot be deleted or updated for up to ~30 minutes, so a re-run (or a Dataflow
retry of a bundle) could not replace them and would duplicate them instead.
Each write therefore loads the batch into staging tables (a load job: free,
all-or-nothing, checked against the REQUIRED columns before anything changes),
then one multi-statement transaction deletes every row of those recordings and
inserts the staged ones. A batch is replaced whole or not at all, and writing it
twice leaves it once.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import logging
import math
import re
import time
import uuid
from typing import Iterable, Mapping, Sequence

from beam_pipeline.warehouse import run_metrics
from beam_pipeline.warehouse.retention import RETAINED_TABLES
from beam_pipeline.warehouse.rows import CallResult, ErrorResult, path_row, processed_at
from beam_pipeline.warehouse.sink import Sink
from sql.schema import TABLES, VIEWS, bigquery_ddl, bigquery_view, columns, partition_column

LOG = logging.getLogger(__name__)

SCHEME = "bq://"
# project ids: lower-case letters, digits and hyphens (optionally domain-scoped, "example.com:proj");
# datasets: letters, digits and underscores.
_OUTPUT_RE = re.compile(r"^bq://(?P<project>(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]{4,61}[a-z0-9])\.(?P<dataset>\w{1,1024})$",
                        re.ASCII)
STAGING_PREFIX = "_callmood_staging_"
STAGING_LIFETIME = dt.timedelta(days=1)   # a worker killed mid-write leaves nothing behind for long
# What BigQuery says when two transactions touch the same table at once; the loser may simply retry.
_CONCURRENT_UPDATE = re.compile(r"concurrent update|could not serialize access", re.IGNORECASE)


def parse_output(output: str) -> tuple[str, str]:
    """``bq://project.dataset`` -> (project, dataset); raises ValueError with the expected form."""
    match = _OUTPUT_RE.match(output)
    if not match:
        raise ValueError(f"BigQuery output {output!r} must look like bq://project.dataset "
                         "(project id: lower-case letters, digits, hyphens; dataset: letters, digits, underscores)")
    return match["project"], match["dataset"]


def _json_value(value):
    """A row value as BigQuery's newline-delimited JSON wants it: ISO dates and times, no NaN."""
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "item"):           # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def ndjson(table: str, rows: Iterable[Mapping]) -> bytes:
    """Rows as newline-delimited JSON with exactly the table's columns (missing ones NULL)."""
    names = [c.name for c in columns(table)]
    return "".join(json.dumps({n: _json_value(row.get(n)) for n in names}, allow_nan=False) + "\n"
                   for row in rows).encode("utf-8")


@dataclasses.dataclass(frozen=True)
class _Replacement:
    """One table's part of a write: which rows to delete (by key) and which staged rows to insert."""

    table: str
    staged: str | None       # full staging table id, or None when there is nothing to insert


class BigQuerySink(Sink):
    """``bq://project.dataset``; picklable: the client is created on first use in each process.

    Parameters
    ----------
    project, dataset : str
        Where the tables and views live.
    location : str, optional
        The dataset's location (``EU``, ``us-central1``): where jobs run, and
        where ensure_tables creates the dataset if it is missing. None lets
        BigQuery infer it from the tables a job reads or writes.
    job_timeout_s : float
        How long to wait for one load or query job; a job that is still running
        then raises, and Beam retries the bundle (the write is idempotent).
    """

    def __init__(self, project: str, dataset: str, location: str | None = None, job_timeout_s: float = 600.0):
        self.project = project
        self.dataset = dataset
        self.location = location
        self.job_timeout_s = job_timeout_s
        self._client = None

    @classmethod
    def from_output(cls, output: str) -> "BigQuerySink":
        return cls(*parse_output(output))

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_client": None}

    @property
    def client(self):
        if self._client is None:
            from google.cloud import bigquery

            self._client = bigquery.Client(project=self.project, location=self.location)
        return self._client

    @property
    def dataset_ref(self) -> str:
        return f"{self.project}.{self.dataset}"

    def table_id(self, table: str) -> str:
        return f"{self.dataset_ref}.{table}"

    def describe(self) -> str:
        return f"{SCHEME}{self.dataset_ref}"

    # -- jobs ----------------------------------------------------------------------------------

    def query(self, sql: str, parameters: Sequence = ()) -> list[dict]:
        """Rows of one query job; public because `callmood monitor` reads the warehouse through it."""
        from google.cloud import bigquery

        job = self.client.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=list(parameters)))
        return [dict(row) for row in job.result(timeout=self.job_timeout_s)]

    def _run_transaction(self, statements: Sequence[str], declarations: Sequence[str] = (),
                         attempts: int = 6) -> None:
        """Runs the statements as one transaction, retrying when a concurrent writer wins the table."""
        from google.api_core import exceptions

        script = "".join(f"{d};\n" for d in declarations) + "BEGIN TRANSACTION;\n" + ";\n".join(statements) + \
            ";\nCOMMIT TRANSACTION;"
        for attempt in range(attempts):
            try:
                self.query(script)
                return
            except exceptions.GoogleAPICallError as exc:
                if attempt + 1 == attempts or not _CONCURRENT_UPDATE.search(str(exc)):
                    raise
                wait_s = min(30.0, 2.0 ** attempt)
                LOG.info("transaction on %s lost to a concurrent writer; retrying in %.0f s", self.dataset_ref, wait_s)
                time.sleep(wait_s)

    def _stage(self, table: str, rows: Sequence[Mapping]) -> str:
        """Loads rows into a new staging table shaped like `table` (with an expiry) and returns its id.

        The upload is resumable (two requests instead of one): the BigQuery
        emulator the tests use refuses the client's multipart upload.
        """
        from google.cloud import bigquery

        schema = [bigquery.SchemaField(c.name, c.bigquery_type, mode=c.mode) for c in columns(table)]
        staged_id = self.table_id(f"{STAGING_PREFIX}{table}_{uuid.uuid4().hex}")
        staged = bigquery.Table(staged_id, schema=schema)
        staged.expires = dt.datetime.now(dt.timezone.utc) + STAGING_LIFETIME
        self.client.create_table(staged)
        config = bigquery.LoadJobConfig(schema=schema, source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
                                        write_disposition=bigquery.WriteDisposition.WRITE_APPEND)
        try:
            job = self.client.load_table_from_file(io.BytesIO(ndjson(table, rows)), staged_id, size=None,
                                                   job_config=config)
            job.result(timeout=self.job_timeout_s)
        except Exception:
            self.client.delete_table(staged_id, not_found_ok=True)
            raise
        return staged_id

    def _replace(self, batches: Mapping[str, Sequence[Mapping]], key: str, dates_from: str | None = None) -> None:
        """Deletes every row whose `key` is in the batch from each table, inserts the batch's rows; atomically.

        Parameters
        ----------
        batches : mapping
            table -> rows to write; a table with no rows still loses the batch's keys.
        key : str
            The column that names what is replaced (recording_uri, run_id).
        dates_from : str, optional
            A table (calls) whose rows, old and staged, carry the partition date
            of everything replaced. Tables partitioned by that column then only
            delete inside those partitions, so a write scans one night's rows
            instead of the table's whole history. The dates are computed into a
            script variable first: BigQuery prunes partitions on a variable,
            never on a subquery.
        """
        staged: list[_Replacement] = []
        try:
            for table, rows in batches.items():
                staged.append(_Replacement(table, self._stage(table, rows) if rows else None))
            sources = [r.staged for r in staged if r.staged]
            if not sources:
                return
            keys = " UNION DISTINCT ".join(f"SELECT {key} FROM `{source}`" for source in sources)
            declarations, statements = [], []
            date_column = partition_column(dates_from) if dates_from else None
            if date_column:
                known = [f"SELECT {date_column} FROM `{self.table_id(dates_from)}` WHERE {key} IN ({keys})"]
                known += [f"SELECT {date_column} FROM `{r.staged}`"
                          for r in staged if r.table == dates_from and r.staged]
                declarations.append(f"DECLARE replaced_dates ARRAY<DATE> DEFAULT "
                                    f"(SELECT ARRAY_AGG(DISTINCT {date_column}) FROM ({' UNION ALL '.join(known)}))")
            for replacement in staged:
                target = self.table_id(replacement.table)
                in_partitions = (f"{date_column} IN UNNEST(replaced_dates) AND "
                                 if date_column and partition_column(replacement.table) == date_column else "")
                statements.append(f"DELETE FROM `{target}` WHERE {in_partitions}{key} IN ({keys})")
                if replacement.staged:
                    names = ", ".join(c.name for c in columns(replacement.table))
                    statements.append(f"INSERT INTO `{target}` ({names}) SELECT {names} FROM `{replacement.staged}`")
            self._run_transaction(statements, declarations)
        finally:
            for replacement in staged:
                if replacement.staged:
                    self.client.delete_table(replacement.staged, not_found_ok=True)

    # -- the Sink interface -------------------------------------------------------------------

    def ensure_tables(self) -> None:
        """Creates the dataset if missing, the tables if missing, and (re)creates the views."""
        from google.api_core import exceptions
        from google.cloud import bigquery

        try:
            self.client.get_dataset(self.dataset_ref)
        except exceptions.NotFound:
            dataset = bigquery.Dataset(self.dataset_ref)
            if self.location:
                dataset.location = self.location
            self.client.create_dataset(dataset, exists_ok=True)
        for table in TABLES:
            self.query(bigquery_ddl(table, self.dataset_ref))
        for view in VIEWS:
            self.query(bigquery_view(view, self.dataset_ref))

    def done_recordings(self, model_version: str) -> set[str]:
        """Stored uris of the calls done, and the clear path of each that was pseudonymised (what a match yields)."""
        from google.cloud import bigquery

        rows = self.query(f"SELECT DISTINCT c.recording_uri, p.clear_uri FROM `{self.table_id('calls')}` c "
                          f"LEFT JOIN `{self.table_id('recording_paths')}` p ON p.recording_uri = c.recording_uri "
                          "WHERE c.model_version = @model_version",
                          [bigquery.ScalarQueryParameter("model_version", "STRING", model_version)])
        return {uri for row in rows for uri in (row["recording_uri"], row["clear_uri"]) if uri is not None}

    def replace_calls(self, results: Sequence[CallResult | ErrorResult]) -> None:
        """Every row of these recordings, in segments, calls and errors, replaced in one transaction.

        Every result brings a calls row or an errors row, so the staged calls and
        errors together name every recording of the batch. A recording's segments
        share its calls row's call_date, so the old and new calls rows say which
        partitions of segments and calls hold the rows to replace, even when a
        corrected sidecar moved the call to another date.

        The clear paths of pseudonymised recordings go first, in a transaction
        of their own that replaces only the mappings the batch brings (so a
        result without one, a scoring failure, never deletes one): if the write
        dies in between, a mapping waits for its rows, and retention expires it.
        """
        paths = [row for row in (path_row(r, processed_at()) for r in results) if row is not None]
        if paths:
            self._replace({"recording_paths": paths}, key="recording_uri")
        self._replace({
            "segments": [row for r in results if isinstance(r, CallResult) for row in r.segment_rows],
            "calls": [r.call_row for r in results if isinstance(r, CallResult)],
            "errors": [r.error_row for r in results if isinstance(r, ErrorResult)],
        }, key="recording_uri", dates_from="calls")

    def write_run(self, run_row: dict) -> None:
        self._replace({"runs": [run_row]}, key="run_id")

    def mark_runs_died(self, runners: Sequence[str]) -> list[str]:
        from google.cloud import bigquery

        runs = self.table_id("runs")
        parameters = [bigquery.ArrayQueryParameter("runners", "STRING", list(runners))]
        died = sorted(row["run_id"] for row in self.query(
            f"SELECT run_id FROM `{runs}` WHERE status = 'running' AND runner IN UNNEST(@runners)", parameters))
        if died:
            self.query(f"UPDATE `{runs}` SET status = 'died' WHERE run_id IN UNNEST(@run_ids)",
                       [bigquery.ArrayQueryParameter("run_ids", "STRING", died)])
        return died

    def write_run_metrics(self, run_id: str, computed_at: dt.datetime) -> int:
        """One aggregation job over the partitions of the run's nights; its rows replace the run's old ones."""
        from google.cloud import bigquery

        nights = [row["call_date"] for row in self.query(
            f"SELECT DISTINCT call_date FROM `{self.table_id('calls')}` WHERE run_id = @run_id",
            [bigquery.ScalarQueryParameter("run_id", "STRING", run_id)])]
        if not nights:
            return 0
        aggregates = self.query(run_metrics.aggregate_sql(nights, lambda table: f"`{self.table_id(table)}`"))
        rows = run_metrics.metric_rows(aggregates, run_id, computed_at)
        self._replace({"run_metrics": rows}, key="run_id")
        return len(rows)

    def apply_retention(self, retention_days: int, today: dt.date | None = None) -> None:
        """Partition expiration on the call tables: BigQuery itself drops a call date's partition that many days on.

        A table's own partition expiration overrides the dataset's default
        (which infra/terraform sets for tables it creates), so the two should
        agree; `today` is unused because BigQuery counts from each partition's date.
        """
        expiration_ms = int(retention_days) * 86_400_000
        for name in RETAINED_TABLES:
            table = self.client.get_table(self.table_id(name))
            if table.time_partitioning is None or table.time_partitioning.expiration_ms == expiration_ms:
                continue
            table.time_partitioning.expiration_ms = expiration_ms
            self.client.update_table(table, ["time_partitioning"])
