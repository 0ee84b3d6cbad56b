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
    """A recording that cannot be processed, with the stage that found out and why.

    `recording_uri`, when the stage knew it, is the recording's path as the
    tables store it (phone-number-like runs pseudonymised): the errors row is then
    keyed exactly as the recording's calls row would be.
    """

    def __init__(self, stage: str, reason: str, recording_uri: str | None = None):
        super().__init__(f"{stage}: {reason}")
        self.stage = stage
        self.reason = reason
        self.recording_uri = recording_uri
