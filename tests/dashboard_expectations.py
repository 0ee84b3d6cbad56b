"""What each dashboard tile should show, computed with plain SQL over a DuckDB file's views.

Both the browser test (the local HTML page) and the LookML test (the Looker tiles'
SQL on the BigQuery emulator) compare against these numbers, so the two
dashboards are held to one definition of every tile, written here independently
of the JavaScript and of the LookML.
"""
from __future__ import annotations

import dataclasses
import datetime as dt

import duckdb

EMOTIONS = ("angry", "disgust", "fear", "happy", "neutral", "sad")


@dataclasses.dataclass(frozen=True)
class Filters:
    """The dashboard filters: an inclusive date range, and optionally one queue and one agent."""

    date_from: dt.date
    date_to: dt.date
    queue: str | None = None
    agent: str | None = None

    def where(self, use_queue: bool = True) -> tuple[str, list]:
        clauses, params = ["call_date BETWEEN ? AND ?"], [self.date_from, self.date_to]
        if use_queue and self.queue is not None:
            clauses.append("COALESCE(queue, '') = ?")
            params.append(self.queue)
        if self.agent is not None:
            clauses.append("COALESCE(agent_id, '') = ?")
            params.append(self.agent)
        return " AND ".join(clauses), params


def date_span(db_path: str) -> tuple[dt.date, dt.date]:
    with duckdb.connect(db_path, read_only=True) as con:
        return con.execute("SELECT MIN(call_date), MAX(call_date) FROM calls").fetchone()


def expected_tiles(db_path: str, f: Filters) -> dict:
    """Every tile's numbers for the filters ``f``, keyed by tile name."""
    where, params = f.where()
    where_no_queue, params_no_queue = f.where(use_queue=False)
    with duckdb.connect(db_path, read_only=True) as con:
        def rows(sql: str, p: list) -> list[tuple]:
            return con.execute(sql, p).fetchall()

        averages = ", ".join(f"AVG(prob_{e})" for e in EMOTIONS)
        emotion = {str(day): dict(zip(EMOTIONS, values)) for day, *values in rows(
            f"SELECT call_date, {averages} FROM segments WHERE speaker = 'customer' AND {where} "
            "GROUP BY call_date", params)}
        worsened_sql = ("SELECT {key} COUNT(CASE WHEN mood_trend = 'worsened' THEN 1 END) / "
                        "NULLIF(COUNT(CASE WHEN customer_turns > 0 THEN 1 END), 0) FROM cx_call_summary "
                        f"WHERE {where} " + "{group}")
        (worsened_share,) = rows(worsened_sql.format(key="", group=""), params)[0]
        worsened_by_day = {str(day): share for day, share in rows(
            worsened_sql.format(key="call_date,", group="GROUP BY call_date"), params)}
        hotspots = {(queue, hour): anger for queue, hour, anger in rows(
            "SELECT COALESCE(queue, ''), CAST(FLOOR((epoch(started_at) % 86400) / 3600) AS INTEGER), AVG(peak_anger) "
            f"FROM cx_call_summary WHERE started_at IS NOT NULL AND peak_anger IS NOT NULL AND {where} "
            "GROUP BY ALL", params)}
        last_day = rows(f"SELECT MAX(call_date) FROM cx_call_summary WHERE customer_turns > 0 AND {where}",
                        params)[0][0]
        worst = [call_id for (call_id,) in rows(
            f"SELECT call_id FROM cx_call_summary WHERE customer_turns > 0 AND {where} AND call_date = ? "
            "ORDER BY frustration_score DESC LIMIT 10", params + [last_day])] if last_day else []
        distressed = {agent: (n_distressed, n_calls) for agent, n_distressed, n_calls in rows(
            "SELECT agent_id, COUNT(CASE WHEN customer_distressed THEN 1 END), COUNT(*) FROM cx_call_summary "
            f"WHERE agent_id != '' AND {where} GROUP BY agent_id", params)}
        streaks = {agent: (streak, back_to_back) for agent, streak, back_to_back in rows(
            "SELECT agent_id, MAX(longest_distressed_streak), SUM(back_to_back_distressed_calls) "
            f"FROM agent_daily_wellbeing WHERE {where_no_queue} GROUP BY agent_id", params_no_queue)}
    return {"emotion_over_time": emotion, "worsened_share": worsened_share, "worsened_by_day": worsened_by_day,
            "anger_hotspots": hotspots, "worst_calls_day": str(last_day) if last_day else None,
            "worst_calls": worst, "distressed_per_agent": distressed, "streaks_per_agent": streaks}
