"""The local HTML dashboard in headless Chromium: it loads cleanly, shows the DuckDB file's numbers, and filters.

The warehouse is the crafted night of tests/test_sql_views.py written through the
real DuckDB sink (several days, queues and agents, no model needed); every
expected number is computed from that file with SQL (tests/dashboard_expectations.py).
"""
from __future__ import annotations

import math
import re
import subprocess
from pathlib import Path

import pytest

from dashboards.local_dashboard import render_html
from dashboards.local_data import load_dashboard_data, recording_link
from tests import browser, cli
from tests.dashboard_expectations import EMOTIONS, Filters, date_span, expected_tiles

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def warehouse(crafted_duckdb) -> str:
    return crafted_duckdb


@pytest.fixture(scope="module")
def report(warehouse, tmp_path_factory) -> Path:
    """The page, written by the real command line."""
    out = tmp_path_factory.mktemp("report") / "report.html"
    done = cli.run("dashboard", "--db", warehouse, "--out", str(out), timeout=120)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def page(report):
    reason = browser.missing_reason()
    if reason:
        pytest.skip(f"headless Chromium unavailable: {reason}")
    with browser.chromium() as driver:
        driver.get(report.as_uri())
        yield driver


def _close(actual, expected) -> bool:
    if expected is None or actual is None:
        return actual is None and expected is None
    return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12)


def _shown(driver) -> dict:
    """What the page shows now: every tile's numbers, read from the plotted traces and the tables."""
    script = """
      const d = (id) => document.getElementById(id).data;
      const cells = (id) => Array.from(document.querySelectorAll('#' + id + ' tr')).slice(1)
        .map((tr) => Array.from(tr.children).map((td) => td.textContent));
      const links = Array.from(document.querySelectorAll('#cx-worst-calls a')).map((a) => a.href);
      return {emotion: d('cx-emotion-over-time').map((t) => [t.name, t.x, t.y]),
              worsened_text: document.getElementById('cx-worsened-share').textContent,
              worsened_by_day: d('cx-worsened-by-day').map((t) => [t.x, t.y]),
              hotspots: d('cx-anger-hotspots').map((t) => [t.x, t.y, t.z]),
              worst_title: document.getElementById('cx-worst-calls-title').textContent,
              worst: cells('cx-worst-calls'), worst_links: links,
              distressed: d('aw-distressed-per-agent').map((t) => [t.name, t.y, t.x]),
              streaks: d('aw-streaks-per-agent').map((t) => [t.name, t.y, t.x]),
              rendered: Number(document.body.dataset.rendered)};
    """
    return driver.execute_script(script)


def _check_page_against(shown: dict, expected: dict) -> None:
    emotion = {name: dict(zip(x, y)) for name, x, y in shown["emotion"]}
    assert [name for name, _, _ in shown["emotion"]] == list(EMOTIONS)
    for day, averages in expected["emotion_over_time"].items():
        for e in EMOTIONS:
            assert _close(emotion[e][day], averages[e]), (day, e)
    assert set(emotion["angry"]) == set(expected["emotion_over_time"])

    share = expected["worsened_share"]
    assert shown["worsened_text"] == ("\u2013" if share is None else f"{100 * share:.1f}%")
    (days, shares), = shown["worsened_by_day"]
    assert dict(zip(days, shares)).keys() == expected["worsened_by_day"].keys()
    for day, value in zip(days, shares):
        assert _close(value, expected["worsened_by_day"][day]), day

    (hours, queues, z), = shown["hotspots"]
    cells = {((q if q != "(no queue)" else ""), h): v
             for q, row in zip(queues, z) for h, v in zip(hours, row) if v is not None}
    assert cells.keys() == expected["anger_hotspots"].keys()
    for key, value in cells.items():
        assert _close(value, expected["anger_hotspots"][key]), key

    assert sorted(row[0] for row in shown["worst"]) == sorted(expected["worst_calls"])
    scores = [float(row[4]) for row in shown["worst"]]
    assert scores == sorted(scores, reverse=True)
    if expected["worst_calls_day"]:
        assert expected["worst_calls_day"] in shown["worst_title"]

    distressed = {name: dict(zip(agents, values)) for name, agents, values in shown["distressed"]}
    assert distressed["distressed calls"] == {a: n for a, (n, _) in expected["distressed_per_agent"].items()}
    assert distressed["all calls"] == {a: n for a, (_, n) in expected["distressed_per_agent"].items()}
    streaks = {name: dict(zip(agents, values)) for name, agents, values in shown["streaks"]}
    assert streaks["longest run"] == {a: s for a, (s, _) in expected["streaks_per_agent"].items()}
    assert streaks["back to back"] == {a: b for a, (_, b) in expected["streaks_per_agent"].items()}


