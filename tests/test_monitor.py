"""Drift monitoring on synthetic nights written through the real DuckDB sink and aggregated by its real SQL.

Each night is drawn from one set of distributions (durations, codecs, levels, SNR,
speech ratio, predicted emotions) with its own random seed; a shifted night
changes one thing (10 dB quieter, or the model calling nearly everything angry).
The monitor must flag exactly what moved and pass a night that only differs by
chance.
"""
from __future__ import annotations

import datetime as dt
import json

import duckdb
import numpy as np
import pytest

from beam_pipeline.monitoring import monitor
from beam_pipeline.warehouse.rows import CallResult
from beam_pipeline.warehouse.run_metrics import EMOTIONS, METRICS, METRICS_BY_NAME, aggregate_sql, duckdb_sql, metric_rows
from beam_pipeline.warehouse.duckdb_sink import DuckDBSink
from tests import cli

UTC = dt.timezone.utc
FIRST_NIGHT = dt.date(2026, 11, 16)
CALLS_PER_NIGHT, TURNS_PER_CALL = 300, 8
FORMATS = ["wav/PCM_16", "wav/ULAW", "mp3", "m4a/aac", "flac/PCM_16"]
FORMAT_SHARES = [0.4, 0.3, 0.15, 0.1, 0.05]
EMOTION_WEIGHTS = np.array([1.0, 0.3, 0.4, 1.2, 3.0, 0.8])


def synthetic_night(night: dt.date, seed: int, quieter_db: float = 0.0, angry: bool = False) -> list[CallResult]:
    """One night of calls drawn from fixed distributions; `quieter_db` and `angry` shift it."""
    rng = np.random.default_rng(seed)
    stamp = {"call_date": night, "model_version": "ser-test", "run_id": f"writer-{seed}",
             "processed_at": dt.datetime.combine(night, dt.time(23), UTC)}
    results = []
    for c in range(CALLS_PER_NIGHT):
        uri = f"gs://calls/{night}/c{seed}_{c}.wav"
        duration_s = float(rng.lognormal(np.log(240), 0.6))
        call = {**stamp, "call_id": f"c{seed}_{c}", "recording_uri": uri, "duration_s": duration_s,
                "silence_s": duration_s * float(rng.uniform(0.1, 0.5)),
                "source_sample_rate_hz": int(rng.choice([8000, 16000], p=[0.7, 0.3])), "n_channels": 2,
                "source_format": str(rng.choice(FORMATS, p=FORMAT_SHARES))}
        alpha = EMOTION_WEIGHTS * (np.array([12.0, 1, 1, 1, 1, 1]) if angry else 1.0)
        segments = []
        for t in range(TURNS_PER_CALL):
            probs = rng.dirichlet(alpha)
            segments.append({**stamp, "call_id": call["call_id"], "recording_uri": uri, "turn_index": t,
                             "speaker": "agent" if t % 2 else "customer",
                             **{f"prob_{e}": float(p) for e, p in zip(EMOTIONS, probs)},
                             "top_emotion": EMOTIONS[int(np.argmax(probs))],
                             "loudness_dbfs": float(rng.normal(-24.0, 5.0)) - quieter_db,
                             "snr_db": float(rng.normal(30.0, 6.0)),
                             "speech_ratio": float(rng.beta(8, 1.5))})
        results.append(CallResult(uri, call, tuple(segments)))
    return results


def write_night(sink: DuckDBSink, results: list[CallResult], run_id: str, computed_at: dt.datetime) -> None:
    """What a run does: replace the night's calls, then snapshot the nights it wrote."""
    for result in results:
        for row in (result.call_row, *result.segment_rows):
            row["run_id"] = run_id
    sink.replace_calls(results)
    sink.write_run_metrics(run_id, computed_at)


