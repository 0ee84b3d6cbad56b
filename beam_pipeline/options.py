"""The one options object that carries a run's configuration from the command line to every stage.

Beam's own flags (--runner, --temp_location, --project, ...) are not parsed here:
they pass through untouched to `PipelineOptions`, so the same command line works on
the in-process runner and on Dataflow.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import re
from typing import Mapping, Sequence

from beam_pipeline.sources.pseudonyms import DEFAULT_SALT_SOURCE, SALT_ENV, check_salt_source
from beam_pipeline.segment.turns import TurnOptions
from ser_model.inference import DEFAULT_MODEL_DIR

DEFAULT_CHANNEL_MAP: Mapping[int, str] = {0: "agent", 1: "customer"}
MONO_DIARIZERS: tuple[str, ...] = ("campplus", "cepstral")   # see beam_pipeline/segment/diarization.py
SCORERS: tuple[str, ...] = ("local", "vertex")   # the bundled Keras model in-process, or a Vertex AI endpoint


def parse_channel_map(text: str) -> dict[int, str]:
    """'0=agent,1=customer' or a JSON object {"0": "agent", "1": "customer"}."""
    text = text.strip()
    if text.startswith("{"):
        raw = json.loads(text)
    else:
        raw = dict(part.split("=", 1) for part in text.split(",") if part)
    mapping = {int(k): str(v).strip() for k, v in raw.items()}
    if not mapping or any(role not in ("agent", "customer") for role in mapping.values()):
        raise ValueError(f"channel map {text!r}: roles must be 'agent' or 'customer'")
    return mapping


@dataclasses.dataclass(frozen=True)
class CallmoodOptions:
    """Everything the job's stages need to know; frozen so workers cannot drift apart."""

    input: str
    output: str = "results.duckdb"
    model_dir: str = str(DEFAULT_MODEL_DIR)
    channel_map: Mapping[int, str] = dataclasses.field(default_factory=lambda: dict(DEFAULT_CHANNEL_MAP))
    turns: TurnOptions = dataclasses.field(default_factory=TurnOptions)
    max_duration_s: float = 4 * 3600.0
    min_duration_s: float = 1.0
    reprocess: bool = False
    inference_batch_windows: int = 256
    write_every_calls: int = 20
    workers: int | None = None                      # local runners: worker processes (None: one per core for a big night)
    retention_days: int | None = None               # None: keep rows until something else expires them
    caller_id_salt_source: str = DEFAULT_SALT_SOURCE   # where the salt is, never the salt itself
    scorer: str = "local"                           # one of SCORERS
    vertex_endpoint: str = ""                       # endpoint ID, or projects/P/locations/R/endpoints/ID
    vertex_project: str = ""
    vertex_region: str = ""
    vertex_api_endpoint: str = ""                   # API host override: Private Service Connect, or a test stand-in
    mono_speakers: int | None = None                # voices in every mono recording, when a deployment knows it
    mono_first_speaker_agent: bool = False          # inbound queues: who speaks first in a mono call is the agent
    mono_diarizer: str = "campplus"                 # one of MONO_DIARIZERS

    def __post_init__(self):
        if self.scorer not in SCORERS:
            raise ValueError(f"--scorer must be one of {', '.join(SCORERS)}, got {self.scorer!r}")
        if self.scorer == "vertex":
            _ = self.vertex_endpoint_name   # raises on a missing or malformed endpoint
        elif self.vertex_endpoint:
            raise ValueError("--vertex-endpoint is only used with --scorer vertex")

    @property
    def vertex_endpoint_name(self) -> str:
        return vertex_endpoint_name(self.vertex_endpoint, self.vertex_project, self.vertex_region)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True, default=str)