def _set(driver, element_id: str, value: str) -> None:
    """Set a filter as a user would, and wait for the page to redraw."""
    before = driver.execute_script("return Number(document.body.dataset.rendered)")
    driver.execute_script(
        "const e = document.getElementById(arguments[0]); e.value = arguments[1];"
        "e.dispatchEvent(new Event('change', {bubbles: true}));", element_id, value)
    assert driver.execute_script("return Number(document.body.dataset.rendered)") > before


def test_the_page_is_one_file_with_nothing_to_fetch(report):
    text = report.read_text(encoding="utf-8")
    assert "Plotly" in text and "customer-experience" in text and "agent-wellbeing" in text
    # No external script, style sheet or image: the page must open offline.
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//', text)


def test_it_loads_without_console_errors_and_requests_nothing(page):
    assert browser.console_errors(page) == []
    assert page.execute_script("return typeof Plotly") == "object"
    assert page.execute_script("return performance.getEntriesByType('resource').length") == 0


def test_the_charts_hold_the_numbers_in_the_duckdb_file(page, warehouse):
    first, last = date_span(warehouse)
    _check_page_against(_shown(page), expected_tiles(warehouse, Filters(first, last)))


def test_the_worst_calls_link_to_their_recordings(page):
    links = _shown(page)["worst_links"]
    assert links and all(link.startswith("https://storage.cloud.google.com/calls/") for link in links)


def test_a_queue_filter_changes_the_numbers_to_that_queues(page, warehouse):
    first, last = date_span(warehouse)
    everything = _shown(page)
    _set(page, "filter-queue", "support")
    support = _shown(page)
    assert support["distressed"] != everything["distressed"]
    _check_page_against(support, expected_tiles(warehouse, Filters(first, last, queue="support")))
    assert browser.console_errors(page) == []
    page.find_element("id", "filter-reset").click()
    _check_page_against(_shown(page), expected_tiles(warehouse, Filters(first, last)))


def test_date_and_agent_filters_narrow_the_numbers(page, warehouse):
    first, last = date_span(warehouse)
    _set(page, "filter-date-from", "2026-11-23")
    _set(page, "filter-agent", "A2")
    shown = _shown(page)
    import datetime as dt

    _check_page_against(shown, expected_tiles(warehouse, Filters(dt.date(2026, 11, 23), last, agent="A2")))
    assert {x for _, xs, _ in shown["emotion"] for x in xs} == {"2026-11-23", "2026-11-24"}
    page.find_element("id", "filter-reset").click()
    _check_page_against(_shown(page), expected_tiles(warehouse, Filters(first, last)))


def test_an_old_file_without_views_still_renders(tmp_path, warehouse):
    import shutil

    import duckdb

    old = tmp_path / "old.duckdb"
    shutil.copy(warehouse, old)
    with duckdb.connect(str(old)) as con:
        for view in ("agent_daily_wellbeing", "cx_queue_daily", "cx_call_summary"):
            con.execute(f"DROP VIEW {view}")
    assert load_dashboard_data(old)["calls"] == load_dashboard_data(warehouse)["calls"]


def test_recording_links():
    assert recording_link("gs://calls/2026-11-23/a.wav") == "https://storage.cloud.google.com/calls/2026-11-23/a.wav"
    assert recording_link("/data/calls/a b.wav") == "file:///data/calls/a%20b.wav"


def test_embedded_data_cannot_close_its_script_tag(warehouse):
    data = load_dashboard_data(warehouse)
    data["calls"][0]["call_id"] = "</script><script>alert(1)</script>"
    page = render_html(data)
    assert "</script><script>alert(1)" not in page


def test_serve_answers_with_the_page(warehouse):
    from tests.emulators import free_port
    import time
    import urllib.request

    port = free_port()
    server = subprocess.Popen(cli.command("dashboard", "--db", warehouse, "--serve", "--port", str(port)), cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    page = response.read().decode()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.2)
        assert '"call_id":"c10"' in page and "Plotly" in page
    finally:
        server.terminate()
        server.wait(timeout=10)