@pytest.fixture(scope="module")
def nights(tmp_path_factory) -> dict:
    """Five ordinary nights (Nov 16-20), then variants of Nov 21 in separate files."""
    folder = tmp_path_factory.mktemp("monitor")
    base = folder / "base.duckdb"
    sink = DuckDBSink(str(base))
    sink.ensure_tables()
    for i in range(5):
        night = FIRST_NIGHT + dt.timedelta(days=i)
        write_night(sink, synthetic_night(night, seed=i), f"run{i}", dt.datetime.combine(night, dt.time(23, 30), UTC))
    files = {"base": base}
    latest = FIRST_NIGHT + dt.timedelta(days=5)
    for name, shift in {"same": {}, "quieter": {"quieter_db": 10.0}, "angry": {"angry": True}}.items():
        path = folder / f"{name}.duckdb"
        path.write_bytes(base.read_bytes())
        variant = DuckDBSink(str(path))
        write_night(variant, synthetic_night(latest, seed=100, **shift), f"run-{name}",
                    dt.datetime.combine(latest, dt.time(23, 30), UTC))
        files[name] = path
    return files


def _monitor(capsys, *args: str) -> tuple[int, str]:
    code = monitor.main(list(args))
    return code, capsys.readouterr().out


def _statuses(report: str) -> dict[str, str]:
    names = {m.name for m in METRICS}
    return {line.split()[0]: line.split()[-1] for line in report.splitlines() if line.split()[:1] and
            line.split()[0] in names}


WINDOW = f"window:{FIRST_NIGHT}..{FIRST_NIGHT + dt.timedelta(days=4)}"
# The report's columns, as monitor.format_report lays them out (a category's summary holds a space).
REPORT_COLUMNS = (("baseline", 22, 36), ("latest", 36, 50), ("n_base", 50, 59), ("n_latest", 59, 68),
                  ("psi", 68, 76), ("js", 76, 83), ("status", 83, None))


def report_rows(report: str) -> dict[str, dict[str, str]]:
    """The report's table: metric -> its columns as printed (baseline, latest, n_base, n_latest, psi, js, status)."""
    names = {m.name for m in METRICS}
    return {line[:22].strip(): {column: line[start:end].strip() for column, start, end in REPORT_COLUMNS}
            for line in report.splitlines() if line[:22].strip() in names}


def test_a_night_drawn_like_the_baseline_passes(nights, capsys):
    code, report = _monitor(capsys, "--db", str(nights["same"]), "--baseline", WINDOW, "--fail-on-drift")
    assert code == monitor.EXIT_OK, report
    statuses = _statuses(report)
    assert set(statuses) == {m.name for m in METRICS}
    assert set(statuses.values()) == {"ok"}, report
    assert "no drift" in report and "night 2026-11-21 (run run-same)" in report


def test_a_night_10_db_quieter_drifts_in_loudness_only(nights, capsys):
    code, report = _monitor(capsys, "--db", str(nights["quieter"]), "--baseline", WINDOW, "--fail-on-drift")
    assert code == monitor.EXIT_DRIFT
    assert {m for m, s in _statuses(report).items() if s == "DRIFT"} == {"loudness_dbfs"}, report


def test_a_night_predicted_nearly_all_angry_drifts_in_the_emotions_only(nights, capsys):
    code, report = _monitor(capsys, "--db", str(nights["angry"]), "--baseline", WINDOW, "--fail-on-drift")
    assert code == monitor.EXIT_DRIFT
    drifted = {m for m, s in _statuses(report).items() if s == "DRIFT"}
    assert {"top_emotion", "prob_angry", "prob_neutral"} <= drifted, report
    assert drifted <= {"top_emotion", *(f"prob_{e}" for e in EMOTIONS)}, report


def test_without_fail_on_drift_drift_is_reported_but_exits_0(nights, capsys):
    code, report = _monitor(capsys, "--db", str(nights["quieter"]), "--baseline", WINDOW)
    assert code == monitor.EXIT_OK and "DRIFT in 1 metric(s): loudness_dbfs" in report


def test_a_run_baseline_and_thresholds(nights, capsys):
    code, report = _monitor(capsys, "--db", str(nights["same"]), "--baseline", "run:run0", "--fail-on-drift")
    assert code == monitor.EXIT_OK, report
    # thresholds of 0 call every difference drift
    code, report = _monitor(capsys, "--db", str(nights["same"]), "--baseline", "run:run0", "--psi-threshold", "0",
                            "--js-threshold", "0", "--fail-on-drift")
    assert code == monitor.EXIT_DRIFT


