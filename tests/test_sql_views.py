"""The analysis views on crafted calls: hand-computed answers, the same from BigQuery (emulator) and DuckDB.

The crafted night is small enough to work out by hand (the arithmetic is in the
comments) and shaped to hit what the views must get right: a customer who calms
down and one who sours, ties for the angriest turn, a run of distressed
customers broken by an easy call, late-shift boundaries at exactly 18:00 and
06:00 UTC, an undiarized call without a sidecar, and 7-day windows that must
count calendar days rather than rows.
"""
from __future__ import annotations

import datetime as dt
import math

import duckdb
import pytest
import sqlglot

from beam_pipeline.warehouse.rows import CIRCUMPLEX, CallResult
from beam_pipeline.warehouse.bigquery_sink import BigQuerySink
from beam_pipeline.warehouse.duckdb_sink import DuckDBSink
from sql import schema
from sql.schema import TABLES, VIEWS, bigquery_view, duckdb_ddl, duckdb_view, view_columns, view_description
from tests.emulators import query

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
NOV16, NOV23, NOV24 = dt.date(2026, 11, 16), dt.date(2026, 11, 23), dt.date(2026, 11, 24)


def _turn(speaker: str, start_s: float, end_s: float, valence: float, **probabilities: float) -> dict:
    probs = {f"prob_{e}": probabilities.get(e, 0.0) for e in CIRCUMPLEX}
    top = max(probabilities, key=probabilities.get)
    return {"speaker": speaker, "channel": 0 if speaker == "agent" else 1, "start_s": start_s, "end_s": end_s,
            **probs, "top_emotion": top, "top_confidence": probabilities[top], "arousal": 0.0, "valence": valence}


def _call(call_id: str, call_date: dt.date, started_at: dt.datetime | None, agent_id: str, queue: str,
          talk_s: tuple[float | None, float | None], turns: list[dict]) -> CallResult:
    uri = f"gs://calls/{call_date}/{call_id}.wav"
    identity = {"call_id": call_id, "recording_uri": uri, "call_date": call_date, "agent_id": agent_id, "queue": queue}
    stamp = {"model_version": "ser-test", "run_id": "r1", "processed_at": NOW}
    segments = tuple({**identity, "turn_index": i, **turn, "loudness_dbfs": -20.0, "pitch_median_hz": 180.0,
                      "speech_ratio": 0.9, "overlap_s": 0.0, "n_windows": 1, **stamp}
                     for i, turn in enumerate(turns))
    agent_s, customer_s = talk_s
    call = {**identity, "started_at": started_at, "duration_s": 60.0, "n_channels": 2, "turn_count": len(turns),
            "agent_talk_s": agent_s, "customer_talk_s": customer_s,
            "agent_talk_share": agent_s / (agent_s + customer_s) if agent_s is not None else None, **stamp}
    return CallResult(uri, call, segments)


def _at(day: dt.date, hh: int, mm: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hh, mm, tzinfo=UTC)


