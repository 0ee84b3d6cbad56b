"""What a night looked like, as fixed-bin histograms: the `run_metrics` rows the monitor compares.

Why histograms with fixed bins: drift is a change of *distribution*, and the
population stability index and Jensen-Shannon distance need two distributions
over the same bins. Bin edges fixed here, once, make any two nights, windows of
nights or the training data comparable without going back to the rows (which
retention may already have deleted).

Why the warehouse computes them: the rows a run wrote are already there. At the
end of a run the sink runs one aggregation (SQL generated here in BigQuery's
dialect, transpiled for DuckDB) over the calls and segments of every call date
the run wrote, and only the aggregates (a few hundred numbers a night) come back
to be labelled and written. No second pass over audio, nothing flows back into
the pipeline.

Why whole nights, not just the run's own rows: a killed run and its re-run, or
a --reprocess of some calls, each write part of a night. Each run therefore
snapshots the *current* rows of the nights it touched, under its own run_id; the
newest snapshot of a night (largest computed_at) is the night. Writing the same
run's metrics again replaces them (keyed by run_id), so nothing is duplicated.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Callable, Iterable, Mapping, Sequence

import sqlglot

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad")

_CODEC_SQL = """CASE
      WHEN LOWER(source_format) LIKE 'flac%' THEN 'flac'
      WHEN LOWER(source_format) LIKE '%ulaw%' THEN 'mulaw'
      WHEN LOWER(source_format) LIKE '%alaw%' THEN 'alaw'
      WHEN LOWER(source_format) LIKE '%pcm%' OR LOWER(source_format) LIKE '%float%'
        OR LOWER(source_format) LIKE '%double%' THEN 'pcm'
      WHEN LOWER(source_format) LIKE '%mp3%' THEN 'mp3'
      WHEN LOWER(source_format) LIKE '%vorbis%' THEN 'vorbis'
      WHEN LOWER(source_format) LIKE '%opus%' THEN 'opus'
      WHEN LOWER(source_format) LIKE '%aac%' THEN 'aac'
      ELSE 'other' END"""


@dataclasses.dataclass(frozen=True)
class Bin:
    index: int
    label: str
    lower: float | None      # numeric bins: inclusive lower edge (None: open below)
    upper: float | None      # numeric bins: exclusive upper edge (None: open above)


@dataclasses.dataclass(frozen=True)
class Metric:
    """One monitored quantity: which rows it counts, the SQL expression, and its fixed bins.

    Numeric metrics have `edges` e0 < e1 < ... < ek and k + 2 bins: below e0,
    [e(i-1), e(i)) and from ek up, so every value lands in a bin. Categorical
    metrics have one bin per category and a last one, "other", for the rest.
    """

    name: str
    population: str                       # "calls" or "turns": what one counted item is
    table: str                            # the warehouse table the items come from
    sql: str                              # BigQuery expression over that table's columns
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def numeric(self) -> bool:
        return bool(self.edges)

    @property
    def bins(self) -> tuple[Bin, ...]:
        if not self.numeric:
            return tuple(Bin(i, c, None, None) for i, c in enumerate((*self.categories, "other")))
        e = self.edges
        inner = [Bin(i, f"[{e[i - 1]:g}, {e[i]:g})", e[i - 1], e[i]) for i in range(1, len(e))]
        return (Bin(0, f"< {e[0]:g}", None, e[0]), *inner, Bin(len(e), f">= {e[-1]:g}", e[-1], None))

    def bin_sql(self) -> str:
        """The BigQuery CASE that puts `value` into its bin index."""
        if self.numeric:
            whens = " ".join(f"WHEN value < {edge!r} THEN {i}" for i, edge in enumerate(self.edges))
        else:
            whens = " ".join(f"WHEN value = '{c}' THEN {i}" for i, c in enumerate(self.categories))
        return f"CASE {whens} ELSE {len(self.bins) - 1} END"


_TENTHS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)

METRICS: tuple[Metric, ...] = (
    # the calls coming in
    Metric("duration_s", "calls", "calls", "duration_s", edges=(30, 60, 120, 180, 300, 600, 1200)),
    Metric("silence_share", "calls", "calls", "SAFE_DIVIDE(silence_s, duration_s)", edges=(0.2, 0.4, 0.6, 0.8)),
    Metric("source_sample_rate_hz", "calls", "calls", "CAST(source_sample_rate_hz AS STRING)",
           categories=("8000", "16000", "22050", "44100", "48000")),
    Metric("n_channels", "calls", "calls", "CAST(n_channels AS STRING)", categories=("1", "2")),
    Metric("codec", "calls", "calls", _CODEC_SQL,
           categories=("pcm", "mulaw", "alaw", "flac", "mp3", "vorbis", "opus", "aac")),
    # the audio of each turn
    Metric("loudness_dbfs", "turns", "segments", "loudness_dbfs",
           edges=(-50, -45, -40, -35, -30, -25, -20, -15, -10)),
    Metric("snr_db", "turns", "segments", "snr_db", edges=(5, 10, 15, 20, 25, 30, 40, 50, 60)),
    Metric("speech_ratio", "turns", "segments", "speech_ratio", edges=(0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)),
    # what the model said
    Metric("top_emotion", "turns", "segments", "top_emotion", categories=EMOTIONS),
    *(Metric(f"prob_{e}", "turns", "segments", f"prob_{e}", edges=_TENTHS) for e in EMOTIONS),
)
METRICS_BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}


def aggregate_sql(nights: Sequence[dt.date], table_ref: Callable[[str], str] = lambda table: table) -> str:
    """BigQuery SELECT of (call_date, metric, bin_index, bin_count, value_sum) over the rows of `nights`.

    The nights are literal DATEs, so BigQuery prunes to their partitions.
    `table_ref` turns a table name into what the FROM clause says (a
    backtick-quoted ``project.dataset.table`` for BigQuery).
    """
    if not nights:
        raise ValueError("no nights to aggregate")
    dates = ", ".join(f"DATE '{night.isoformat()}'" for night in sorted(set(nights)))
    parts = []
    for metric in METRICS:
        value_sum = "SUM(value)" if metric.numeric else "CAST(NULL AS FLOAT64)"
        parts.append(
            f"SELECT call_date, '{metric.name}' AS metric, {metric.bin_sql()} AS bin_index, "
            f"COUNT(*) AS bin_count, {value_sum} AS value_sum\n"
            f"FROM (SELECT call_date, {metric.sql} AS value FROM {table_ref(metric.table)} "
            f"WHERE call_date IN ({dates})) AS items\n"
            "WHERE value IS NOT NULL\nGROUP BY 1, 3")
    return "\nUNION ALL\n".join(parts)


def duckdb_sql(bigquery_sql: str) -> str:
    """The same query for DuckDB (raising on anything DuckDB cannot express)."""
    return sqlglot.transpile(bigquery_sql, read="bigquery", write="duckdb",
                             unsupported_level=sqlglot.ErrorLevel.RAISE)[0]


def metric_rows(aggregates: Iterable[Mapping], run_id: str, computed_at: dt.datetime) -> list[dict]:
    """run_metrics rows from the aggregation: labels and bounds from the spec, shares, counts and means per metric."""
    aggregates = list(aggregates)
    totals: dict[tuple, list[float]] = {}
    for a in aggregates:
        total = totals.setdefault((a["call_date"], a["metric"]), [0, 0.0])
        total[0] += int(a["bin_count"])
        total[1] += float(a["value_sum"] or 0.0)
    rows = []
    for a in sorted(aggregates, key=lambda a: (a["call_date"], a["metric"], a["bin_index"])):
        metric = METRICS_BY_NAME[a["metric"]]
        n_items, value_sum = totals[(a["call_date"], a["metric"])]
        b = metric.bins[int(a["bin_index"])]
        rows.append({
            "run_id": run_id, "call_date": a["call_date"], "metric": metric.name, "population": metric.population,
            "bin_index": b.index, "bin_label": b.label, "bin_lower": b.lower, "bin_upper": b.upper,
            "bin_count": int(a["bin_count"]), "bin_share": int(a["bin_count"]) / n_items, "n_items": n_items,
            "mean_value": value_sum / n_items if metric.numeric else None, "computed_at": computed_at,
        })
    return rows