def test_a_chosen_night_and_too_few_items(nights, capsys):
    code, report = _monitor(capsys, "--db", str(nights["same"]), "--baseline", "run:run0",
                            "--night", str(FIRST_NIGHT + dt.timedelta(days=1)), "--min-count", "100000",
                            "--fail-on-drift")
    assert code == monitor.EXIT_OK
    assert "night 2026-11-17 (run run1)" in report and set(_statuses(report).values()) == {"few"}


@pytest.mark.parametrize("args, message", [
    (["--baseline", "window:2020-01-01..2020-01-31"], "no run_metrics rows"),
    (["--baseline", "run:nope"], "no run_metrics rows"),
    (["--baseline", "yesterday"], "must be training"),
    (["--baseline", "window:2026-11-16"], "window:2026-11-01..2026-11-21"),
    (["--night", "2020-01-01"], "no run_metrics for the night of 2020-01-01"),
])
def test_nothing_to_compare_exits_2_with_a_reason(nights, capsys, args, message):
    code = monitor.main(["--db", str(nights["same"]), *args])
    assert code == monitor.EXIT_ERROR and message in capsys.readouterr().err


def test_a_file_without_metrics_exits_2(tmp_path, capsys):
    assert monitor.main(["--db", str(tmp_path / "missing.duckdb")]) == monitor.EXIT_ERROR
    sink = DuckDBSink(str(tmp_path / "empty.duckdb"))
    sink.ensure_tables()
    assert monitor.main(["--db", sink.path]) == monitor.EXIT_ERROR
    assert "no run has written calls yet" in capsys.readouterr().err


def test_the_command_line_reports_the_quieter_nights_figures(nights):
    """`callmood monitor` prints, per metric, the counts and means of both sides and the verdict.

    Five baseline nights of 300 calls of 8 turns against one such night: 1,500 and
    300 calls, 12,000 and 2,400 turns for every metric (the synthetic rows have no
    NULLs). The night was drawn 10 dB quieter, so its loudness mean is the window's
    less 10 dB, give or take the draw (standard error about 0.1 dB), and only
    loudness drifts.
    """
    done = cli.run("monitor", "--db", str(nights["quieter"]), "--baseline", WINDOW, "--fail-on-drift", timeout=300)
    assert done.returncode == monitor.EXIT_DRIFT, done.stderr
    rows = report_rows(done.stdout)
    assert set(rows) == {m.name for m in METRICS}
    for metric in METRICS:
        counts = ("1500", "300") if metric.population == "calls" else ("12000", "2400")
        assert (rows[metric.name]["n_base"], rows[metric.name]["n_latest"]) == counts, metric.name
    assert {m for m, row in rows.items() if row["status"] == "DRIFT"} == {"loudness_dbfs"}
    assert {row["status"] for m, row in rows.items() if m != "loudness_dbfs"} == {"ok"}
    baseline, latest = float(rows["loudness_dbfs"]["baseline"]), float(rows["loudness_dbfs"]["latest"])
    assert baseline == pytest.approx(-24.0, abs=0.5) and latest - baseline == pytest.approx(-10.0, abs=0.5)
    assert float(rows["loudness_dbfs"]["psi"]) > 0.2 and float(rows["snr_db"]["psi"]) < 0.1
    assert "DRIFT in 1 metric(s): loudness_dbfs" in done.stdout


# ---------------------------------------------------------------------------------- snapshots and the view


