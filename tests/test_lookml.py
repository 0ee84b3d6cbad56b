"""The LookML project, checked offline: it parses, every reference resolves, lookmlint passes, and the SQL
every dashboard tile implies runs on the BigQuery emulator and gives the numbers the local dashboard shows.

There is no Looker here, so tile SQL is written by tests/lookml_sql.py the way
Looker writes it for this project's subset of LookML; the expected numbers come
from the same crafted night in DuckDB (tests/dashboard_expectations.py).
"""
from __future__ import annotations

import datetime as dt
import math
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import lkml
import pytest
import yaml

from beam_pipeline.warehouse.bigquery_sink import BigQuerySink
from sql.schema import TABLES, VIEWS, columns, view_columns
from tests.dashboard_expectations import EMOTIONS, Filters, expected_tiles
from tests.emulators import query
from tests.lookml_sql import LOOKML_DIR, REF, Field, Project
from tests.test_sql_views import CRAFTED

REPO = Path(__file__).resolve().parents[1]
LOOKMLINT = REPO / ".lookmlint" / "bin" / "lookmlint"
TABLE_COLUMN = re.compile(r"\$\{TABLE\}\.(\w+)")


@pytest.fixture(scope="module")
def project() -> Project:
    return Project()


def _warehouse_columns(name: str) -> set[str]:
    return {c.name for c in columns(name)} if name in TABLES else set(view_columns(name))


def test_every_file_parses():
    lookml_files = sorted(LOOKML_DIR.glob("*.lkml"))
    dashboard_files = sorted(LOOKML_DIR.glob("*.dashboard.lookml"))
    assert {p.name for p in dashboard_files} == {"customer_experience.dashboard.lookml",
                                                  "agent_wellbeing.dashboard.lookml"}
    for path in lookml_files:
        assert lkml.load(path.read_text()), path
    for path in dashboard_files:
        (dashboard,) = yaml.safe_load(path.read_text())
        assert dashboard["dashboard"] + ".dashboard.lookml" == path.name


def test_views_read_real_warehouse_columns_and_have_one_primary_key(project):
    assert set(project.views) == {"segments", "calls", "recording_paths", *VIEWS}
    for name, view in project.views.items():
        assert project.table(name) == f"`callmood.{name}`"
        known = _warehouse_columns(name)
        for field in view.get("dimensions", []) + view.get("dimension_groups", []) + view.get("measures", []):
            used = set(TABLE_COLUMN.findall(field.get("sql", "")))
            assert used <= known, f"{name}.{field['name']} reads missing columns {used - known}"
        keys = [d["name"] for d in view.get("dimensions", []) if d.get("primary_key") == "yes"]
        assert len(keys) == 1, name


def test_every_field_has_a_label_and_a_description(project):
    for name, view in project.views.items():
        for field in view.get("dimensions", []) + view.get("dimension_groups", []) + view.get("measures", []):
            assert field.get("label") and field.get("description"), f"{name}.{field['name']}"


def _dangling_references(project: Project) -> tuple[int, list[str]]:
    """(references checked, those that name no field): ${field} in a field's sql, and measure filters' fields."""
    checked, dangling = 0, []
    for key, field in project.fields.items():
        for ref in [r for r in REF.findall(field.sql) if r != "TABLE"] + [f for f, _ in field.filters]:
            checked += 1
            try:
                assert "${" not in project.sql(ref, field.view), f"{key} -> {ref} left a reference unresolved"
            except KeyError:
                dangling.append(f"{key} -> {ref}")
    return checked, dangling


def test_every_reference_inside_the_views_resolves(project):
    """Looker rejects a field whose sql or filter names a field that is not there; so must this check.

    The project's own references all resolve to plain SQL, and a field planted
    with one good and one dangling reference is reported for the dangling one only.
    """
    checked, dangling = _dangling_references(project)
    assert dangling == [] and checked > 0
    planted = Project()
    planted.fields["calls.planted"] = Field("calls", "planted", "measure", "number",
                                            "${total_interruptions} / ${no_such_field}")
    assert _dangling_references(planted)[1] == ["calls.planted -> no_such_field"]


def test_explores_join_on_the_keys(project):
    for explore in project.explores.values():
        assert explore["name"] in project.views
        for join in explore.get("joins", []):
            assert join["relationship"] in {"one_to_one", "many_to_one", "one_to_many"}
            assert "recording_uri" in join["sql_on"], join["name"]


