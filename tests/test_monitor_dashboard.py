"""The drift tile on both Customer Experience dashboards shows monitoring_nightly's numbers.

The crafted nights (Nov 16, 23, 24 of tests/test_sql_views.py, with their run_metrics)
give Nov 23 and Nov 24 a prior week; the local page is read in headless Chromium and
the Looker tile's SQL runs on the BigQuery emulator, both against DuckDB's view.
"""
from __future__ import annotations

import datetime as dt
import math
import uuid

import duckdb
import pytest

from tests import browser, cli


def _expected(db: str, date_from: str = "0000-00-00") -> dict[tuple[str, str], float]:
    with duckdb.connect(db, read_only=True) as con:
        rows = con.execute("SELECT DISTINCT CAST(call_date AS VARCHAR), metric, psi_prior_7d FROM monitoring_nightly "
                           "WHERE psi_prior_7d IS NOT NULL AND CAST(call_date AS VARCHAR) >= ?", [date_from]).fetchall()
    return {(day, metric): value for day, metric, value in rows}


CONSTANT_METRICS = ("duration_s", "n_channels", "codec", "loudness_dbfs", "speech_ratio")
EMOTION_METRICS = ("top_emotion", "prob_angry", "prob_disgust", "prob_fear", "prob_happy", "prob_neutral", "prob_sad")


def test_the_crafted_nights_drift_figures_are_the_ones_worked_out_by_hand(crafted_duckdb):
    """monitoring_nightly's PSI on the crafted nights, each night against the 7 calendar days before it.

    Nov 16 (c8: one angry turn) is the whole prior week of Nov 23, exactly 7 days
    back; Nov 23 alone is that of Nov 24, Nov 16 being 8 days back. Every turn is at
    -20 dBFS with speech ratio 0.9 and every call 60 s, stereo, of no known codec
    ('other'), so those metrics sit in one bin on every night: PSI 0. The emotions
    move: Nov 23's 17 turns are top angry 4, neutral 7, happy 2, sad 2, fear 1,
    disgust 1, against one angry turn on either side, so top_emotion's PSI is, on
    both nights (PSI is symmetric), (1 - 4/17) ln(17/4) plus, for each k in
    7, 2, 2, 1, 1, (k/17 - e) ln(k / 17e), with empty shares floored at e = 0.0001.
    The one-turn nights put each prob_* in a bin that holds few of Nov 23's turns:
    all drift (over 0.2, the threshold the view's description gives).
    """
    expected = _expected(crafted_duckdb)
    nights = ("2026-11-23", "2026-11-24")
    assert set(expected) == {(night, m) for night in nights for m in CONSTANT_METRICS + EMOTION_METRICS}
    e = 1e-4
    top_emotion = (1 - 4 / 17) * math.log(17 / 4) + sum((k / 17 - e) * math.log(k / (17 * e)) for k in (7, 2, 2, 1, 1))
    for night in nights:
        assert expected[(night, "top_emotion")] == pytest.approx(top_emotion, rel=1e-9)
        assert all(expected[(night, m)] == pytest.approx(0.0, abs=1e-12) for m in CONSTANT_METRICS)
        assert {m for m in EMOTION_METRICS if expected[(night, m)] > 0.2} == set(EMOTION_METRICS)
    with duckdb.connect(crafted_duckdb, read_only=True) as con:
        prior_items = dict(con.execute("SELECT DISTINCT CAST(call_date AS VARCHAR), prior_7d_items FROM "
                                       "monitoring_nightly WHERE metric = 'top_emotion'").fetchall())
    assert prior_items == {"2026-11-16": None, "2026-11-23": 1, "2026-11-24": 17}


@pytest.fixture(scope="module")
def page(crafted_duckdb, tmp_path_factory):
    reason = browser.missing_reason()
    if reason:
        pytest.skip(f"headless Chromium unavailable: {reason}")
    out = tmp_path_factory.mktemp("monitor-report") / "report.html"
    done = cli.run("dashboard", "--db", crafted_duckdb, "--out", str(out), timeout=120)
    assert done.returncode == 0, done.stderr
    with browser.chromium() as driver:
        driver.get(out.as_uri())
        yield driver


def _shown(driver) -> dict[tuple[str, str], float]:
    traces = driver.execute_script(
        "return document.getElementById('mon-drift-by-night').data.map((t) => [t.name, t.x, t.y]);")
    return {(day, name): value for name, xs, ys in traces for day, value in zip(xs, ys)}


def _same(shown: dict, expected: dict) -> bool:
    return shown.keys() == expected.keys() and all(math.isclose(shown[k], v, rel_tol=1e-9, abs_tol=1e-12)
                                                   for k, v in expected.items())


def test_the_local_tile_plots_each_nights_drift_and_follows_the_date_filter(page, crafted_duckdb):
    assert browser.console_errors(page) == []
    assert _same(_shown(page), _expected(crafted_duckdb))
    before = page.execute_script("return Number(document.body.dataset.rendered)")
    page.execute_script("const e = document.getElementById('filter-date-from'); e.value = '2026-11-24';"
                        "e.dispatchEvent(new Event('change', {bubbles: true}));")
    assert page.execute_script("return Number(document.body.dataset.rendered)") > before
    assert _same(_shown(page), _expected(crafted_duckdb, "2026-11-24"))
    page.find_element("id", "filter-reset").click()


def test_the_looker_tile_gives_the_same_numbers_on_the_emulator(emulators, crafted_duckdb):
    from beam_pipeline.warehouse.bigquery_sink import BigQuerySink
    from tests.emulators import query
    from tests.lookml_sql import Project
    from tests.test_sql_views import CRAFTED

    sink = BigQuerySink("local-proj", f"monitor_{uuid.uuid4().hex[:8]}")
    sink.ensure_tables()
    sink.replace_calls(CRAFTED)
    sink.write_run_metrics("r1", dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.timezone.utc))
    project = Project()
    project.constants["dataset"] = sink.dataset_ref
    (tile,) = [e for d in project.dashboards.values() for e in d["elements"] if e["name"] == "drift_by_night"]
    rows = query(sink.client, project.tile_sql(tile, {"date_range": "2026-11-16 to 2026-11-25"}))
    shown = {(str(r["monitoring_nightly__call_date"]), r["monitoring_nightly__metric"]):
             r["monitoring_nightly__max_psi_prior_7d"] for r in rows
             if r["monitoring_nightly__max_psi_prior_7d"] is not None}
    assert _same(shown, _expected(crafted_duckdb))
