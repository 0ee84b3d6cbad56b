"""`callmood dashboard`: the Customer Experience and Agent Wellbeing dashboards as one self-contained HTML file.

The Looker dashboards (``dashboards/looker/*.dashboard.lookml``) need a Looker
instance and BigQuery; this is their twin for a DuckDB file on one machine. The
page carries its data (rows from the views, see :mod:`dashboards.local_data`)
and plotly.js inline, so it opens from disk in any browser with no network.
Date, queue and agent filters work in the page: each tile is recomputed from the
embedded rows with the same arithmetic as the LookML measure it mirrors.
"""
from __future__ import annotations

import html
import http.server
import json
from pathlib import Path
from typing import Any

from plotly.offline import get_plotlyjs

from dashboards.local_data import load_dashboard_data

# Fixed colours per emotion, so a line keeps its colour whatever the filter leaves.
EMOTION_COLOURS = {"angry": "#d62728", "disgust": "#8c564b", "fear": "#9467bd", "happy": "#2ca02c",
                   "neutral": "#7f7f7f", "sad": "#1f77b4"}

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; background: #f4f5f7; color: #222; }
header { background: #1f2a44; color: #fff; padding: 12px 20px; }
header h1 { margin: 0; font-size: 20px; }
header p { margin: 4px 0 0; font-size: 12px; opacity: 0.8; }
#filters { display: flex; gap: 16px; align-items: end; padding: 12px 20px; background: #fff; border-bottom: 1px solid #ddd;
           position: sticky; top: 0; z-index: 10; flex-wrap: wrap; }
