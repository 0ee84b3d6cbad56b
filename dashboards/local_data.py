"""The rows the local dashboard draws, read from the analysis views of a callmood DuckDB file.

The page filters by date, queue and agent in the browser, so it is given rows at
the finest grain any tile needs (one per call, one per customer-turn group, one
per agent and day) and adds them up itself. The rows come from the same views
Looker reads in BigQuery (``sql/views``, created in the DuckDB file by its sink),
so a number on the page means what it means on the Looker dashboard.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb

from sql.schema import TABLES, VIEWS, duckdb_ddl, duckdb_view

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad")

# One row per call: what the Customer Experience tiles and the per-agent load need.
# The start hour is taken from epoch seconds, as the views do, so DuckDB's session
# time zone cannot shift it (Looker shows the same hour with a UTC connection).
CALLS_SQL = """
SELECT
  call_id,
  recording_uri,
  CAST(call_date AS VARCHAR) AS call_date,
  CAST(FLOOR((epoch(started_at) % 86400) / 3600) AS INTEGER) AS start_hour_utc,
  strftime(started_at AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M') AS started_at_utc,
  agent_id,
  queue,
  customer_turns,
  mood_trend,
  peak_anger,
  frustration_score,
  customer_distressed
FROM cx_call_summary
ORDER BY call_date, started_at, recording_uri
"""

# Customer turns summed per day, queue and agent: enough to average any filtered subset exactly.
EMOTION_SQL = """
SELECT
  CAST(call_date AS VARCHAR) AS call_date,
  COALESCE(queue, '') AS queue,
  COALESCE(agent_id, '') AS agent_id,
  COUNT(*) AS turns,
  {sums}
FROM segments
WHERE speaker = 'customer'
GROUP BY ALL
ORDER BY call_date, queue, agent_id
""".format(sums=",\n  ".join(f"SUM(prob_{e}) AS sum_prob_{e}" for e in EMOTIONS))

AGENT_DAYS_SQL = """
SELECT
  agent_id,
  CAST(call_date AS VARCHAR) AS call_date,
  calls,
  agent_turns,
  negative_turn_share,
  distressed_calls,
  back_to_back_distressed_calls,
  longest_distressed_streak,
  late_shift_calls
FROM agent_daily_wellbeing
ORDER BY call_date, agent_id
"""


# One row per night and metric (the view repeats these on every bin row): the drift tile's lines.
MONITORING_SQL = """
SELECT DISTINCT
  CAST(call_date AS VARCHAR) AS call_date,
  metric,
  n_items,
  mean_value,
  prior_7d_items,
  psi_prior_7d
FROM monitoring_nightly
ORDER BY call_date, metric
"""


def recording_link(recording_uri: str) -> str:
    """A URL a supervisor's browser can open for a recording.

    ``gs://bucket/object`` becomes the Cloud Console's authenticated download
    link (the same rule the LookML ``link`` uses); a local path becomes a
    ``file://`` URI, which opens the file on the machine that ran the job.
    """
    if recording_uri.startswith("gs://"):
        return "https://storage.cloud.google.com/" + recording_uri[len("gs://"):]
    if "://" in recording_uri:
        return recording_uri
    return Path(recording_uri).as_uri() if Path(recording_uri).is_absolute() else recording_uri


# The clear path of each pseudonymised recording (recording_paths): whoever can open the DuckDB file
# may read that table, so the page it writes links to the recording itself.
CLEAR_PATHS_SQL = "SELECT recording_uri, clear_uri FROM recording_paths"


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def _missing(con: duckdb.DuckDBPyConnection, names: tuple[str, ...], table_type: str) -> list[str]:
    present = {name for (name,) in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_type = ?", [table_type]).fetchall()}
    return [n for n in names if n not in present]


def load_dashboard_data(db_path: str | Path) -> dict[str, Any]:
    """Read the dashboard rows from a callmood DuckDB file (opened read-only).

    Parameters
    ----------
    db_path : str or Path
        A file written by ``callmood run --output``. Its sink creates the views;
        a file from before the views existed gets them as temporary views in
        this read-only session, from the same SQL (``sql.schema.duckdb_view``),
        and an empty temporary table for a table it predates (run_metrics).
        A call whose path was pseudonymised links to its clear path from
        ``recording_paths`` (so the page, like the file, then holds that path).

    Returns
    -------
    dict
        ``calls``, ``emotion_groups``, ``agent_days`` and ``monitoring`` (lists
        of JSON-ready dicts), ``emotions``, ``generated_at`` (UTC ISO time) and ``source``.
    """
    path = Path(db_path)
    if not path.exists():
        raise FileNotFoundError(f"no DuckDB file at {path}")
    with duckdb.connect(str(path), read_only=True) as con:
        for table in _missing(con, TABLES, "BASE TABLE"):
            con.execute(duckdb_ddl(table).replace("CREATE TABLE", "CREATE TEMP TABLE", 1))
        for view in _missing(con, VIEWS, "VIEW"):
            con.execute(duckdb_view(view).replace("CREATE OR REPLACE VIEW", "CREATE OR REPLACE TEMP VIEW", 1))
        calls = _rows(con, CALLS_SQL)
        emotion_groups = _rows(con, EMOTION_SQL)
        agent_days = _rows(con, AGENT_DAYS_SQL)
        monitoring = _rows(con, MONITORING_SQL)
        clear = dict(con.execute(CLEAR_PATHS_SQL).fetchall())
    for call in calls:   # recording_uri (the link's title) stays pseudonymised; the link opens the file
        call["recording_link"] = recording_link(clear.get(call["recording_uri"], call["recording_uri"]))
    return {
        "calls": calls,
        "emotion_groups": emotion_groups,
        "agent_days": agent_days,
        "monitoring": monitoring,
        "emotions": list(EMOTIONS),
        "generated_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "source": path.name,
    }