def _rows(path, sql: str, params=()) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def test_a_rerun_of_a_night_adds_its_own_snapshot_and_the_newest_is_the_night(tmp_path):
    path = tmp_path / "rerun.duckdb"
    sink = DuckDBSink(str(path))
    sink.ensure_tables()
    night = dt.date(2026, 11, 23)
    first = synthetic_night(night, seed=1)
    write_night(sink, first, "first", dt.datetime(2026, 11, 24, 1, tzinfo=UTC))
    before = _rows(path, "SELECT count(*) FROM run_metrics")
    sink.write_run_metrics("first", dt.datetime(2026, 11, 24, 1, tzinfo=UTC))       # a retried write
    assert _rows(path, "SELECT count(*) FROM run_metrics") == before
    # a --reprocess of 50 calls by a second run: the night is now half first, half second
    write_night(sink, synthetic_night(night, seed=1)[:50], "second", dt.datetime(2026, 11, 24, 2, tzinfo=UTC))
    assert {r for (r,) in _rows(path, "SELECT DISTINCT run_id FROM run_metrics")} == {"first", "second"}
    # the newest snapshot covers the whole night, not only the 50 calls its run rewrote
    assert _rows(path, "SELECT DISTINCT run_id, n_items FROM monitoring_nightly WHERE metric = 'duration_s'") == \
        [("second", CALLS_PER_NIGHT)]
    assert _rows(path, "SELECT count(*) - count(DISTINCT (run_id, call_date, metric, bin_label)) FROM run_metrics") \
        == [(0,)]


def test_shares_sum_to_one_and_means_match_the_rows(nights):
    path = nights["base"]
    sums = _rows(path, "SELECT run_id, metric, sum(bin_share), sum(bin_count), min(n_items), max(n_items) "
                       "FROM run_metrics GROUP BY ALL")
    assert len(sums) == 5 * len(METRICS)
    for _, _, share, count, n_min, n_max in sums:
        assert share == pytest.approx(1.0) and count == n_min == n_max
    (mean,), = _rows(path, "SELECT avg(loudness_dbfs) FROM segments WHERE call_date = ?", [FIRST_NIGHT])
    assert _rows(path, "SELECT DISTINCT mean_value FROM run_metrics WHERE metric = 'loudness_dbfs' AND call_date = ?",
                 [FIRST_NIGHT])[0][0] == pytest.approx(mean)


def test_the_views_prior_week_psi_is_the_monitors_psi(nights):
    """The SQL view and the Python monitor compute PSI the same way, on the same pooled bins."""
    path = nights["angry"]
    latest = FIRST_NIGHT + dt.timedelta(days=5)
    warehouse = monitor.Warehouse(db=str(path))
    _, _, night = monitor.latest_night(warehouse)
    _, prior = monitor.load_baseline(f"window:{latest - dt.timedelta(days=7)}..{latest - dt.timedelta(days=1)}",
                                     warehouse)
    from_view = dict(_rows(path, "SELECT DISTINCT metric, psi_prior_7d FROM monitoring_nightly WHERE call_date = ?",
                           [latest]))
    for metric, histogram in night.items():
        expected = monitor.psi(prior[metric].shares(), histogram.shares())
        assert from_view[metric] == pytest.approx(expected, rel=1e-9), metric
    assert from_view["top_emotion"] > 0.2 and from_view["loudness_dbfs"] < 0.1
    first = _rows(path, "SELECT DISTINCT psi_prior_7d, prior_7d_items FROM monitoring_nightly WHERE call_date = ?",
                  [FIRST_NIGHT])
    assert first == [(None, None)]          # nothing before the first night


# ---------------------------------------------------------------------------------- bins and measures


