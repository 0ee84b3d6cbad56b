"""`callmood monitor`: has last night drifted from a baseline? PSI and Jensen-Shannon distance per metric.

Why two measures: the population stability index weighs every bin's change by
how surprising it is (a bin that grew from 0.1% to 5% scores high), which is what
catches a new codec or a band of quiet turns; Jensen-Shannon distance is bounded
(0 to 1, base 2) and symmetric, so one threshold means the same for every metric.
Both compare the fixed bins of `beam_pipeline.warehouse.run_metrics`; an empty bin counts
as a share of 0.0001 (PSI's logarithm needs it, and the SQL view uses the same
floor). A metric with fewer items than --min-count on either side is reported
but not judged: a histogram of five calls drifts by chance.

The night is the newest snapshot of a call date (`monitoring_nightly`); "latest"
is the latest call date that has one. Baselines: `training` (the shipped
`ser_model/artifacts/baseline_metrics.json`, per-turn metrics only),
`window:START..END` (the nights in that range, pooled), or `run:RUN_ID` (what that
run snapshotted, pooled over its nights).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import re
import sys
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from scipy.spatial.distance import jensenshannon

import ser_model
from beam_pipeline.warehouse.run_metrics import METRICS, METRICS_BY_NAME, Metric

EPSILON = 1e-4
TRAINING_BASELINE = Path(ser_model.__file__).resolve().parent / "artifacts" / "baseline_metrics.json"
EXIT_OK, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2
_RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class MonitorError(Exception):
    """Nothing to compare (no metrics, an empty window, a bad baseline): exit 2 with this message."""


@dataclasses.dataclass
class Histogram:
    """One metric's counts per bin label, with its item count and mean."""

    metric: Metric
    counts: dict[str, int]
    n_items: int
    mean_value: float | None

    def shares(self) -> np.ndarray:
        """Shares over all of the metric's bins (empty ones 0), in bin order."""
        counts = np.array([self.counts.get(b.label, 0) for b in self.metric.bins], dtype=float)
        return counts / counts.sum() if counts.sum() else counts

    def summary(self) -> str:
        """What a person reads: the mean for numeric metrics, the commonest category and its share otherwise."""
        if self.metric.numeric:
            return "-" if self.mean_value is None else f"{self.mean_value:.3g}"
        label = max(self.counts, key=self.counts.get)
        return f"{label} {self.counts[label] / self.n_items:.0%}"


def pool(histograms: Iterable[Histogram]) -> Histogram:
    """Several nights of one metric as one histogram: counts added, means weighted by items."""
    histograms = list(histograms)
    counts: dict[str, int] = {}
    for h in histograms:
        for label, count in h.counts.items():
            counts[label] = counts.get(label, 0) + count
    n_items = sum(h.n_items for h in histograms)
    means = [(h.mean_value, h.n_items) for h in histograms if h.mean_value is not None]
    mean_value = sum(m * n for m, n in means) / sum(n for _, n in means) if means else None
    return Histogram(histograms[0].metric, counts, n_items, mean_value)