def test_every_tile_and_filter_uses_fields_its_explore_has(project):
    models = {p.name[: -len(".model.lkml")] for p in LOOKML_DIR.glob("*.model.lkml")}
    tiles = 0
    for dashboard in project.dashboards.values():
        filter_names = {f["name"] for f in dashboard["filters"]}
        assert filter_names == {"date_range", "queue", "agent"}
        for dashboard_filter in dashboard["filters"]:
            assert dashboard_filter["model"] in models
            assert dashboard_filter["field"] in project.fields
        for element in dashboard["elements"]:
            tiles += 1
            explore = project.explores[element["explore"]]
            reachable = {explore["name"], *(j["name"] for j in explore.get("joins", []))}
            assert element["model"] in models
            referenced = (list(element["fields"]) + list(element.get("filters") or {})
                          + list((element.get("listen") or {}).values()) + list(element.get("pivots", []))
                          + [s.split()[0] for s in element.get("sorts", [])])
            for field in referenced:
                assert field in project.fields, f"{element['name']}: no field {field}"
                assert field.split(".")[0] in reachable, f"{element['name']}: {field} not in {explore['name']}"
            assert set(element.get("listen") or {}) <= filter_names
            assert set(element.get("pivots", [])) <= set(element["fields"])
    assert tiles == 9


# ----------------------------------------------------------------------------------------- lookmlint


def _lookmlint() -> Path:
    if not LOOKMLINT.exists():
        done = subprocess.run(["bash", str(REPO / "scripts" / "install_lookmlint.sh")], cwd=REPO,
                              capture_output=True, text=True, timeout=600)
        if done.returncode != 0 or not LOOKMLINT.exists():
            pytest.skip(f"lookmlint could not be installed by scripts/install_lookmlint.sh: {done.stderr[-800:]}")
    return LOOKMLINT


def _lint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(_lookmlint()), "lint", "--checks", "all", str(path)], capture_output=True,
                          text=True, timeout=120)


def test_lookmlint_with_every_check_passes():
    config = yaml.safe_load((LOOKML_DIR / ".lintconfig.yml").read_text())
    assert config["checks"] == ["all"]
    done = _lint(LOOKML_DIR)
    # lookmlint prints its findings (to stderr) under "Error:" and exits 1 when any check finds something.
    assert done.returncode == 0 and "Error" not in done.stdout + done.stderr, done.stdout + done.stderr


def test_lookmlint_would_catch_a_view_without_a_primary_key(tmp_path):
    broken = tmp_path / "looker"
    shutil.copytree(LOOKML_DIR, broken)
    view = broken / "calls.view.lkml"
    view.write_text(view.read_text().replace("primary_key: yes", ""))
    done = _lint(broken)
    report = done.stdout + done.stderr
    assert done.returncode != 0 and "views-missing-primary-keys" in report and "- calls" in report, report


# ------------------------------------------------------------------------- tile SQL on BigQuery emulator


@pytest.fixture(scope="module")
def bigquery_project(emulators):
    """The crafted night in a fresh emulator dataset, and the LookML project pointed at it."""
    sink = BigQuerySink("local-proj", f"looker_{uuid.uuid4().hex[:8]}")
    sink.ensure_tables()
    sink.replace_calls(CRAFTED)
    project = Project()
    project.constants["dataset"] = sink.table_id("calls").rsplit(".", 1)[0]
    return sink, project


FULL_RANGE = Filters(dt.date(2026, 11, 16), dt.date(2026, 11, 24))
CASES = {"all": FULL_RANGE, "billing": Filters(FULL_RANGE.date_from, FULL_RANGE.date_to, queue="billing"),
         "A2 from the 23rd": Filters(dt.date(2026, 11, 23), FULL_RANGE.date_to, agent="A2")}


def _looker_filters(f: Filters) -> dict[str, str]:
    end_exclusive = f.date_to + dt.timedelta(days=1)          # Looker's "A to B" excludes B
    looker = {"date_range": f"{f.date_from} to {end_exclusive}"}
    if f.queue is not None:
        looker["queue"] = f.queue
    if f.agent is not None:
        looker["agent"] = f.agent
    return looker


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)


def _tiles(project: Project) -> dict[str, dict]:
    return {e["name"]: e for d in project.dashboards.values() for e in d["elements"]}


