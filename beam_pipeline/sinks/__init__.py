"""Where results go. `open_sink` picks the warehouse from the --output value alone.

Every sink offers the same four things: create its tables, say which recordings a
model version already processed, replace the rows of a set of calls in one step,
and record a run. The pipeline's middle never learns which one it writes to.
"""
from __future__ import annotations

from beam_pipeline.sinks.base import Sink


def open_sink(output: str) -> Sink:
    if output.startswith("bq://"):
        raise NotImplementedError("bq:// output (BigQuery) is not available yet; write to a .duckdb file")
    from beam_pipeline.sinks.duckdb_sink import DuckDBSink

    return DuckDBSink(output)
