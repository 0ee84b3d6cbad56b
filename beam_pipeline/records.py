"""What every stage may raise or stamp: `StageError` for a recording that cannot be processed, `RunContext` for rows.

A recording that cannot be processed raises `StageError` in whichever stage
found out (sidecar, read, decode, segment, score), and the pipeline files it in
the errors table under that stage's name.
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class RunContext:
    """Per-run values every stage stamps into its rows."""

    run_id: str
    model_version: str
    classes: tuple[str, ...]


class StageError(Exception):
    """A recording that cannot be processed, with the stage that found out and why."""

    def __init__(self, stage: str, reason: str):
        super().__init__(f"{stage}: {reason}")
        self.stage = stage
        self.reason = reason