def vertex_endpoint_name(endpoint: str, project: str = "", region: str = "") -> str:
    """The full resource name of a Vertex AI endpoint given as an ID (plus project and region) or a full name."""
    if not endpoint:
        raise ValueError("--scorer vertex needs --vertex-endpoint: an endpoint ID or "
                         "projects/P/locations/R/endpoints/ID")
    named = re.fullmatch(r"projects/([^/]+)/locations/([^/]+)/endpoints/(\d+)", endpoint)
    if named:
        for flag, given, in_name in (("--vertex-project", project, named[1]), ("--vertex-region", region, named[2])):
            if given and given != in_name:
                raise ValueError(f"{flag} {given} contradicts --vertex-endpoint {endpoint}")
        return endpoint
    if not re.fullmatch(r"\d+", endpoint):
        raise ValueError(f"--vertex-endpoint {endpoint!r} is neither an endpoint ID (digits) nor "
                         "projects/P/locations/R/endpoints/ID")
    if not project or not region:
        raise ValueError("--vertex-endpoint given as an ID needs --vertex-project and --vertex-region")
    return f"projects/{project}/locations/{region}/endpoints/{endpoint}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `callmood run` flags; Beam flags are left for PipelineOptions."""
    turn_defaults = TurnOptions()
    parser.add_argument("--input", required=True,
                        help="folder, glob or gs:// prefix of recordings (.wav .flac .mp3 .ogg .m4a)")
    parser.add_argument("--output", default="results.duckdb",
                        help="DuckDB file (default results.duckdb) or bq://project.dataset")
    parser.add_argument("--model-dir", default=str(DEFAULT_MODEL_DIR),
                        help="folder with callmood_ser.keras and model_metadata.json (default: the bundled model)")
    parser.add_argument("--channel-map", default="0=agent,1=customer", type=parse_channel_map,
                        help="which stereo channel is which side when a call has no sidecar (default 0=agent,1=customer)")
    parser.add_argument("--min-gap-s", type=float, default=turn_defaults.min_gap_s,
                        help="pauses shorter than this inside one side's speech stay in the same turn")
    parser.add_argument("--max-pause-s", type=float, default=turn_defaults.max_pause_s,
                        help="on stereo calls, longer pauses up to this long also stay in the turn when the other "
                             "side says nothing in them")
    parser.add_argument("--min-turn-s", type=float, default=turn_defaults.min_turn_s,
                        help="speech runs shorter than this are not turns")
    parser.add_argument("--max-turn-s", type=float, default=turn_defaults.max_turn_s,
                        help="longer turns are split")
    parser.add_argument("--mono-speakers", type=_speaker_count, default=None,
                        help="auto (default) or 1, 2, 3: how many voices each mono recording has, when every "
                             "recording of the input is alike (e.g. two-party calls); a known count avoids "
                             "guessing it (two-speaker DER 18%% -> 11%% in benchmarks/diarization_der.py)")
    parser.add_argument("--mono-diarizer", choices=MONO_DIARIZERS, default="campplus",
                        help="campplus (default): a pretrained speaker embedding, about 7-8 ms of CPU per second of "
                             "mono audio; cepstral: the older diarizer, ~20x cheaper and much worse at telling "
                             "voices apart (docs/studies/diarization_campplus.md)")
    parser.add_argument("--mono-first-speaker-agent", action="store_true",
                        help="in a two-speaker mono recording, call the first voice 'agent' and the other "
                             "'customer' (true of inbound queues, where the agent answers; not of outbound calls); "
                             "otherwise they are speaker_0 and speaker_1")
    parser.add_argument("--max-duration-s", type=float, default=4 * 3600.0,
                        help="recordings longer than this are rejected into the errors table")
    parser.add_argument("--reprocess", action="store_true",
                        help="score recordings again even if this model version already did; replaces their rows")
    parser.add_argument("--write-every-calls", type=int, default=20,
                        help="calls per warehouse transaction: what a killed run can lose at most")
    parser.add_argument("--workers", type=_worker_count, default=None,
                        help="on one machine: worker processes (default: one per core for a night of "
                             "100+ recordings per core, one for a small night); ignored on Dataflow")
    parser.add_argument("--inference-batch-windows", type=int, default=256,
                        help="most 3 s windows per model call (a turn brings all its windows to one batch)")
    parser.add_argument("--retention-days", type=_positive_days, default=None,
                        help="keep call rows (segments, calls, errors) this many days after their call date: "
                             "DuckDB deletes older rows at the end of a run, BigQuery gets partition expiration")
    parser.add_argument("--caller-id-salt-source", type=check_salt_source, default=DEFAULT_SALT_SOURCE,
                        help=f"where the secret salt for hashing sidecar caller ids is: env:VARIABLE (default "
                             f"env:{SALT_ENV}) or secret:projects/P/secrets/S/versions/V (Secret Manager); "
                             "without a salt caller ids are dropped")
    parser.add_argument("--scorer", choices=SCORERS, default="local",
                        help="local: the bundled model inside the job (default); vertex: a Vertex AI endpoint "
                             "serving the same model (see docs/vertex.md)")
    parser.add_argument("--vertex-endpoint", default="",
                        help="with --scorer vertex: endpoint ID, or projects/P/locations/R/endpoints/ID")
    parser.add_argument("--vertex-project", default="", help="project of an endpoint given as an ID")
    parser.add_argument("--vertex-region", default="", help="region of an endpoint given as an ID, e.g. europe-west1")
    parser.add_argument("--vertex-api-endpoint", default="",
                        help="Vertex AI API host if not the regional default (Private Service Connect)")


def from_namespace(args: argparse.Namespace) -> CallmoodOptions:
    turn_defaults = TurnOptions()
    turns = dataclasses.replace(turn_defaults, min_gap_s=args.min_gap_s, max_pause_s=args.max_pause_s,
                                min_turn_s=args.min_turn_s, max_turn_s=args.max_turn_s)
    return CallmoodOptions(
        input=args.input, output=args.output, model_dir=args.model_dir, channel_map=args.channel_map,
        turns=turns, max_duration_s=args.max_duration_s, reprocess=args.reprocess,
        inference_batch_windows=args.inference_batch_windows, write_every_calls=args.write_every_calls,
        workers=args.workers,
        retention_days=args.retention_days, caller_id_salt_source=args.caller_id_salt_source,
        scorer=args.scorer, vertex_endpoint=args.vertex_endpoint, vertex_project=args.vertex_project,
        vertex_region=args.vertex_region, vertex_api_endpoint=args.vertex_api_endpoint,
        mono_speakers=args.mono_speakers, mono_first_speaker_agent=args.mono_first_speaker_agent,
        mono_diarizer=args.mono_diarizer,
    )


def _speaker_count(text: str) -> int | None:
    if text == "auto":
        return None
    if text not in ("1", "2", "3"):
        raise argparse.ArgumentTypeError(f"--mono-speakers must be auto, 1, 2 or 3, got {text!r}")
    return int(text)


def _worker_count(text: str) -> int:
    workers = int(text)
    if workers < 1:
        raise argparse.ArgumentTypeError(f"--workers must be at least 1, got {workers}")
    return workers


def _positive_days(text: str) -> int:
    days = int(text)
    if days < 1:
        raise argparse.ArgumentTypeError(f"--retention-days must be at least 1, got {days}")
    return days


def parse(argv: Sequence[str]) -> tuple[CallmoodOptions, list[str]]:
    """(callmood options, remaining args for Beam's PipelineOptions)."""
    parser = argparse.ArgumentParser(prog="callmood run")
    add_arguments(parser)
    args, beam_args = parser.parse_known_args(argv)
    try:
        return from_namespace(args), beam_args
    except ValueError as exc:   # an invalid combination of flags: argparse's message and exit status 2
        parser.error(str(exc))