@pytest.mark.parametrize("case", list(CASES))
def test_every_tile_runs_on_the_emulator_and_agrees_with_the_local_dashboard(case, bigquery_project, crafted_duckdb):
    sink, project = bigquery_project
    f = CASES[case]
    expected = expected_tiles(crafted_duckdb, f)
    tiles = _tiles(project)

    def run(name: str, **overrides) -> list[dict]:
        return query(sink.client, project.tile_sql(tiles[name], _looker_filters(f), overrides or None))

    results = {name: run(name) for name in tiles}         # every tile's SQL runs

    emotion = {str(r["segments__call_date"]): r for r in results["customer_emotion_over_time"]}
    assert emotion.keys() == expected["emotion_over_time"].keys()
    for day, averages in expected["emotion_over_time"].items():
        for e in EMOTIONS:
            assert _close(emotion[day][f"segments__average_{e}"], averages[e]), (day, e)

    (share,) = results["share_of_calls_ending_worse"]
    assert _close(share["cx_call_summary__worsened_call_share"], expected["worsened_share"])
    by_day = {str(r["cx_call_summary__call_date"]): r["cx_call_summary__worsened_call_share"]
              for r in results["share_of_calls_ending_worse_by_day"]}
    assert by_day.keys() == expected["worsened_by_day"].keys()
    assert all(_close(by_day[d], v) for d, v in expected["worsened_by_day"].items())

    hotspots = {(r["cx_call_summary__queue"] or "", r["cx_call_summary__started_hour_of_day"]):
                r["cx_call_summary__average_peak_anger"] for r in results["anger_hot_spots_by_queue_and_hour"]
                if r["cx_call_summary__average_peak_anger"] is not None}
    assert hotspots.keys() == expected["anger_hotspots"].keys()
    assert all(_close(hotspots[k], v) for k, v in expected["anger_hotspots"].items())

    distressed = {r["cx_call_summary__agent_id"]: (r["cx_call_summary__distressed_calls"],
                                                   r["cx_call_summary__call_count"])
                  for r in results["distressed_calls_per_agent"]}
    assert distressed == expected["distressed_per_agent"]
    streaks = {r["agent_daily_wellbeing__agent_id"]: (r["agent_daily_wellbeing__max_distressed_streak"],
                                                      r["agent_daily_wellbeing__back_to_back_distressed_calls"])
               for r in results["distressed_streaks_per_agent"]}
    assert streaks == expected["streaks_per_agent"]

    # The Looker tile shows yesterday's worst calls; pinned to the local page's day, they are the same calls.
    if expected["worst_calls_day"]:
        worst = run("worst_calls_of_the_day", **{"cx_call_summary.call_date": expected["worst_calls_day"]})
        assert [r["cx_call_summary__call_id"] for r in worst] and \
            sorted(r["cx_call_summary__call_id"] for r in worst) == sorted(expected["worst_calls"])
        scores = [r["cx_call_summary__frustration_score"] for r in worst]
        assert scores == sorted(scores, reverse=True)


def test_the_queue_filter_changes_what_a_tile_returns(bigquery_project):
    sink, project = bigquery_project
    tile = _tiles(project)["distressed_calls_per_agent"]
    everyone = query(sink.client, project.tile_sql(tile, _looker_filters(FULL_RANGE)))
    support = query(sink.client, project.tile_sql(tile, {**_looker_filters(FULL_RANGE), "queue": "support"}))
    assert {r["cx_call_summary__agent_id"] for r in everyone} == {"A1", "A2"}
    assert {r["cx_call_summary__agent_id"] for r in support} == {"A2"}


# ----------------------------------------------------------------------------------------- listening


def test_the_clear_path_is_joined_only_for_users_granted_can_listen(project):
    """Looker enforces access grants itself (there is no Looker here); what can be checked offline is that
    every way to reach recording_paths asks for the grant and that the grant is declared."""
    model = lkml.load((LOOKML_DIR / "callmood.model.lkml").read_text())
    grants = {g["name"]: g for g in model.get("access_grants", [])}
    assert grants["can_listen"]["user_attribute"] == "callmood_listen"
    joins = [j for e in project.explores.values() for j in e.get("joins", []) if j["name"] == "recording_paths"]
    assert {e for e, x in project.explores.items() if any(j["name"] == "recording_paths" for j in
                                                         x.get("joins", []))} == {"cx_call_summary", "segments"}
    assert all(j.get("required_access_grants") == ["can_listen"] for j in joins)
    assert "recording_paths" not in project.explores
    clear = next(d for d in project.views["recording_paths"]["dimensions"] if d["name"] == "clear_uri")
    assert clear["required_access_grants"] == ["can_listen"] and "Listen" in clear["links"][0]["label"]


def test_a_pseudonymised_call_gets_its_clear_path_and_the_others_none(bigquery_project):
    sink, project = bigquery_project
    calls = query(sink.client, f"SELECT recording_uri FROM {project.table('calls')} ORDER BY recording_uri")
    stored = calls[0]["recording_uri"]
    clear = "gs://calls/2026-11-23/+447700900123.wav"
    query(sink.client, f"INSERT INTO {project.table('recording_paths')} (recording_uri, clear_uri, call_date, "
                       f"written_at) VALUES ('{stored}', '{clear}', DATE '2026-11-23', CURRENT_TIMESTAMP())")
    try:
        element = {"explore": "cx_call_summary", "fields": ["cx_call_summary.recording_uri", "recording_paths.clear_uri"]}
        rows = {r["cx_call_summary__recording_uri"]: r["recording_paths__clear_uri"]
                for r in query(sink.client, project.tile_sql(element))}
        assert rows[stored] == clear
        assert len(rows) == len(calls) and all(v is None for k, v in rows.items() if k != stored)
    finally:
        query(sink.client, f"DELETE FROM {project.table('recording_paths')} WHERE TRUE")