def psi(expected: np.ndarray, actual: np.ndarray, epsilon: float = EPSILON) -> float:
    """Population stability index: sum over bins of (actual - expected) * ln(actual / expected), shares floored."""
    e, a = np.maximum(expected, epsilon), np.maximum(actual, epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


def js_distance(expected: np.ndarray, actual: np.ndarray) -> float:
    """Jensen-Shannon distance, base 2: 0 for equal distributions, 1 for disjoint ones."""
    return float(jensenshannon(expected, actual, base=2))


# ------------------------------------------------------------------------------------------- reading


def _histograms(rows: Iterable[dict], group: Sequence[str] = ()) -> dict[tuple, Histogram]:
    """Rows of run_metrics/monitoring_nightly -> one Histogram per (group values..., metric)."""
    out: dict[tuple, Histogram] = {}
    for row in rows:
        if row["metric"] not in METRICS_BY_NAME:     # a metric a newer release added: not comparable here
            continue
        key = (*(row[g] for g in group), row["metric"])
        h = out.setdefault(key, Histogram(METRICS_BY_NAME[row["metric"]], {}, int(row["n_items"]), row["mean_value"]))
        h.counts[row["bin_label"]] = int(row["bin_count"])
    return out


class Warehouse:
    """Read access to the monitoring relations of a DuckDB file or a BigQuery dataset."""

    RELATIONS = ("run_metrics", "monitoring_nightly", "runs")

    def __init__(self, db: str | None = None, output: str | None = None):
        if (db is None) == (output is None):
            raise ValueError("give a DuckDB file or a bq://project.dataset output, not both")
        self.db, self.output = db, output

    def describe(self) -> str:
        return self.db or self.output

    def query(self, sql: str) -> list[dict]:
        """Runs `sql`, written to read alike in both dialects, with {run_metrics}, {monitoring_nightly}, {runs}."""
        if self.output:
            from beam_pipeline.warehouse.bigquery_sink import BigQuerySink

            sink = BigQuerySink.from_output(self.output)
            return sink.query(sql.format(**{r: f"`{sink.table_id(r)}`" for r in self.RELATIONS}))
        import duckdb

        from sql.schema import duckdb_view

        if not Path(self.db).exists():
            raise MonitorError(f"no DuckDB file at {self.db}")
        with duckdb.connect(self.db, read_only=True) as con:
            present = {name for (name,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
            if "run_metrics" not in present:
                raise MonitorError(f"{self.db} has no run_metrics table: it was written before monitoring existed; "
                                   "run `callmood run` on it once")
            if "monitoring_nightly" not in present:
                con.execute(duckdb_view("monitoring_nightly").replace("CREATE OR REPLACE VIEW", "CREATE TEMP VIEW", 1))
            cursor = con.execute(sql.format(**{r: r for r in self.RELATIONS}))
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    def histogram_rows(self, relation: str, where: str) -> list[dict]:
        return self.query("SELECT call_date, run_id, metric, bin_label, bin_count, n_items, mean_value "
                          f"FROM {{{relation}}} WHERE {where}")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise MonitorError(f"{text!r} is not a date (YYYY-MM-DD)") from exc


def latest_night(warehouse: Warehouse, night: dt.date | None = None) -> tuple[dt.date, str, dict[str, Histogram]]:
    """(call date, run_id of its newest snapshot, histograms): `night`, or the latest call date with metrics."""
    if night is None:
        night = warehouse.query("SELECT MAX(call_date) AS night FROM {run_metrics}")[0]["night"]
        if night is None:
            raise MonitorError(f"no run_metrics in {warehouse.describe()}: no run has written calls yet")
    rows = warehouse.histogram_rows("monitoring_nightly", f"call_date = DATE '{night.isoformat()}'")
    if not rows:
        raise MonitorError(f"no run_metrics for the night of {night} in {warehouse.describe()}")
    return rows[0]["call_date"], rows[0]["run_id"], {k[-1]: h for k, h in _histograms(rows).items()}


def run_model_version(warehouse: Warehouse, run_id: str) -> str | None:
    rows = warehouse.query(f"SELECT model_version FROM {{runs}} WHERE run_id = '{run_id}'") \
        if _RUN_ID.match(run_id) else []
    return rows[0]["model_version"] if rows else None


def load_baseline(spec: str, warehouse: Warehouse, training_file: Path = TRAINING_BASELINE) -> tuple[str, dict]:
    """(description, histograms by metric) for `training`, `window:START..END` or `run:RUN_ID`.

    The training description names the model the baseline was scored with: its
    predicted-emotion bins only describe that model.
    """
    kind, _, value = spec.partition(":")
    if spec == "training":
        if not training_file.exists():
            raise MonitorError(f"no training baseline at {training_file}: run python -m beam_pipeline.monitoring.training_baseline")
        document = json.loads(training_file.read_text())
        rows = [{"metric": metric, "bin_label": label, "bin_count": count, "n_items": entry["n_items"],
                 "mean_value": entry["mean_value"]}
                for metric, entry in document["metrics"].items() for label, count in entry["bins"].items()]
        return (f"training ({document['clips']} corpus clips via {document['channel']}, "
                f"model {document['model_version']})", {k[-1]: h for k, h in _histograms(rows).items()})
    if kind == "window":
        start_text, sep, end_text = value.partition("..")
        if not sep:
            raise MonitorError(f"window baseline {spec!r} must look like window:2026-11-01..2026-11-21")
        start, end = _date(start_text), _date(end_text)
        nights = _histograms(warehouse.histogram_rows("monitoring_nightly",
                                                      f"call_date BETWEEN DATE '{start}' AND DATE '{end}'"),
                             group=("call_date",))
        description = f"nights {start}..{end} ({len({k[0] for k in nights})} with metrics)"
    elif kind == "run":
        if not _RUN_ID.match(value):
            raise MonitorError(f"run id {value!r} should be letters, digits, - or _")
        nights = _histograms(warehouse.histogram_rows("run_metrics", f"run_id = '{value}'"), group=("call_date",))
        description = f"run {value} ({len({k[0] for k in nights})} nights)"
    else:
        raise MonitorError(f"baseline {spec!r} must be training, window:START..END or run:RUN_ID")
    if not nights:
        raise MonitorError(f"baseline {spec}: no run_metrics rows in {warehouse.describe()}")
    by_metric: dict[str, list[Histogram]] = {}
    for (_, metric), h in nights.items():
        by_metric.setdefault(metric, []).append(h)
    return description, {metric: pool(hs) for metric, hs in by_metric.items()}


# ------------------------------------------------------------------------------------------- comparing


@dataclasses.dataclass(frozen=True)
class Comparison:
    metric: str
    baseline: str
    latest: str
    n_baseline: int | None
    n_latest: int
    psi: float | None
    js: float | None
    status: str          # DRIFT | ok | few (too few items to judge) | n/a (not in the baseline)


def compare(baseline: dict[str, Histogram], latest: dict[str, Histogram], psi_threshold: float,
            js_threshold: float, min_count: int) -> list[Comparison]:
    """One Comparison per metric of the latest night, in the spec's order."""
    out = []
    for metric in METRICS:
        night = latest.get(metric.name)
        if night is None:
            continue
        base = baseline.get(metric.name)
        if base is None:
            out.append(Comparison(metric.name, "-", night.summary(), None, night.n_items, None, None, "n/a"))
            continue
        p, q = base.shares(), night.shares()
        value_psi, value_js = psi(p, q), js_distance(p, q)
        if min(base.n_items, night.n_items) < min_count:
            status = "few"
        elif value_psi > psi_threshold or value_js > js_threshold:
            status = "DRIFT"
        else:
            status = "ok"
        out.append(Comparison(metric.name, base.summary(), night.summary(), base.n_items, night.n_items,
                              value_psi, value_js, status))
    return out


def format_report(title: str, comparisons: Sequence[Comparison]) -> str:
    lines = [title, "", f"{'metric':<22}{'baseline':>14}{'latest':>14}{'n base':>9}{'n latest':>9}"
                        f"{'PSI':>8}{'JS':>7}  status"]
    for c in comparisons:
        psi_text = "-" if c.psi is None else f"{c.psi:.3f}"
        js_text = "-" if c.js is None else f"{c.js:.3f}"
        n_base = "-" if c.n_baseline is None else str(c.n_baseline)
        lines.append(f"{c.metric:<22}{c.baseline:>14}{c.latest:>14}{n_base:>9}{c.n_latest:>9}"
                     f"{psi_text:>8}{js_text:>7}  {c.status}")
    drifted = [c.metric for c in comparisons if c.status == "DRIFT"]
    lines += ["", f"DRIFT in {len(drifted)} metric(s): {', '.join(drifted)}" if drifted else "no drift"]
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="callmood monitor",
                                     description="compare the latest night's input statistics and predicted "
                                                 "emotions with a baseline (PSI and Jensen-Shannon distance)")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--db", help="DuckDB file written by callmood run")
    where.add_argument("--output", help="bq://project.dataset written by callmood run")
    parser.add_argument("--baseline", default="training",
                        help="training (default: the shipped corpus baseline), window:START..END or run:RUN_ID")
    parser.add_argument("--night", type=_date, default=None, help="the night to check (default: the latest)")
    parser.add_argument("--psi-threshold", type=float, default=0.2, help="PSI above this is drift (default 0.2)")
    parser.add_argument("--js-threshold", type=float, default=0.1,
                        help="Jensen-Shannon distance (base 2) above this is drift (default 0.1)")
    parser.add_argument("--min-count", type=int, default=50,
                        help="judge a metric only with at least this many items on both sides (default 50)")
    parser.add_argument("--fail-on-drift", action="store_true", help="exit 1 when any metric drifted")
    args = parser.parse_args(argv)
    try:
        warehouse = Warehouse(db=args.db, output=args.output)
        night, run_id, latest = latest_night(warehouse, args.night)
        description, baseline = load_baseline(args.baseline, warehouse)
    except MonitorError as exc:
        print(f"callmood monitor: {exc}", file=sys.stderr)
        return EXIT_ERROR
    comparisons = compare(baseline, latest, args.psi_threshold, args.js_threshold, args.min_count)
    title = (f"night {night} (run {run_id}) against {description}; drift when PSI > {args.psi_threshold:g} "
             f"or JS > {args.js_threshold:g}")
    night_model = run_model_version(warehouse, run_id)
    if args.baseline == "training" and night_model and f"model {night_model})" not in description:
        title += (f"\nnote: the night was scored by {night_model}; the emotion rows compare two models "
                  "(regenerate the baseline with python -m beam_pipeline.monitoring.training_baseline)")
    print(format_report(title, comparisons))
    drifted = any(c.status == "DRIFT" for c in comparisons)
    return EXIT_DRIFT if drifted and args.fail_on_drift else EXIT_OK