C, A = "customer", "agent"
CRAFTED = [
    # A1, billing, Nov 23, in started_at order: c6 c1 c2 c3 c5 c4 = D D D . D D
    # c1: customer angry (0.6+0.1+0.5*0.2 = 0.8, 2 s) then neutral (0.2, 4 s): frustration (1.6+0.8)/6 = 0.4;
    #     negative share 1/2 -> distressed; valence -0.5 -> 0.1: improved.
    _call("c1", NOV23, _at(NOV23, 6), "A1", "billing", (2.0, 6.0), [
        _turn(C, 0.0, 2.0, -0.5, angry=0.6, disgust=0.1, fear=0.2, neutral=0.1),
        _turn(A, 2.0, 4.0, 0.0, neutral=1.0),
        _turn(C, 4.0, 8.0, 0.1, neutral=0.7, angry=0.2, happy=0.1)]),
    # c2: angry 0.9 (2 s), then neutral-top with 0.3 anger + 0.3 disgust = 0.6 (1 s): (1.8+0.6)/3 = 0.8.
    _call("c2", NOV23, _at(NOV23, 10), "A1", "billing", (3.0, 3.0), [
        _turn(A, 0.0, 3.0, -0.6, sad=0.6, neutral=0.4),
        _turn(C, 3.0, 5.0, -0.7, angry=0.9, neutral=0.1),
        _turn(C, 6.0, 7.0, -0.3, neutral=0.4, angry=0.3, disgust=0.3)]),
    # c3: happy, sad, neutral: frustration 0, negative 1/3 -> not distressed; valence 0.6 -> 0.0: worsened;
    #     no anger anywhere: the peak is the earliest customer turn (0.0 s).
    _call("c3", NOV23, _at(NOV23, 11), "A1", "billing", (1.0, 5.0), [
        _turn(C, 0.0, 2.0, 0.6, happy=0.8, neutral=0.2),
        _turn(A, 2.0, 3.0, 0.8, happy=1.0),
        _turn(C, 3.0, 5.0, -0.4, sad=0.7, neutral=0.3),
        _turn(C, 6.0, 7.0, 0.0, neutral=1.0)]),
    # c4 (19:30, late): angry 0.5 exactly (an angry call), frustration 0.8, unchanged (one customer turn).
    _call("c4", NOV23, _at(NOV23, 19, 30), "A1", "billing", (2.0, 4.0), [
        _turn(C, 0.0, 4.0, -0.6, angry=0.5, disgust=0.2, fear=0.2, neutral=0.1),
        _turn(A, 4.0, 6.0, -0.4, fear=0.6, neutral=0.4)]),
    # c5 (18:00 exactly: late): angry 0.7 -> frustration 0.7.
    _call("c5", NOV23, _at(NOV23, 18), "A1", "billing", (0.0, 2.0), [
        _turn(C, 0.0, 2.0, -0.56, angry=0.7, neutral=0.3)]),
    # c6 (05:30: late, and the day's first call): disgust 0.8 -> frustration 0.8, no anger.
    _call("c6", NOV23, _at(NOV23, 5, 30), "A1", "billing", (0.0, 1.0), [
        _turn(C, 0.0, 1.0, -0.56, disgust=0.8, neutral=0.2)]),
    # c7: no sidecar, undiarized mono: no agent, no queue, no customer turns.
    _call("c7", NOV23, None, "", "", (None, None), [
        _turn("speaker_0", 0.0, 3.0, 0.0, neutral=1.0)]),
    # A2, support: one call a day on Nov 16, 23 and 24.
    _call("c8", NOV16, _at(NOV16, 10), "A2", "support", (1.0, 2.0), [
        _turn(C, 0.0, 2.0, -0.7, angry=0.9, neutral=0.1)]),
    _call("c9", NOV23, _at(NOV23, 10), "A2", "support", (1.0, 2.0), [
        _turn(C, 0.0, 2.0, 0.0, neutral=0.9, angry=0.1),
        _turn(A, 2.0, 3.0, 0.0, neutral=1.0)]),
    _call("c10", NOV24, _at(NOV24, 10), "A2", "support", (1.0, 2.0), [
        _turn(C, 0.0, 2.0, -0.4, angry=0.5, disgust=0.1, neutral=0.4)]),
]

EXPECTED_CALLS = {
    # call: (customer_turns, start, end, valence_change, mood_trend, peak_anger, peak_anger_at_s,
    #        negative_turn_share, frustration_score, customer_distressed)
    "c1": (2, "angry", "neutral", 0.6, "improved", 0.6, 0.0, 0.5, 0.4, True),
    "c2": (2, "angry", "neutral", 0.4, "improved", 0.9, 3.0, 0.5, 0.8, True),
    "c3": (3, "happy", "neutral", -0.6, "worsened", 0.0, 0.0, 1 / 3, 0.0, False),
    "c4": (1, "angry", "angry", 0.0, "unchanged", 0.5, 0.0, 1.0, 0.8, True),
    "c5": (1, "angry", "angry", 0.0, "unchanged", 0.7, 0.0, 1.0, 0.7, True),
    "c6": (1, "disgust", "disgust", 0.0, "unchanged", 0.0, 0.0, 1.0, 0.8, True),
    "c7": (0, None, None, None, None, None, None, None, None, False),
    "c8": (1, "angry", "angry", 0.0, "unchanged", 0.9, 0.0, 1.0, 0.9, True),
    "c9": (1, "neutral", "neutral", 0.0, "unchanged", 0.1, 0.0, 0.0, 0.1, False),
    "c10": (1, "angry", "angry", 0.0, "unchanged", 0.5, 0.0, 1.0, 0.6, True),
}
CALL_COLUMNS = ("customer_turns", "start_emotion", "end_emotion", "valence_change", "mood_trend", "peak_anger",
                "peak_anger_at_s", "negative_turn_share", "frustration_score", "customer_distressed")

