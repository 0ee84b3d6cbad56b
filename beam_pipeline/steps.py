"""The job's own Beam steps, wired in order by `pipeline.build`: a recording in, its rows (or one errors row) out.

`PrepareRecording` reads the sidecar and the bytes, guards the size, and runs
`prepare_call`; every way that fails (a bad sidecar, an unreadable object,
undecodable audio, no speech, or an unexpected bug on one file) becomes an
`ErrorResult` on the ``errors`` output, so no recording stops the night or
vanishes. After RunInference, `AssembleCalls` puts a call's scored turns back
together as the call's rows.
"""
from __future__ import annotations

import logging
import time
from typing import Iterable

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.windowed_value import WindowedValue

from beam_pipeline.options import CallmoodOptions
from beam_pipeline.prepare import prepare_call
from beam_pipeline.records import RunContext, StageError
from beam_pipeline.scoring.base import ScoringFailure
from beam_pipeline.sources.claims import contested_error
from beam_pipeline.sources.listing import MATCH_STAGE, ListingProblem
from beam_pipeline.sources.pseudonyms import CallerIdHasher
from beam_pipeline.sources.recordings import SidecarError, read_identity
from beam_pipeline.warehouse.rows import ErrorResult, ScoredTurn, call_result, error_result, processed_at
from ser_model.features import combine_window_probabilities
from ser_model.inference import ModelInfo

LOG = logging.getLogger(__name__)
ERRORS = "errors"        # the tag of PrepareRecording's errors output


class PrepareRecording(beam.DoFn):
    """Reads one matched recording and its sidecar; emits (TurnRef, windows) per turn, or one error."""

    def __init__(self, options: CallmoodOptions, run: RunContext, model_info: ModelInfo):
        self._options = options
        self._run = run
        self._spec = model_info.spec
        self._hash_caller_id = CallerIdHasher(options.caller_id_salt_source)   # reads its salt in the worker
        self._recordings = Metrics.counter("callmood", "recordings_read")
        self._stage_ms = {stage: Metrics.counter("callmood", f"stage_ms_{stage}")
                          for stage in ("read", "decode", "segment", "features")}

    def _time_stage(self, stage: str, seconds: float) -> None:
        self._stage_ms[stage].inc(int(seconds * 1000))

    def process(self, readable: fileio.ReadableFile, contested_call_ids=None) -> Iterable:
        """`contested_call_ids`: {call_id: n} of ids several sidecars claim (sources/claims.py), a side input."""
        uri = readable.metadata.path
        self._recordings.inc()
        identity = None
        try:
            try:
                identity = read_identity(uri, readable.metadata.last_updated_in_seconds, self._hash_caller_id)
            except SidecarError as exc:
                raise StageError("sidecar", str(exc)) from exc
            rival = contested_error(uri, contested_call_ids or {})
            if rival is not None:
                raise rival
            max_bytes = self._options.max_duration_s * 48000 * 2 * 4
            if readable.metadata.size_in_bytes > max_bytes:
                raise StageError("read", f"file is {_size(readable.metadata.size_in_bytes)}, more than "
                                         f"{_duration(self._options.max_duration_s)} of any audio format")
            read_started = time.perf_counter()
            try:
                handle = readable.open()     # streamed: the decoder reads it in blocks, never the whole file
            except Exception as exc:  # an unreadable object must not stop the night
                raise StageError("read", f"could not read the file: {exc}") from exc
            self._time_stage("read", time.perf_counter() - read_started)
            with handle:
                prepared = prepare_call(handle, uri, identity, self._options, self._spec, self._time_stage)
        except StageError as exc:
            yield beam.pvalue.TaggedOutput(ERRORS, self._error(uri, exc, identity))
            return
        except Exception as exc:  # an unexpected bug on one file still leaves a row, not a crash
            LOG.exception("unexpected failure on %s", uri)
            yield beam.pvalue.TaggedOutput(ERRORS, self._error(
                uri, StageError("segment", f"internal error {type(exc).__name__}: {exc}"), identity))
            return
        for ref, windows in zip(prepared.turns, prepared.windows):
            yield ref, windows

    def _error(self, uri: str, exc: StageError, identity) -> ErrorResult:
        """Keyed by the stored (pseudonymised) uri once the identity is known, the clear one kept aside."""
        if identity is None:
            return error_result(uri, exc, self._run.run_id, self._run.model_version, processed_at())
        return error_result(identity.recording_uri, exc, self._run.run_id, self._run.model_version, processed_at(),
                            call_id=identity.call_id, call_date=identity.call_date, clear_uri=uri)


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 1e9:.1f} GB" if n_bytes >= 1e9 else f"{n_bytes / 1e6:.1f} MB"


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds:g} s"


class AssembleCalls(beam.DoFn):
    """Collects a call's scored turns and emits the call's rows once all of them have arrived.

    Every turn of a call is produced inside the bundle that read the call, and
    RunInference does not shuffle, so a call is always complete by the end of its
    bundle; a call that is not (which would be a bug) becomes an error row rather
    than a partial write. A call with a turn the scorer could not score (a Vertex AI
    endpoint error) becomes an error row with the scorer's reason.
    """

    def __init__(self, run: RunContext):
        self._run = run
        self._pending: dict[str, list[ScoredTurn]] = {}
        self._failures: dict[str, str] = {}

    def start_bundle(self):
        self._pending = {}
        self._failures = {}

    def process(self, keyed_prediction):
        ref, prediction = keyed_prediction
        uri = ref.call.recording_uri
        if isinstance(prediction.inference, ScoringFailure):
            self._failures.setdefault(uri, prediction.inference.reason)
            probabilities = None
        else:
            probabilities = combine_window_probabilities(prediction.inference, ref.window_weights)
        turns = self._pending.setdefault(uri, [])
        turns.append(ScoredTurn(ref=ref, probabilities=probabilities))
        if len(turns) == ref.call.n_turns:
            del self._pending[uri]
            if uri in self._failures:
                yield error_result(uri, StageError("score", self._failures.pop(uri)), self._run.run_id,
                                   self._run.model_version, processed_at(), ref.call.identity.call_id,
                                   ref.call.identity.call_date)
            else:
                yield call_result(turns, self._run.classes, self._run.model_version, self._run.run_id,
                                  processed_at())

    def finish_bundle(self):
        for uri, turns in self._pending.items():
            call = turns[0].ref.call
            error = StageError("score", f"only {len(turns)} of {call.n_turns} turns came back from scoring")
            yield WindowedValue(
                error_result(uri, error, self._run.run_id, self._run.model_version, processed_at(),
                             call.identity.call_id, call.identity.call_date),
                0, [GlobalWindow()])
        self._pending = {}
        self._failures = {}


def problem_error(problem: ListingProblem, run: RunContext) -> ErrorResult:
    """The errors row of a recording or folder the listing could not reach (stage `match`)."""
    return error_result(problem.path, StageError(MATCH_STAGE, problem.reason), run.run_id, run.model_version,
                        processed_at())
