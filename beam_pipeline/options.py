"""The one options object that carries a run's configuration from the command line to every stage.

Beam's own flags (--runner, --temp_location, --project, ...) are not parsed here:
they pass through untouched to `PipelineOptions`, so the same command line works on
the in-process runner and on Dataflow.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Mapping, Sequence

from beam_pipeline.turns import TurnOptions
from ser_model.inference import DEFAULT_MODEL_DIR

AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".mp4", ".aac")
DEFAULT_CHANNEL_MAP: Mapping[int, str] = {0: "agent", 1: "customer"}


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

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True, default=str)


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
    parser.add_argument("--min-turn-s", type=float, default=turn_defaults.min_turn_s,
                        help="speech runs shorter than this are not turns")
    parser.add_argument("--max-turn-s", type=float, default=turn_defaults.max_turn_s,
                        help="longer turns are split")
    parser.add_argument("--max-duration-s", type=float, default=4 * 3600.0,
                        help="recordings longer than this are rejected into the errors table")
    parser.add_argument("--reprocess", action="store_true",
                        help="score recordings again even if this model version already did; replaces their rows")
    parser.add_argument("--write-every-calls", type=int, default=20,
                        help="calls per warehouse transaction: what a killed run can lose at most")
    parser.add_argument("--inference-batch-windows", type=int, default=256,
                        help="most 3 s windows per model call (a turn brings all its windows to one batch)")


def from_namespace(args: argparse.Namespace) -> CallmoodOptions:
    turn_defaults = TurnOptions()
    turns = dataclasses.replace(turn_defaults, min_gap_s=args.min_gap_s, min_turn_s=args.min_turn_s,
                                max_turn_s=args.max_turn_s)
    return CallmoodOptions(
        input=args.input, output=args.output, model_dir=args.model_dir, channel_map=args.channel_map,
        turns=turns, max_duration_s=args.max_duration_s, reprocess=args.reprocess,
        inference_batch_windows=args.inference_batch_windows, write_every_calls=args.write_every_calls,
    )


def parse(argv: Sequence[str]) -> tuple[CallmoodOptions, list[str]]:
    """(callmood options, remaining args for Beam's PipelineOptions)."""
    parser = argparse.ArgumentParser(prog="callmood run")
    add_arguments(parser)
    args, beam_args = parser.parse_known_args(argv)
    return from_namespace(args), beam_args


def is_local_path(path: str) -> bool:
    return "://" not in path


def local_folder(path: str) -> Path | None:
    return Path(path) if is_local_path(path) and Path(path).is_dir() else None