EXPECTED_QUEUE_DAYS = {
    # (queue, day): (calls, calls_with_customer, avg_frustration, distressed_rate, angry_rate, improved_rate,
    #                worsened_rate, avg_negative_share, avg_valence_change, frustration_7d, distressed_7d, trend)
    # billing: frustrations 0.4 0.8 0 0.8 0.7 0.8 (sum 3.5); distressed c1 c2 c4 c5 c6; peak >= 0.5: c1 c2 c4 c5;
    # negative shares .5 .5 1/3 1 1 1; valence changes .6 .4 -.6 0 0 0.
    ("billing", NOV23): (6, 6, 3.5 / 6, 5 / 6, 4 / 6, 2 / 6, 1 / 6, (13 / 3) / 6, 0.4 / 6, 3.5 / 6, 5 / 6, None),
    ("", NOV23): (1, 0, None, None, None, None, None, None, None, None, None, None),
    # support: Nov 16 is the 7th day before Nov 23 (in its trend, not in its 7-day window).
    ("support", NOV16): (1, 1, 0.9, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.9, 1.0, None),
    ("support", NOV23): (1, 1, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1, 0.0, 0.1 - 0.9),
    ("support", NOV24): (1, 1, 0.6, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, (0.1 + 0.6) / 2, 0.5, 0.6 - 0.1),
}
QUEUE_COLUMNS = ("calls", "calls_with_customer", "avg_frustration_score", "distressed_call_rate", "angry_call_rate",
                 "improved_call_rate", "worsened_call_rate", "avg_negative_turn_share", "avg_valence_change",
                 "frustration_7d_avg", "distressed_rate_7d", "frustration_trend")

EXPECTED_AGENT_DAYS = {
    # (agent, day): (calls, agent_turns, negative_turn_share, distressed_calls, back_to_back, longest_streak,
    #                avg_customer_frustration, agent_talk_s, talk_share, late_shift_calls, late_shift_share,
    #                late_shift_agent_talk_s)
    # A1 Nov 23 in order c6 c1 c2 c3 c5 c4: D D D . D D -> back to back: c1, c2, c4 = 3; longest 3.
    # Agent turns: neutral, sad, happy, fear -> 2 of 4 negative. Talk 8 s agent, 21 s customer.
    # Late: c6 (05:30), c5 (18:00), c4 (19:30); c1 at 06:00 is not. Late agent talk: 0 + 0 + 2.
    ("A1", NOV23): (6, 4, 0.5, 5, 3, 3, 3.5 / 6, 8.0, 8 / 29, 3, 0.5, 2.0),
    ("A2", NOV16): (1, 0, None, 1, 0, 1, 0.9, 1.0, 1 / 3, 0, 0.0, 0.0),
    ("A2", NOV23): (1, 1, 0.0, 0, 0, 0, 0.1, 1.0, 1 / 3, 0, 0.0, 0.0),
    ("A2", NOV24): (1, 0, None, 1, 0, 1, 0.6, 1.0, 1 / 3, 0, 0.0, 0.0),
}
AGENT_COLUMNS = ("calls", "agent_turns", "negative_turn_share", "distressed_calls", "back_to_back_distressed_calls",
                 "longest_distressed_streak", "avg_customer_frustration", "agent_talk_s", "talk_share",
                 "late_shift_calls", "late_shift_share", "late_shift_agent_talk_s")


def _same(actual, expected) -> bool:
    if expected is None or actual is None:
        return actual is expected
    if isinstance(expected, float) or isinstance(actual, float):
        return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-9)
    return actual == expected


def _check(rows: dict, expected: dict, names: tuple[str, ...]) -> None:
    assert set(rows) == set(expected)
    for key, values in expected.items():
        wrong = {n: (rows[key][n], v) for n, v in zip(names, values) if not _same(rows[key][n], v)}
        assert not wrong, f"{key}: (actual, expected) {wrong}"