def test_bins_are_closed_below_open_above_and_nulls_and_unknown_categories_are_handled():
    night = dt.date(2026, 11, 23)
    con = duckdb.connect()
    con.execute("CREATE TABLE segments AS SELECT * FROM (VALUES (DATE '2026-11-23', -25.0, 'angry'), "
                "(DATE '2026-11-23', -25.000001, 'sad'), (DATE '2026-11-23', NULL, 'sad'), "
                "(DATE '2026-11-23', -99.0, NULL), (DATE '2026-11-22', -25.0, 'happy')) "
                "AS t(call_date, loudness_dbfs, top_emotion)")
    for column in ("snr_db", "speech_ratio", *(f"prob_{e}" for e in EMOTIONS)):
        con.execute(f"ALTER TABLE segments ADD COLUMN {column} DOUBLE")
    con.execute("CREATE TABLE calls AS SELECT * FROM (VALUES (DATE '2026-11-23', 30.0, 0.0, 11025, 1, "
                "'webm/opus'), (DATE '2026-11-23', 29.9, 0.0, 8000, 2, 'wav/ALAW')) "
                "AS t(call_date, duration_s, silence_s, source_sample_rate_hz, n_channels, source_format)")
    cursor = con.execute(duckdb_sql(aggregate_sql([night])))
    names = [d[0] for d in cursor.description]
    rows = metric_rows([dict(zip(names, r)) for r in cursor.fetchall()], "r", dt.datetime(2026, 11, 24, tzinfo=UTC))
    got = {(r["metric"], r["bin_label"]): r["bin_count"] for r in rows}
    assert got[("loudness_dbfs", "[-25, -20)")] == 1 and got[("loudness_dbfs", "[-30, -25)")] == 1
    assert got[("loudness_dbfs", "< -50")] == 1 and sum(v for (m, _), v in got.items() if m == "loudness_dbfs") == 3
    assert got[("top_emotion", "angry")] == 1 and got[("top_emotion", "sad")] == 2
    assert got[("duration_s", "[30, 60)")] == 1 and got[("duration_s", "< 30")] == 1
    assert got[("source_sample_rate_hz", "other")] == 1 and got[("source_sample_rate_hz", "8000")] == 1
    assert got[("codec", "opus")] == 1 and got[("codec", "alaw")] == 1
    assert got[("n_channels", "1")] == 1 and got[("n_channels", "2")] == 1
    assert not any(m == "snr_db" for m, _ in got)        # all NULL: no rows, not a bin of NULLs


def test_every_metrics_bins_are_fixed_and_labelled_once():
    for metric in METRICS:
        labels = [b.label for b in metric.bins]
        assert len(labels) == len(set(labels)) and [b.index for b in metric.bins] == list(range(len(labels)))
        if metric.numeric:
            assert list(metric.edges) == sorted(metric.edges)
            assert metric.bins[0].lower is None and metric.bins[-1].upper is None


def test_psi_and_js_by_hand():
    p, q = np.array([0.5, 0.5, 0.0]), np.array([0.25, 0.25, 0.5])
    expected = 2 * (0.25 - 0.5) * np.log(0.25 / 0.5) + (0.5 - 1e-4) * np.log(0.5 / 1e-4)
    assert monitor.psi(p, q) == pytest.approx(expected)
    assert monitor.psi(p, p) == 0.0 and monitor.js_distance(p, p) == pytest.approx(0.0, abs=1e-7)
    assert monitor.js_distance(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)


# ---------------------------------------------------------------------------------- the training baseline


def test_the_shipped_training_baseline_is_small_in_the_warehouse_bins_and_from_the_shipped_model():
    from ser_model.inference import ModelInfo

    path = monitor.TRAINING_BASELINE
    assert path.stat().st_size < 20_000
    document = json.loads(path.read_text())
    assert document["model_version"] == ModelInfo.read().model_version, (
        "ser_model/artifacts/baseline_metrics.json was made with another model: regenerate it with "
        "python -m beam_pipeline.monitoring.training_baseline --manifest ../shared/data/manifest.csv "
        "--data-root ../shared/data --corpora ravdess,emodb,turev")
    per_turn = {m.name for m in METRICS if m.population == "turns"}
    assert set(document["metrics"]) == per_turn
    for name, entry in document["metrics"].items():
        assert set(entry["bins"]) <= {b.label for b in METRICS_BY_NAME[name].bins}
        assert sum(entry["bins"].values()) == entry["n_items"] == document["turns"]


def test_the_training_baseline_compares_per_turn_metrics_and_leaves_call_metrics_out(nights, capsys):
    code, report = _monitor(capsys, "--db", str(nights["same"]))
    assert code == monitor.EXIT_OK
    statuses = _statuses(report)
    assert {m for m, s in statuses.items() if s == "n/a"} == {m.name for m in METRICS if m.population == "calls"}
    assert "against training (" in report
