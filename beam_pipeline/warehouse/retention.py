"""How long rows that describe individual calls are kept (`--retention-days`).

Retention applies to the tables that describe individual calls, and to
`recording_paths`, which holds their paths in clear. `runs` and
`run_metrics` hold counts and histograms only (no call, caller, agent or
recording), and drift baselines need months of them, so they are kept.
"""
from __future__ import annotations

import datetime as dt

RETAINED_TABLES: tuple[str, ...] = ("segments", "calls", "errors", "recording_paths")
# Tables whose rows may lack a call date: those go by the time they were written.
WRITTEN_AT: dict[str, str] = {"errors": "occurred_at", "recording_paths": "written_at"}


def retention_cutoff(retention_days: int, today: dt.date | None = None) -> dt.date:
    """The oldest call date kept: rows of earlier call dates are deleted (or their partitions expire)."""
    if retention_days < 1:
        raise ValueError(f"retention must be at least 1 day, got {retention_days}")
    today = today or dt.datetime.now(dt.timezone.utc).date()
    return today - dt.timedelta(days=retention_days)
