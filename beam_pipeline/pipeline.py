"""The nightly job as one Beam pipeline: match -> read -> prepare -> score -> assemble -> write.

The graph has no shuffle between reading a recording and writing its rows: each
recording's turns are scored and reassembled inside the bundle that read it, so the
job streams through any number of calls in flat memory and writes as it goes.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import time
import uuid

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import RunInference
from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions

from beam_pipeline.options import CallmoodOptions
from beam_pipeline.records import RunContext
from beam_pipeline.scoring import scoring_handler
from beam_pipeline.sources.claims import ContestedCallIds
from beam_pipeline.sources.listing import MatchRecordings, check_input, list_local_folder
from beam_pipeline.sources.pseudonyms import CallerIdHasher
from beam_pipeline.sources.recordings import is_recording, local_folder, recording_pattern
from beam_pipeline.steps import ERRORS, AssembleCalls, PrepareRecording, problem_error
from beam_pipeline.warehouse import open_sink
from beam_pipeline.warehouse.run_lock import LOCAL_RUNNERS, LocalRunLock
from beam_pipeline.warehouse.sink import FinishNight, Sink, WriteResults
from ser_model.inference import ModelInfo

LOG = logging.getLogger(__name__)
RECORDINGS_PER_WORKER = 100       # a local night this big gets a second worker process, twice this a third ...


def build(pipeline: beam.Pipeline, options: CallmoodOptions, sink: Sink, run: RunContext,
          model_info: ModelInfo, done: frozenset[str], expected_recordings: int | None = None,
          handler=None) -> None:
    """Adds the job's steps to `pipeline`; each step's label is what the Dataflow UI shows.

    `handler`: the RunInference model handler, if the caller built it already
    (`run` does, so a Vertex endpoint that does not serve the model fails before the run starts).
    """
    skipped = Metrics.counter("callmood", "calls_skipped")

    def not_done(metadata) -> bool:
        if metadata.path in done:
            skipped.inc()
            return False
        return True

    matched = pipeline | "MatchRecordings" >> MatchRecordings(options.input)
    recordings = matched["recordings"] | "KeepAudioFiles" >> beam.Filter(lambda metadata: is_recording(metadata.path))
    contested = recordings | "ContestedCallIds" >> ContestedCallIds()
    prepared = (
        recordings
        | "SkipProcessed" >> beam.Filter(not_done)
        # The matches come out of one element (the pattern): without a shuffle every recording
        # would be read, scored and written by the one worker that expanded it.
        | "SpreadRecordings" >> beam.Reshuffle()
        | "ReadRecordings" >> fileio.ReadMatches()
        | "DecodeAndCutTurns" >> beam.ParDo(PrepareRecording(options, run, model_info),
                                            contested_call_ids=beam.pvalue.AsSingleton(contested)).with_outputs(
            ERRORS, main="turns")
    )
    written_calls = (
        prepared.turns
        | "ScoreTurns" >> RunInference(handler or scoring_handler(options, model_info))
        | "AssembleCalls" >> beam.ParDo(AssembleCalls(run))
        | "WriteCalls" >> beam.ParDo(WriteResults(sink, options.write_every_calls, expected_recordings))
    )
    written_errors = (
        prepared[ERRORS]
        | "WriteErrors" >> beam.ParDo(WriteResults(sink, options.write_every_calls, expected_recordings,
                                                   what="errors"))
    )
    written_unreachable = (
        matched["problems"]
        | "UnreachableAsErrors" >> beam.Map(problem_error, run)
        | "WriteUnreachable" >> beam.ParDo(WriteResults(sink, options.write_every_calls, what="unreachable files"))
    )
    (
        (written_calls, written_errors, written_unreachable)
        | "AllWritten" >> beam.Flatten()
        | "CountWritten" >> beam.combiners.Count.Globally()
        | "FinishNight" >> beam.ParDo(FinishNight(sink, run.run_id, options.retention_days))
    )


@dataclasses.dataclass(frozen=True)
class RunSummary:
    run_id: str
    calls_ok: int
    calls_skipped: int
    calls_failed: int
    turns_written: int
    audio_s: float
    wall_s: float
    output: str
    model_version: str
    stage_s: dict = dataclasses.field(default_factory=dict)

    @property
    def realtime_factor(self) -> float:
        return self.audio_s / self.wall_s if self.wall_s > 0 else 0.0

    def text(self) -> str:
        return (f"calls ok {self.calls_ok}, skipped {self.calls_skipped}, failed {self.calls_failed}; "
                f"{self.turns_written} turns; audio {self.audio_s / 3600:.2f} h in {self.wall_s:.1f} s "
                f"({self.realtime_factor:.0f}x real time); model {self.model_version}; results in {self.output}")


def _count_to_do(input_path: str, done: frozenset[str]) -> int | None:
    """How many recordings this run will process, for progress lines; None if the store cannot say cheaply.

    A local folder is counted as MatchRecordings lists it (symlinked folders followed).
    """
    try:
        folder = local_folder(input_path)
        if folder is not None:
            matched = [m.path for m in list_local_folder(str(folder)).recordings]
        else:
            matched = [m.path for r in FileSystems.match([recording_pattern(input_path)]) for m in r.metadata_list
                       if is_recording(m.path)]
    except Exception:  # progress is a nicety: never fail a run over it
        return None
    to_do = sum(path not in done for path in matched)
    LOG.info("%d recordings matched, %d already processed by this model, %d to process",
             len(matched), len(matched) - to_do, to_do)
    return to_do


def _counters(result) -> dict[str, int]:
    """The job's own counters, summed over steps (committed where the runner has them)."""
    totals: dict[str, int] = {}
    for counter in result.metrics().query(MetricsFilter().with_namespace("callmood"))["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + int(value or 0)
    return totals


def _local_workers(options: CallmoodOptions, to_do: int | None) -> int:
    """How many worker processes a local run uses: `--workers`, or by default one per core for a big night.

    Each worker process starts at a cost (imports, the emotion model's interpreter,
    the speaker model: about 3 s of CPU; a one-call run takes 3.7 s), so a small night
    is faster in one process; past `RECORDINGS_PER_WORKER`
    recordings a worker's start-up is repaid by the calls it takes over.
    """
    if options.workers:
        return options.workers
    return max(1, min(os.cpu_count() or 1, (to_do or 0) // RECORDINGS_PER_WORKER))


def _pipeline_options(options: CallmoodOptions, beam_args: list[str], to_do: int | None) -> PipelineOptions:
    """Beam's options: the in-process runner unless told otherwise, with several worker processes when it pays."""
    beam_args = list(beam_args)
    if not any(a.startswith("--runner") for a in beam_args):
        beam_args.append("--runner=FnApiRunner")
    runner = PipelineOptions(beam_args).get_all_options().get("runner")
    if runner in LOCAL_RUNNERS and not any(a.startswith("--direct_num_workers") for a in beam_args):
        workers = _local_workers(options, to_do)
        if workers > 1:
            beam_args += [f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]
    return PipelineOptions(beam_args, save_main_session=False)


def run(options: CallmoodOptions, beam_args: list[str] | None = None) -> RunSummary:
    """Runs the job to completion and records it in the runs table; the same entry serves CLI and tests."""
    check_input(options.input)      # a missing night is an error, not a quiet night
    model_info = ModelInfo.read(options.model_dir)
    run_ctx = RunContext(run_id=uuid.uuid4().hex[:12], model_version=model_info.model_version,
                         classes=model_info.classes)
    # --scorer vertex: checks here that the endpoint serves exactly model_info.model_version.
    handler = scoring_handler(options, model_info)
    if CallerIdHasher(options.caller_id_salt_source).enabled:   # a bad salt fails here, not on every call
        LOG.info("caller ids in sidecars are hashed with the salt from %s", options.caller_id_salt_source)
    sink = open_sink(options.output)
    sink.ensure_tables()
    with LocalRunLock(sink.describe()) as alone:
        if alone:   # no other run of this output is alive on this machine: any still 'running' was killed
            for run_id in sink.mark_runs_died(LOCAL_RUNNERS):
                LOG.warning("run %s was killed before it finished: marked died in the runs table", run_id)
        done = frozenset() if options.reprocess else frozenset(sink.done_recordings(model_info.model_version))
        to_do = _count_to_do(options.input, done)
        pipeline_options = _pipeline_options(options, beam_args or [], to_do)
        return _execute(pipeline_options, options, sink, run_ctx, model_info, done, to_do, handler)


def _execute(pipeline_options: PipelineOptions, options: CallmoodOptions, sink: Sink, run_ctx: RunContext,
             model_info: ModelInfo, done: frozenset[str], to_do: int | None, handler) -> RunSummary:
    """Builds and runs the graph, keeping the run's row in the runs table up to date."""
    started_at = dt.datetime.now(dt.timezone.utc)
    runner = pipeline_options.get_all_options().get("runner") or "FnApiRunner"
    run_row = {"run_id": run_ctx.run_id, "started_at": started_at, "status": "running", "runner": runner,
               "input_pattern": recording_pattern(options.input), "output": sink.describe(),
               "model_version": model_info.model_version, "options_json": options.to_json()}
    sink.write_run(run_row)
    started = time.perf_counter()
    pipeline = beam.Pipeline(options=pipeline_options)
    build(pipeline, options, sink, run_ctx, model_info, done, to_do, handler)
    # A Flex Template launch (--template_location) only builds and stages the job: the
    # launcher has no job to wait for and no counters to read.
    launch_only = bool(pipeline_options.view_as(GoogleCloudOptions).template_location)
    status = "failed"
    summary = RunSummary(run_id=run_ctx.run_id, calls_ok=0, calls_skipped=0, calls_failed=0, turns_written=0,
                         audio_s=0.0, wall_s=0.0, output=sink.describe(), model_version=model_info.model_version)
    try:
        result = pipeline.run()
        if launch_only:
            status = "launched"
        else:
            result.wait_until_finish()
            status = "succeeded"
    finally:
        wall_s = time.perf_counter() - started
        summary = dataclasses.replace(summary, wall_s=wall_s)
        if status == "succeeded":
            counts = _counters(result)
            summary = dataclasses.replace(
                summary, calls_ok=counts.get("calls_ok", 0),
                calls_skipped=counts.get("calls_skipped", 0), calls_failed=counts.get("calls_failed", 0),
                turns_written=counts.get("turns_written", 0), audio_s=counts.get("audio_ms", 0) / 1000.0,
                stage_s={name.removeprefix("stage_ms_"): ms / 1000.0 for name, ms in counts.items()
                         if name.startswith("stage_ms_")})
            run_row.update(calls_ok=summary.calls_ok, calls_skipped=summary.calls_skipped,
                           calls_failed=summary.calls_failed, turns_written=summary.turns_written,
                           audio_s=summary.audio_s, realtime_factor=summary.realtime_factor)
        run_row.update(status=status, finished_at=dt.datetime.now(dt.timezone.utc), wall_s=wall_s)
        sink.write_run(run_row)
    return summary
