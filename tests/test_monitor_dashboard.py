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


def test_the_crafted_nights_have_drift_figures(crafted_duckdb):
    expected = _expected(crafted_duckdb)
    assert {day for day, _ in expected} == {"2026-11-23", "2026-11-24"}
    assert all(value >= 0 for value in expected.values())


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
