"""After `make demo`: say where the results are and show what a first query over them looks like."""
import sys
from pathlib import Path

import duckdb

QUERY = """
SELECT c.call_id, c.queue, round(c.duration_s) AS duration_s, c.turn_count,
       c.first_customer_emotion, c.last_customer_emotion, round(c.frustration_score, 2) AS frustration
FROM calls c ORDER BY c.frustration_score DESC NULLS LAST
"""
ERRORS = "SELECT regexp_extract(recording_uri, '[^/]+$') AS file, stage, reason FROM errors ORDER BY file"


def main(path: str) -> None:
    con = duckdb.connect(path, read_only=True)
    print(f"\nResults: {Path(path).resolve()} (tables segments, calls, errors, runs)")
    print(f"\nduckdb {path} \"{' '.join(QUERY.split())}\"")
    print(con.sql(QUERY))
    print(con.sql(ERRORS))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results.duckdb")