@pytest.fixture(scope="module")
def duckdb_engine(tmp_path_factory):
    sink = DuckDBSink(str(tmp_path_factory.mktemp("views") / "views.duckdb"))
    sink.ensure_tables()
    sink.replace_calls(CRAFTED)
    sink.write_run_metrics("r1", NOW)     # the crafted nights' histograms, for monitoring_nightly

    def rows(view: str) -> list[dict]:
        with duckdb.connect(sink.path, read_only=True) as con:
            cursor = con.execute(f"SELECT * FROM {view}")
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    return rows


@pytest.fixture(scope="module")
def bigquery_engine(emulators):
    import uuid

    sink = BigQuerySink("local-proj", f"views_{uuid.uuid4().hex[:8]}")
    sink.ensure_tables()
    sink.replace_calls(CRAFTED)
    sink.write_run_metrics("r1", NOW)     # the crafted nights' histograms, for monitoring_nightly
    return lambda view: query(sink.client, f"SELECT * FROM `{sink.table_id(view)}`")


@pytest.fixture(params=["bigquery", "duckdb"])
def engine(request):
    return request.getfixturevalue(f"{request.param}_engine")


def test_call_summary_per_call(engine):
    rows = {r["call_id"]: r for r in engine("cx_call_summary")}
    _check(rows, EXPECTED_CALLS, CALL_COLUMNS)
    assert rows["c1"]["start_valence"] == -0.5 and rows["c1"]["end_valence"] == 0.1
    assert (rows["c7"]["agent_id"], rows["c7"]["queue"], rows["c7"]["started_at"]) == ("", "", None)


def test_queue_daily_rates_and_calendar_day_trends(engine):
    rows = {(r["queue"], r["call_date"]): r for r in engine("cx_queue_daily")}
    _check(rows, EXPECTED_QUEUE_DAYS, QUEUE_COLUMNS)


def test_agent_daily_wellbeing_streaks_talk_share_and_late_shift(engine):
    rows = {(r["agent_id"], r["call_date"]): r for r in engine("agent_daily_wellbeing")}
    _check(rows, EXPECTED_AGENT_DAYS, AGENT_COLUMNS)


@pytest.mark.parametrize("view", VIEWS)
def test_both_engines_give_the_same_rows_and_columns(view, bigquery_engine, duckdb_engine):
    def ordered(rows):
        return sorted(rows, key=lambda r: tuple(str(v) for v in r.values()))

    from_bigquery, from_duckdb = ordered(bigquery_engine(view)), ordered(duckdb_engine(view))
    assert [list(r) for r in from_bigquery[:1]] == [list(view_columns(view))]
    assert [list(r) for r in from_duckdb[:1]] == [list(view_columns(view))]
    assert len(from_bigquery) == len(from_duckdb)
    for big, duck in zip(from_bigquery, from_duckdb):
        assert all(_same(big[n], duck[n]) for n in big), (big, duck)


# -- the SQL files and their transpilation -------------------------------------------------------

@pytest.mark.parametrize("view", VIEWS)
def test_every_view_and_column_is_described(view):
    assert view_description(view).strip()
    assert all(description.strip() for description in view_columns(view).values()), view_columns(view)
    assert max(len(d) for d in [view_description(view), *view_columns(view).values()]) <= 1024  # BigQuery's limit


@pytest.mark.parametrize("view", VIEWS)
def test_bigquery_text_is_the_file_with_the_dataset_filled_in(view):
    text = bigquery_view(view, "my-proj.callmood")
    assert "{dataset}" not in text and f"`my-proj.callmood`.{view}" in text
    parsed = sqlglot.parse_one(text, read="bigquery")
    assert parsed.args["kind"] == "VIEW" and parsed.args.get("replace")


@pytest.mark.parametrize("view", VIEWS)
def test_duckdb_text_is_unqualified_and_free_of_bigquery_options(view):
    text = duckdb_view(view)
    for fragment in ("{dataset}", "`", "OPTIONS", "description"):
        assert fragment not in text
    assert text.startswith(f"CREATE OR REPLACE VIEW {view} (")


