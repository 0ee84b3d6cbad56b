"""The `callmood` command: run the nightly job, score one file, train and evaluate the model, build dashboards,
check the latest night for drift."""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# gRPC's C core (pulled in by Beam and the Google clients) prints its own log lines to stderr, for example an
# epoll warning when a forked ffmpeg exits; failures reach the job as Python exceptions, so its log is noise
# on a command whose stderr is meant to be read. Set GRPC_VERBOSITY to see it again.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")
# Its fork handlers run in every forked child (ffmpeg here), where nothing uses gRPC before exec; turned off they
# cannot misfire there (children of the test session failed before exec, most likely in them: tests/conftest.py).
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")


def _run(argv: Sequence[str]) -> int:
    from beam_pipeline import options as opts
    from beam_pipeline.pipeline import run

    from beam_pipeline.scoring.vertex import VertexEndpointError
    from beam_pipeline.sources.listing import InputError
    from beam_pipeline.warehouse.duckdb_sink import UnusableOutputError

    callmood_options, beam_args = opts.parse(argv)
    try:
        summary = run(callmood_options, beam_args)     # checks first that the night is there
    except (VertexEndpointError, InputError, UnusableOutputError) as exc:   # found before any audio was read
        print(f"callmood run: {exc}", file=sys.stderr)
        return 2
    print(summary.text())
    return 0


def _score(argv: Sequence[str]) -> int:
    from beam_pipeline.options import parse_channel_map
    from beam_pipeline.cli.score_file import NotARecordingFile, score_file, turns_table

    parser = argparse.ArgumentParser(prog="callmood score", description="print the scored turns of one recording")
    parser.add_argument("file", help="a recording (.wav .flac .mp3 .ogg .m4a); a sidecar beside it is used")
    parser.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    parser.add_argument("--model-dir", default=None, help="model folder (default: the bundled model)")
    parser.add_argument("--channel-map", default="0=agent,1=customer", type=parse_channel_map)
    args = parser.parse_args(argv)
    from beam_pipeline.records import StageError

    try:
        result = score_file(args.file, model_dir=args.model_dir, channel_map=args.channel_map)
    except StageError as exc:
        print(f"callmood score: {args.file}: {exc.stage}: {exc.reason}", file=sys.stderr)
        return 1
    except NotARecordingFile as exc:
        print(f"callmood score: {args.file}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"call": result.call_row, "turns": list(result.segment_rows)}, indent=2, default=str))
    else:
        print(turns_table(result))
    return 0


def _train(argv: Sequence[str]) -> int:
    import ser_model
    from ser_model.train import TrainConfig, train

    model_package = Path(ser_model.__file__).resolve().parent

    parser = argparse.ArgumentParser(prog="callmood train",
                                     description="tune, cross-validate by speaker, train and export the model")
    parser.add_argument("--config", default=str(model_package / "train_config.json"))
    parser.add_argument("--out", default=str(model_package / "artifacts"))
    parser.add_argument("--cache-dir", default=None, help="where to keep computed feature windows between runs")
    parser.add_argument("--skip-tuning", action="store_true")
    parser.add_argument("--skip-cross-validation", action="store_true")
    parser.add_argument("--jobs", type=int, default=1,
                        help="train the folds and the final model in this many processes side by side (one core each)")
    args = parser.parse_args(argv)
    config = TrainConfig.load(args.config)
    summary = train(config, Path(args.out), tune_first=not args.skip_tuning,
                    cross_validate_first=not args.skip_cross_validation,
                    cache_dir=Path(args.cache_dir) if args.cache_dir else None, jobs=args.jobs)
    print(f"exported {summary['export']['model_version']} to {args.out}")
    return 0


def _evaluate(argv: Sequence[str]) -> int:
    from ser_model.evaluate import evaluate, format_report
    from ser_model.inference import DEFAULT_MODEL_DIR

    parser = argparse.ArgumentParser(prog="callmood evaluate", description="evaluate a model on a manifest")
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--channel", choices=("clean", "telephone"), default="clean")
    parser.add_argument("--classes", default=None, help="comma-separated subset, e.g. angry,happy,neutral,sad")
    parser.add_argument("--model", default=str(DEFAULT_MODEL_DIR), help="model folder")
    parser.add_argument("--json", default=None, help="also write the full report here")
    args = parser.parse_args(argv)
    result = evaluate(args.manifest, args.data_root, channel=args.channel, model_dir=args.model,
                      classes=args.classes.split(",") if args.classes else None)
    print(format_report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


def _dashboard(argv: Sequence[str]) -> int:
    from dashboards.local_dashboard import serve, write_report

    parser = argparse.ArgumentParser(prog="callmood dashboard",
                                     description="the Customer Experience and Agent Wellbeing dashboards from a "
                                                 "DuckDB file, as one self-contained HTML page")
    parser.add_argument("--db", required=True, help="DuckDB file written by callmood run")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--out", default="report.html", help="HTML file to write (default: report.html)")
    where.add_argument("--serve", action="store_true", help="serve the page on http://127.0.0.1:PORT instead")
    parser.add_argument("--port", type=int, default=8050)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.db, port=args.port)
    else:
        print(f"wrote {write_report(args.db, args.out)}")
    return 0


def _monitor(argv: Sequence[str]) -> int:
    from beam_pipeline.monitoring.monitor import main as monitor_main

    return monitor_main(argv)


def _looker(argv: Sequence[str]) -> int:
    from dashboards.looker_deploy import main as looker_main

    return looker_main(argv)


def _model(argv: Sequence[str]) -> int:
    from ser_model.vertex_upload import main as model_main

    return model_main(argv)


COMMANDS = {"run": _run, "score": _score, "train": _train, "evaluate": _evaluate, "dashboard": _dashboard,
            "looker": _looker, "monitor": _monitor, "model": _model}


_WORKER_ENTRY = re.compile(r'message: "(?P<message>(?:[^"\\]|\\.)*)".*log_location: "(?P<where>[^"]*)"')


def _job_lines_from_workers(record: logging.LogRecord) -> bool:
    """Keeps a worker's log entry if the job wrote it (or it is a warning), rewritten to its message alone."""
    match = _WORKER_ENTRY.search(record.getMessage())
    if match is None:
        return record.levelno >= logging.WARNING
    if "beam_pipeline" not in match["where"] and (record.levelno < logging.WARNING or
                                                   "semi_persistent_directory" in match["message"]):
        return False   # the SDK worker's own chatter; its start-up warning about a directory it does not need
    record.msg, record.args = "worker: %s", (match["message"].encode().decode("unicode_escape"),)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print("usage: callmood {" + ",".join(COMMANDS) + "} [options]   (callmood COMMAND --help for more)")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for noisy in ("apache_beam", "absl", "tensorflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # With several worker processes the job's own lines (progress) arrive through Beam's
    # logging service as one protobuf dump each: let those through, as their message only.
    worker_logs = logging.getLogger("apache_beam.runners.portability.local_job_service")
    worker_logs.setLevel(logging.INFO)
    worker_logs.addFilter(_job_lines_from_workers)
    # RunInference warns through the root logger, on every model load, that it cannot
    # read memory usage on this platform: noise for the user.
    for handler in logging.getLogger().handlers:
        handler.addFilter(lambda record: "Resource module is not available" not in record.getMessage())
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