#filters label { display: flex; flex-direction: column; font-size: 12px; color: #555; gap: 2px; }
#filters input, #filters select { font-size: 14px; padding: 3px 6px; }
#filters button { font-size: 13px; padding: 4px 10px; }
section.dashboard { padding: 8px 20px 20px; }
section.dashboard > h2 { font-size: 18px; margin: 12px 0 4px; }
section.dashboard > p.note { font-size: 12px; color: #666; margin: 0 0 8px; }
.grid { display: grid; grid-template-columns: repeat(12, 1fr); gap: 12px; }
.tile { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 8px 10px; min-width: 0; }
.tile h3 { font-size: 14px; margin: 0 0 4px; }
.tile p.note { font-size: 11px; color: #777; margin: 0 0 4px; }
.w4 { grid-column: span 4; } .w6 { grid-column: span 6; } .w8 { grid-column: span 8; } .w12 { grid-column: span 12; }
.chart { height: 300px; }
.kpi { font-size: 48px; font-weight: 600; text-align: center; margin-top: 50px; }
.kpi-sub { text-align: center; color: #666; font-size: 13px; }
table.rows { border-collapse: collapse; width: 100%; font-size: 13px; }
table.rows th, table.rows td { border-bottom: 1px solid #eee; padding: 4px 6px; text-align: left; }
table.rows td.num { text-align: right; font-variant-numeric: tabular-nums; }
.empty { color: #888; font-style: italic; padding: 12px; }
"""

_BODY = """
<header>
  <h1>callmood dashboards</h1>
  <p>From __SOURCE__, rendered __GENERATED__. Hours are UTC. Customer Experience and Agent Wellbeing, the local twins
  of the Looker dashboards.</p>
</header>
<div id="filters">
  <label>From <input type="date" id="filter-date-from"></label>
  <label>To <input type="date" id="filter-date-to"></label>
  <label>Queue <select id="filter-queue"></select></label>
  <label>Agent <select id="filter-agent"></select></label>
  <button id="filter-reset" type="button">Reset</button>
</div>

<section class="dashboard" id="customer-experience">
  <h2>Customer Experience</h2>
  <p class="note">How customers sounded on the calls in the selected dates, queue and agent.</p>
  <div class="grid">
    <div class="tile w8"><h3>Customer emotion over time</h3>
      <p class="note">Mean probability of each emotion over the customers' turns, per day.</p>
      <div class="chart" id="cx-emotion-over-time"></div></div>
    <div class="tile w4"><h3>Calls ending worse than they started</h3>
      <p class="note">Share of calls with customer turns whose customer's valence fell by more than 0.1.</p>
      <div class="kpi" id="cx-worsened-share">&ndash;</div><div class="kpi-sub" id="cx-worsened-count"></div></div>
    <div class="tile w6"><h3>Calls ending worse, by day</h3>
      <div class="chart" id="cx-worsened-by-day"></div></div>
    <div class="tile w6"><h3>Anger hot-spots by queue and hour (UTC)</h3>
      <p class="note">Mean peak anger of the calls with customer turns, by queue and the hour the call started.</p>
      <div class="chart" id="cx-anger-hotspots"></div></div>
    <div class="tile w12"><h3 id="cx-worst-calls-title">Worst calls of the day</h3>
      <p class="note">The ten calls with the highest frustration score on the last day in the selected dates; the
      recording link opens the audio.</p>
      <div id="cx-worst-calls"></div></div>
    <div class="tile w12"><h3>Model monitoring: drift by night</h3>
      <p class="note">Population stability index of each night's call and turn statistics and predicted emotions
      against the 7 nights before (above the dashed 0.2 line a night has drifted; details: <code>callmood
      monitor</code>). Drift is per night, so only the date filter applies.</p>
      <div class="chart" id="mon-drift-by-night"></div></div>
  </div>
</section>

<section class="dashboard" id="agent-wellbeing">
  <h2>Agent Wellbeing</h2>
  <p class="note">Which agents carried distressed customers, and runs of them back to back. Runs are counted over an
  agent's whole day, across queues, so the queue filter applies to the first tile only.</p>
  <div class="grid">
    <div class="tile w6"><h3>Distressed customers per agent</h3>
      <div class="chart" id="aw-distressed-per-agent"></div></div>
    <div class="tile w6"><h3>Runs of distressed customers per agent</h3>
      <p class="note">Longest run of consecutive distressed calls on one day, and distressed calls taken straight after
      another.</p>
      <div class="chart" id="aw-streaks-per-agent"></div></div>
    <div class="tile w12"><h3>Agents by day</h3><div id="aw-agent-days"></div></div>
  </div>
</section>
"""

# The page's logic. Every aggregate mirrors a LookML measure (named in the comment above it).
_SCRIPT = r"""
(function () {
  "use strict";
  const DATA = JSON.parse(document.getElementById("callmood-data").textContent);
  const COLOURS = JSON.parse(document.getElementById("callmood-colours").textContent);
  const $ = (id) => document.getElementById(id);
  const PLOT_CONFIG = {displaylogo: false, displayModeBar: false, responsive: true};

  function distinct(values) { return Array.from(new Set(values)).sort(); }
  function option(value, label) { const o = document.createElement("option"); o.value = value; o.textContent = label; return o; }
  function fmtPct(x) { return x === null || x === undefined ? "\u2013" : (100 * x).toFixed(1) + "%"; }
  function fmtNum(x, digits) { return x === null || x === undefined ? "\u2013" : Number(x).toFixed(digits); }
  function text(tag, value, cls) { const e = document.createElement(tag); e.textContent = value; if (cls) e.className = cls; return e; }

  const allDates = distinct(DATA.calls.map((c) => c.call_date).concat(DATA.agent_days.map((r) => r.call_date)));
  const queues = distinct(DATA.calls.map((c) => c.queue || ""));
  const agents = distinct(DATA.calls.map((c) => c.agent_id || "").filter((a) => a !== ""));

  function setUpFilters() {
    $("filter-queue").appendChild(option("__all__", "All queues"));
    queues.forEach((q) => $("filter-queue").appendChild(option(q, q === "" ? "(no queue)" : q)));
    $("filter-agent").appendChild(option("__all__", "All agents"));
    agents.forEach((a) => $("filter-agent").appendChild(option(a, a)));
    reset();
    ["filter-date-from", "filter-date-to", "filter-queue", "filter-agent"].forEach((id) => {
      $(id).addEventListener("change", render);
      $(id).addEventListener("input", render);
    });
    $("filter-reset").addEventListener("click", () => { reset(); render(); });
  }

  function reset() {
    $("filter-date-from").value = allDates.length ? allDates[0] : "";
    $("filter-date-to").value = allDates.length ? allDates[allDates.length - 1] : "";
    $("filter-queue").value = "__all__";
    $("filter-agent").value = "__all__";
  }

  function filters() {
    return {from: $("filter-date-from").value || "0000-00-00", to: $("filter-date-to").value || "9999-99-99",
            queue: $("filter-queue").value, agent: $("filter-agent").value};
  }

  function keep(row, f, useQueue) {
    if (row.call_date < f.from || row.call_date > f.to) return false;
    if (useQueue && f.queue !== "__all__" && (row.queue || "") !== f.queue) return false;
    if (f.agent !== "__all__" && (row.agent_id || "") !== f.agent) return false;
    return true;
  }

  // segments.average_<emotion> with segments.speaker = customer, by segments.call_date.
  function emotionOverTime(f) {
    const byDay = new Map();
    DATA.emotion_groups.filter((g) => keep(g, f, true)).forEach((g) => {
      const day = byDay.get(g.call_date) || {turns: 0, sums: {}};
      day.turns += g.turns;
      DATA.emotions.forEach((e) => { day.sums[e] = (day.sums[e] || 0) + g["sum_prob_" + e]; });
      byDay.set(g.call_date, day);
    });
    const days = Array.from(byDay.keys()).sort();
    return DATA.emotions.map((e) => ({
      type: "scatter", mode: "lines+markers", name: e, x: days,
      y: days.map((d) => byDay.get(d).sums[e] / byDay.get(d).turns),
      line: {color: COLOURS[e]}, marker: {color: COLOURS[e]},
      hovertemplate: e + " %{y:.1%}<extra>%{x}</extra>"}));
  }

  // cx_call_summary.worsened_calls / cx_call_summary.calls_with_customer.
  function worsened(calls) {
    const withCustomer = calls.filter((c) => c.customer_turns > 0).length;
    const worse = calls.filter((c) => c.mood_trend === "worsened").length;
    return {worse: worse, withCustomer: withCustomer, share: withCustomer ? worse / withCustomer : null};
  }

  function worsenedByDay(calls) {
    const days = distinct(calls.map((c) => c.call_date));
    const shares = days.map((d) => worsened(calls.filter((c) => c.call_date === d)).share);
    return [{type: "bar", name: "ending worse", x: days, y: shares, marker: {color: "#d62728"},
             hovertemplate: "%{y:.1%}<extra>%{x}</extra>"}];
  }

  // cx_call_summary.average_peak_anger by queue and started_hour_of_day (calls with a start time).
  function angerHotspots(calls) {
    const hours = Array.from({length: 24}, (_, h) => h);
    const timed = calls.filter((c) => c.start_hour_utc !== null && c.peak_anger !== null);
    const qs = distinct(timed.map((c) => c.queue || ""));
    const z = qs.map((q) => hours.map((h) => {
      const cell = timed.filter((c) => (c.queue || "") === q && c.start_hour_utc === h);
      return cell.length ? cell.reduce((s, c) => s + c.peak_anger, 0) / cell.length : null;
    }));
    return [{type: "heatmap", x: hours, y: qs.map((q) => q === "" ? "(no queue)" : q), z: z, zmin: 0, zmax: 1,
             colorscale: "Reds", hoverongaps: false, colorbar: {title: {text: "peak anger"}},
             hovertemplate: "%{y} %{x}:00 UTC: %{z:.2f}<extra></extra>"}];
  }

  // The ten calls with the highest frustration_score on the last selected day (customer_turns > 0).
  function worstCalls(calls) {
    const scored = calls.filter((c) => c.customer_turns > 0 && c.frustration_score !== null);
    const lastDay = scored.length ? scored.map((c) => c.call_date).sort().pop() : null;
    const rows = scored.filter((c) => c.call_date === lastDay)
      .sort((a, b) => b.frustration_score - a.frustration_score).slice(0, 10);
    return {day: lastDay, rows: rows};
  }

  // cx_call_summary.distressed_calls and call_count by agent_id (agent known).
  function distressedPerAgent(calls) {
    const known = calls.filter((c) => (c.agent_id || "") !== "");
    const ids = distinct(known.map((c) => c.agent_id));
    const load = ids.map((a) => ({agent: a, calls: known.filter((c) => c.agent_id === a).length,
                                  distressed: known.filter((c) => c.agent_id === a && c.customer_distressed).length}));
    load.sort((x, y) => y.distressed - x.distressed || (x.agent < y.agent ? -1 : 1));
    return [
      {type: "bar", orientation: "h", name: "distressed calls", y: load.map((r) => r.agent),
       x: load.map((r) => r.distressed), marker: {color: "#d62728"}},
      {type: "bar", orientation: "h", name: "all calls", y: load.map((r) => r.agent),
       x: load.map((r) => r.calls), marker: {color: "#c7c7c7"}}];
  }

  // agent_daily_wellbeing.max_distressed_streak and back_to_back_distressed_calls by agent_id.
  function streaksPerAgent(days) {
    const ids = distinct(days.map((r) => r.agent_id));
    const rows = ids.map((a) => {
      const mine = days.filter((r) => r.agent_id === a);
      return {agent: a, streak: Math.max.apply(null, mine.map((r) => r.longest_distressed_streak)),
              backToBack: mine.reduce((s, r) => s + r.back_to_back_distressed_calls, 0)};
    });
    rows.sort((x, y) => y.streak - x.streak || (x.agent < y.agent ? -1 : 1));
    return [
      {type: "bar", orientation: "h", name: "longest run", y: rows.map((r) => r.agent),
       x: rows.map((r) => r.streak), marker: {color: "#9467bd"}},
      {type: "bar", orientation: "h", name: "back to back", y: rows.map((r) => r.agent),
       x: rows.map((r) => r.backToBack), marker: {color: "#ff7f0e"}}];
  }

  // monitoring_nightly.max_psi_prior_7d by call_date, one line per metric (dates only: drift is per night).
  function driftByNight(f) {
    const rows = DATA.monitoring.filter((r) => r.call_date >= f.from && r.call_date <= f.to && r.psi_prior_7d !== null);
    const metrics = Array.from(new Set(rows.map((r) => r.metric)));
    return metrics.map((m) => {
      const mine = rows.filter((r) => r.metric === m);
      return {type: "scatter", mode: "lines+markers", name: m, x: mine.map((r) => r.call_date),
              y: mine.map((r) => r.psi_prior_7d), hovertemplate: m + " PSI %{y:.3f}<extra>%{x}</extra>"};
    });
  }

  function table(containerId, headers, rows) {
    const box = $(containerId);
    box.replaceChildren();
    if (!rows.length) { box.appendChild(text("div", "No rows for these filters.", "empty")); return; }
    const t = document.createElement("table"); t.className = "rows";
    const head = document.createElement("tr"); headers.forEach((h) => head.appendChild(text("th", h)));
    t.appendChild(head);
    rows.forEach((cells) => {
      const tr = document.createElement("tr");
      cells.forEach((cell) => tr.appendChild(cell));
      t.appendChild(tr);
    });
    box.appendChild(t);
  }

  function plot(id, traces, layout) {
    const base = {margin: {l: 60, r: 10, t: 10, b: 50}, legend: {orientation: "h", y: -0.28}, autosize: true};
    Plotly.react(id, traces, Object.assign(base, layout || {}), PLOT_CONFIG);
  }

  function render() {
    const f = filters();
    const calls = DATA.calls.filter((c) => keep(c, f, true));
    const agentDays = DATA.agent_days.filter((r) => keep(r, f, false));

    plot("cx-emotion-over-time", emotionOverTime(f),
         {yaxis: {title: {text: "mean probability"}, tickformat: ".0%", rangemode: "tozero"}, xaxis: {type: "category"}});
    const w = worsened(calls);
    $("cx-worsened-share").textContent = fmtPct(w.share);
    $("cx-worsened-count").textContent = w.worse + " of " + w.withCustomer + " calls with customer turns";
    plot("cx-worsened-by-day", worsenedByDay(calls),
         {yaxis: {tickformat: ".0%", rangemode: "tozero"}, xaxis: {type: "category"}, showlegend: false});
    plot("cx-anger-hotspots", angerHotspots(calls),
         {xaxis: {title: {text: "hour started (UTC)"}, dtick: 2, range: [-0.5, 23.5]}, margin: {l: 100, r: 10, t: 10, b: 40}});

    const worst = worstCalls(calls);
    $("cx-worst-calls-title").textContent = "Worst calls of the day" + (worst.day ? " (" + worst.day + ")" : "");
    table("cx-worst-calls", ["call", "started (UTC)", "agent", "queue", "frustration", "peak anger", "mood", "recording"],
      worst.rows.map((c) => {
        const link = document.createElement("a"); link.href = c.recording_link; link.textContent = "listen";
        link.title = c.recording_uri; const linkCell = document.createElement("td"); linkCell.appendChild(link);
        return [text("td", c.call_id), text("td", c.started_at_utc || "\u2013"), text("td", c.agent_id || "\u2013"),
                text("td", c.queue || "\u2013"), text("td", fmtNum(c.frustration_score, 2), "num"),
                text("td", fmtNum(c.peak_anger, 2), "num"), text("td", c.mood_trend || "\u2013"), linkCell];
      }));

    const drift = driftByNight(f);
    plot("mon-drift-by-night", drift, {yaxis: {title: {text: "PSI vs 7 nights before"}, rangemode: "tozero"},
         xaxis: {type: "category"},
         shapes: [{type: "line", xref: "paper", x0: 0, x1: 1, y0: 0.2, y1: 0.2, line: {dash: "dash", color: "#d62728"}}],
         annotations: drift.length ? [] : [{text: "No night with a week of nights before it in these dates.",
                                            xref: "paper", yref: "paper", x: 0.5, y: 0.5, showarrow: false}]});
    plot("aw-distressed-per-agent", distressedPerAgent(calls), {barmode: "group", yaxis: {autorange: "reversed"},
         xaxis: {title: {text: "calls"}, rangemode: "tozero"}});
    plot("aw-streaks-per-agent", streaksPerAgent(agentDays), {barmode: "group", yaxis: {autorange: "reversed"},
         xaxis: {title: {text: "calls"}, rangemode: "tozero", dtick: 1}});
    table("aw-agent-days", ["date", "agent", "calls", "distressed", "back to back", "longest run",
                            "negative agent turns", "late-shift calls"],
      agentDays.slice().sort((a, b) => (a.call_date < b.call_date ? 1 : a.call_date > b.call_date ? -1 :
                                        b.distressed_calls - a.distressed_calls)).map((r) => [
        text("td", r.call_date), text("td", r.agent_id), text("td", r.calls, "num"),
        text("td", r.distressed_calls, "num"), text("td", r.back_to_back_distressed_calls, "num"),
        text("td", r.longest_distressed_streak, "num"), text("td", fmtPct(r.negative_turn_share), "num"),
        text("td", r.late_shift_calls, "num")]));
    document.body.dataset.rendered = String(Number(document.body.dataset.rendered || 0) + 1);
  }

  setUpFilters();
  render();
})();
"""


def _json_for_script(value: Any) -> str:
    """JSON that cannot close the <script> element it sits in."""
    return json.dumps(value, default=str, separators=(",", ":")).replace("</", "<\\/")


def render_html(data: dict[str, Any]) -> str:
    """The whole page as one string: style, data, plotly.js and the page logic inline.

    Parameters
    ----------
    data : dict
        What :func:`dashboards.local_data.load_dashboard_data` returns.
    """
    body = _BODY.replace("__SOURCE__", html.escape(str(data.get("source", "")))) \
                .replace("__GENERATED__", html.escape(str(data.get("generated_at", ""))))
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>callmood dashboards</title>",
        f"<style>{_STYLE}</style>",
        "</head><body>",
        body,
        f'<script type="application/json" id="callmood-data">{_json_for_script(data)}</script>',
        f'<script type="application/json" id="callmood-colours">{_json_for_script(EMOTION_COLOURS)}</script>',
        f"<script>{get_plotlyjs()}</script>",
        f"<script>{_SCRIPT}</script>",
        "</body></html>",
    ])


def write_report(db_path: str | Path, out_path: str | Path) -> Path:
    """Render the dashboards from ``db_path`` into the single HTML file ``out_path``."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(load_dashboard_data(db_path)), encoding="utf-8")
    return out


def serve(db_path: str | Path, host: str = "127.0.0.1", port: int = 8050) -> None:
    """Serve the page over HTTP, re-read from the DuckDB file on every request (a new night shows on reload)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server name)
            if self.path not in ("/", "/index.html"):
                self.send_error(404)
                return
            page = render_html(load_dashboard_data(db_path)).encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

    with http.server.ThreadingHTTPServer((host, port), Handler) as server:
        print(f"callmood dashboard: serving {db_path} on http://{host}:{server.server_address[1]}/ (Ctrl-C stops)",
              flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
