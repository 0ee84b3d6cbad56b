"""Where results go. `open_sink` picks the warehouse from the --output value alone.

Every sink offers the same things: create its tables, say which recordings a
model version already processed, replace the rows of a set of calls in one step,
record a run, snapshot the nights a run wrote into run_metrics, and apply the
retention period. The pipeline's middle never learns which one it writes to.
"""
from __future__ import annotations

from beam_pipeline.warehouse.sink import Sink


def open_sink(output: str) -> Sink:
    """``bq://project.dataset`` is BigQuery; anything else is a DuckDB file path."""
    if output.startswith("bq://"):
        from beam_pipeline.warehouse.bigquery_sink import BigQuerySink

        return BigQuerySink.from_output(output)
    from beam_pipeline.warehouse.duckdb_sink import DuckDBSink

    return DuckDBSink(output)
