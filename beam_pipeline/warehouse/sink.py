"""The sink interface and the Beam step that writes through any sink in small transactions."""
from __future__ import annotations

import abc
import datetime as dt
import logging
import time
from typing import Sequence

import apache_beam as beam
from apache_beam.metrics import Metrics

from beam_pipeline.records import StageError
from beam_pipeline.warehouse.rows import CallResult, ErrorResult, error_result, processed_at

LOG = logging.getLogger(__name__)
MAX_REASON_CHARS = 500     # an errors.reason is read by a person; the rest of a long message is in the log


class Sink(abc.ABC):
    """A warehouse the job can write to; picklable, so workers can open it themselves."""

    @abc.abstractmethod
    def ensure_tables(self) -> None:
        """Create the tables from sql/ DDL if they do not exist."""

    @abc.abstractmethod
    def done_recordings(self, model_version: str) -> set[str]:
        """recording_uri of every call already written by `model_version`."""

    @abc.abstractmethod
    def replace_calls(self, results: Sequence[CallResult | ErrorResult]) -> None:
        """Replace every row of these recordings (segments, calls, errors) in one transaction."""

    @abc.abstractmethod
    def write_run(self, run_row: dict) -> None:
        """Insert or update the row of one run."""

    @abc.abstractmethod
    def mark_runs_died(self, runners: Sequence[str]) -> list[str]:
        """Set status ``died`` on runs of these runners still marked ``running``; their run_ids."""

    @abc.abstractmethod
    def write_run_metrics(self, run_id: str, computed_at: dt.datetime) -> int:
        """Snapshot the nights this run wrote into run_metrics (see beam_pipeline.warehouse.run_metrics); rows written."""

    @abc.abstractmethod
    def apply_retention(self, retention_days: int, today: dt.date | None = None) -> None:
        """Remove call rows (privacy.RETAINED_TABLES) whose call date is more than `retention_days` old."""

    @abc.abstractmethod
    def describe(self) -> str:
        """Where the rows are, for the end-of-run summary."""


class WriteResults(beam.DoFn):
    """Writes call results and error rows, a few calls per transaction.

    Small transactions mean a killed run keeps every call it finished (and never a
    half-written one), and the next run skips those and finishes the rest.
    """

    def __init__(self, sink: Sink, write_every_calls: int, expected_recordings: int | None = None,
                 what: str = "calls"):
        self._sink = sink
        self._what = what
        self._expected = expected_recordings
        self._write_every = write_every_calls
        self._calls_ok = Metrics.counter("callmood", "calls_ok")
        self._calls_failed = Metrics.counter("callmood", "calls_failed")
        self._turns = Metrics.counter("callmood", "turns_written")
        self._audio_ms = Metrics.counter("callmood", "audio_ms")
        self._write_ms = Metrics.counter("callmood", "stage_ms_write")
        self._pending: list[CallResult | ErrorResult] = []
        self._written = 0

    def start_bundle(self):
        self._pending = []

    def process(self, result):
        self._pending.append(result)
        if len(self._pending) >= self._write_every:
            self._flush()

    def finish_bundle(self):
        self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        started = time.perf_counter()
        try:
            self._sink.replace_calls(self._pending)
        except Exception:  # one call's rows may be what the warehouse refuses: find it, keep the others
            LOG.exception("a batch of %d recordings could not be written; writing them one by one",
                          len(self._pending))
            self._pending = [self._write_alone(result) for result in self._pending]
        self._write_ms.inc(int((time.perf_counter() - started) * 1000))
        for result in self._pending:
            if isinstance(result, CallResult):
                self._calls_ok.inc()
                self._turns.inc(len(result.segment_rows))
                self._audio_ms.inc(int(result.call_row["duration_s"] * 1000))
            else:
                self._calls_failed.inc()
        self._written += len(self._pending)
        # Counted per writer: calls and errors have a writer each, and so has every worker process.
        of_total = f" ({self._expected} to do in this run)" if self._expected else ""
        LOG.info("%s: written %d recordings so far%s", self._what, self._written, of_total)
        self._pending = []


    def _write_alone(self, result: CallResult | ErrorResult) -> CallResult | ErrorResult:
        """Writes one recording's rows; if the warehouse refuses them, an errors row saying so instead.

        If the errors row cannot be written either, the warehouse itself is unusable and
        the exception stops the run (its runs row says failed).
        """
        try:
            self._sink.replace_calls([result])
            return result
        except Exception as exc:
            row = result.call_row if isinstance(result, CallResult) else result.error_row
            # The rows' strings are the suspects: the key is re-spelt so it is valid UTF-8 whatever it was.
            uri = result.recording_uri.encode("utf-8", "backslashreplace").decode("utf-8")
            reason = f"the warehouse refused this recording's rows: {type(exc).__name__}: {exc}"
            failed = error_result(uri, StageError("write", reason[:MAX_REASON_CHARS]), row["run_id"],
                                  row["model_version"], processed_at(), call_date=row.get("call_date"))
            self._sink.replace_calls([failed])
            return failed


class FinishNight(beam.DoFn):
    """The run's last step, after every write: retention, then the nights' run_metrics snapshot.

    It is a step of the job rather than code after `wait_until_finish`, because a
    Dataflow Flex Template launch only builds the job and returns: anything the
    launcher did afterwards would run before the calls are written.
    """

    def __init__(self, sink: Sink, run_id: str, retention_days: int | None):
        self._sink = sink
        self._run_id = run_id
        self._retention_days = retention_days

    def process(self, recordings_written):
        if self._retention_days:  # first, so the snapshot describes what is kept
            self._sink.apply_retention(self._retention_days)
        n_rows = self._sink.write_run_metrics(self._run_id, dt.datetime.now(dt.timezone.utc))
        LOG.info("run_metrics: %d histogram rows for the nights this run wrote", n_rows)
        yield n_rows