def test_views_are_created_after_the_views_they_read():
    for position, view in enumerate(VIEWS):
        tree = sqlglot.parse_one(bigquery_view(view, "p.d"), read="bigquery")
        read = {t.name for t in tree.expression.find_all(sqlglot.exp.Table)}
        assert read & set(VIEWS) <= set(VIEWS[:position]), view


def test_unknown_views_are_refused():
    for bad in ("../tables/calls", "calls", ""):
        with pytest.raises(ValueError):
            duckdb_view(bad)
        with pytest.raises(ValueError):
            bigquery_view(bad, "p.d")


# The transpile traps, checked on DuckDB against BigQuery's documented answers (and on the emulator).
# 2026-11-24 is a Tuesday: BigQuery's DAYOFWEEK counts Sunday as 1, so Tuesday is 3; DATE_TRUNC of a DATE
# is a DATE; COUNTIF over nothing but NULL conditions is 0.
TRAP_SQL = ("SELECT EXTRACT(DAYOFWEEK FROM d) AS weekday, DATE_TRUNC(d, MONTH) AS month_start, "
            "COUNTIF(unknown) AS matches FROM (SELECT DATE '2026-11-24' AS d, CAST(NULL AS BOOL) AS unknown) AS days "
            "GROUP BY d")
BIGQUERY_ANSWER = (3, dt.date(2026, 11, 1), 0)


def _fixed(sql: str) -> str:
    tree = sqlglot.parse_one(sql, read="bigquery")
    tree = schema._countif_counts_zero(schema._date_trunc_stays_a_date(schema._dayofweek_from_sunday_1(tree)))
    return tree.sql(dialect="duckdb")


def test_transpile_traps_are_corrected_for_duckdb():
    plain = duckdb.sql(sqlglot.transpile(TRAP_SQL, read="bigquery", write="duckdb")[0]).fetchone()
    assert plain[0] == 2 and isinstance(plain[1], dt.datetime) and plain[2] is None   # the traps are real
    assert duckdb.sql(_fixed(TRAP_SQL)).fetchone() == BIGQUERY_ANSWER


def test_the_emulator_agrees_with_bigquery_on_the_traps_the_views_could_meet(emulators):
    from tests.emulators import bigquery_client

    row = query(bigquery_client(), TRAP_SQL)[0]
    # bqemulator returns DATE_TRUNC(date, MONTH) as a DATETIME (BigQuery: DATE); its value is right.
    assert (row["weekday"], row["month_start"].isoformat()[:10], row["matches"]) == (3, "2026-11-01", 0)


def test_array_agg_with_limit_is_refused_with_a_pointer_to_row_number():
    tree = sqlglot.parse_one("SELECT ARRAY_AGG(x ORDER BY y LIMIT 1)[OFFSET(0)] FROM t", read="bigquery")
    with pytest.raises(ValueError, match="ROW_NUMBER"):
        schema._refuse_array_agg_limit(tree, "example")


def test_views_do_not_depend_on_the_duckdb_session_time_zone(tmp_path):
    """Late-shift hours come out in UTC even when a dashboard's DuckDB session runs in another zone."""
    sink = DuckDBSink(str(tmp_path / "tz.duckdb"))
    sink.ensure_tables()
    sink.replace_calls(CRAFTED)
    with duckdb.connect(sink.path) as con:
        con.execute("SET TimeZone = 'America/Los_Angeles'")
        late = con.execute("SELECT late_shift_calls FROM agent_daily_wellbeing "
                           "WHERE agent_id = 'A1' AND call_date = DATE '2026-11-23'").fetchone()
    assert late == (3,)


def test_views_read_only_the_warehouse_tables_and_each_other():
    for view in VIEWS:
        tree = sqlglot.parse_one(duckdb_view(view), read="duckdb")
        ctes = {cte.alias for cte in tree.find_all(sqlglot.exp.CTE)}
        read = {t.name for t in tree.find_all(sqlglot.exp.Table)} - ctes - {view}
        assert read <= set(TABLES) | set(VIEWS), (view, read)
        with duckdb.connect() as con:   # and runs on an empty warehouse
            for table in TABLES:
                con.execute(duckdb_ddl(table))
            for earlier in VIEWS[:VIEWS.index(view) + 1]:
                con.execute(duckdb_view(earlier))
            assert con.execute(f"SELECT count(*) FROM {view}").fetchone() == (0,)
