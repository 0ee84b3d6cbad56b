"""After `make demo` (CI's smoke test of the README's first command): did it write what examples/ says it should?

    python scripts/check_demo.py [results.duckdb] [report.html]

The expectations come from examples/calls_truth.json, which examples/build_demo_calls.py wrote with the
calls: every good recording is one `calls` row with about as many turns as were laid out, every broken
one an `errors` row, the run is recorded as succeeded with those counts, and the dashboard page shows
every call. Exits 1 with one line per failed check.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb

from beam_pipeline.sources.recordings import AUDIO_EXTENSIONS

REPO = Path(__file__).resolve().parents[1]
CALLS = REPO / "examples" / "calls"
TRUTH = REPO / "examples" / "calls_truth.json"
TURN_TOLERANCE = 0.25          # a smoke test: turns found within 25% of those laid out, per call


def problems(db: Path, report: Path) -> list[str]:
    truth = json.loads(TRUTH.read_text())
    good, broken = truth["recordings"], truth["expected_errors"]
    on_disk = {p.name for p in CALLS.iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS}
    if on_disk != set(good) | set(broken):
        return [f"{TRUTH.name} is stale: recordings in {CALLS} {sorted(on_disk)}, "
                f"in the truth {sorted(set(good) | set(broken))}"]
    if not db.is_file():
        return [f"{db} does not exist: `make demo` did not write its results"]
    found: list[str] = []
    with duckdb.connect(str(db), read_only=True) as con:
        def rows(sql: str) -> list[tuple]:
            return con.execute(sql).fetchall()

        calls = {name: (call_id, turn_count) for name, call_id, turn_count in
                 rows("SELECT regexp_extract(recording_uri, '[^/]+$'), call_id, turn_count FROM calls")}
        turns = dict(rows("SELECT regexp_extract(recording_uri, '[^/]+$'), count(*) FROM segments GROUP BY 1"))
        errors = dict(rows("SELECT regexp_extract(recording_uri, '[^/]+$'), stage FROM errors"))
        runs = rows("SELECT status, calls_ok, calls_failed, turns_written FROM runs ORDER BY started_at")

    if set(calls) != set(good):
        found.append(f"calls rows for {sorted(calls)}, expected one per good recording {sorted(good)}")
    if set(errors) != set(broken):
        found.append(f"errors rows for {sorted(errors)}, expected one per broken recording {sorted(broken)}")
    found += [f"errors row of {name} has stage {stage!r}, expected 'decode' (no decoder opens it: {broken[name]})"
              for name, stage in sorted(errors.items()) if name in broken and stage != "decode"]
    for name, recording in sorted(good.items()):
        expected, written = len(recording["turns"]), turns.get(name, 0)
        if abs(written - expected) > TURN_TOLERANCE * expected:
            found.append(f"{name}: {written} turns in segments, {expected} laid out in the recording")
        if name in calls and calls[name] != (recording["call_id"], written):
            found.append(f"{name}: calls row (call_id, turn_count) = {calls[name]}, "
                         f"expected {(recording['call_id'], written)}")
    expected_run = ("succeeded", len(good), len(broken), sum(turns.values()))
    if runs[-1:] != [expected_run]:
        found.append(f"runs: last row (status, calls_ok, calls_failed, turns_written) = "
                     f"{runs[-1] if runs else None}, expected {expected_run}")

    page = report.read_text(errors="replace") if report.is_file() else ""
    missing = [r["call_id"] for r in good.values() if r["call_id"] not in page]
    if missing:
        found.append(f"{report}: the dashboard page does not show calls {missing}" if page else
                     f"{report} was not written")
    return found


def main(argv: list[str]) -> int:
    db = Path(argv[0] if argv else "results.duckdb")
    report = Path(argv[1] if len(argv) > 1 else "report.html")
    found = problems(db, report)
    for line in found:
        print(f"check_demo: {line}", file=sys.stderr)
    if found:
        print(f"check_demo: FAILED, {len(found)} problem(s) in what `make demo` wrote", file=sys.stderr)
        return 1
    print(f"check_demo: ok, {db} and {report} hold what examples/calls_truth.json expects")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
