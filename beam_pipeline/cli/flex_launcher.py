"""What the Dataflow Flex Template launcher runs: `callmood run` with the template's parameters.

A Flex Template launch hands every template parameter to the program as
``--name=value`` and adds Beam's own flags (``--runner``, ``--project``,
``--temp_location``, ``--template_location`` ...). Three things separate that
from a command line a person types, and this module bridges them so that
``callmood run`` itself needs no template-specific option:

* parameter names follow Beam's convention (``model_dir``), the CLI's flags do
  not (``--model-dir``): underscores in a callmood flag become hyphens;
* a flag without a value (``--reprocess``) arrives as ``--reprocess=true`` or
  ``--reprocess=false``: it becomes the bare flag, or nothing;
* Cloud Scheduler sends the same request body every night and cannot compute
  a date, so ``--input`` may carry ``{yesterday}`` or ``{today}``, replaced here
  at launch time: ``{yesterday}`` is 2026-11-23, ``{yesterday:%Y/%m/%d}`` is
  2026/11/23, and ``{yesterday@Europe/Berlin}`` takes the day in that time zone
  (UTC otherwise), so a night that starts after midnight UTC still reads the
  call centre's previous day.

The flag list comes from :func:`beam_pipeline.options.add_arguments`, so an
option added there is handled here, and listed in the template metadata
(:func:`template_metadata`), without touching this file.
"""
from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from typing import Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from beam_pipeline import options as opts

DATE_TOKEN = re.compile(r"\{(?P<day>today|yesterday)(?:@(?P<zone>[A-Za-z0-9_+\-/]+))?(?::(?P<format>[^{}]+))?\}")
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no", ""}
# Per-parameter launch checks the console and the launch API apply before anything runs.
_EXTRA_REGEXES = {"output": [r"^bq://\S+\.\w+$"], "input": [r"^gs://[^\s]+$"]}
# On Dataflow a DuckDB file would land on a worker's disk and vanish: the template insists on bq://.
_TEMPLATE_REQUIRED = {"output"}
_INPUT_NOTE = (". In a Flex Template launch, {yesterday} or {today} (optionally {yesterday@Time/Zone:%Y/%m/%d}) "
               "is replaced by that date when the job starts.")


def run_parser() -> argparse.ArgumentParser:
    """The `callmood run` parser, built the one way the CLI builds it."""
    parser = argparse.ArgumentParser(prog="callmood run")
    opts.add_arguments(parser)
    return parser


def run_flags(parser: argparse.ArgumentParser | None = None) -> dict[str, argparse.Action]:
    """'model-dir' -> its action: each `callmood run` option once, by its first long flag (help excluded)."""
    parser = parser or run_parser()
    return {next(s[2:] for s in a.option_strings if s.startswith("--")): a for a in parser._actions
            if not isinstance(a, argparse._HelpAction) and any(s.startswith("--") for s in a.option_strings)}


def _all_flags(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Like run_flags, with every alias too (--no-x of a BooleanOptionalAction)."""
    return {s[2:]: a for a in parser._actions if not isinstance(a, argparse._HelpAction)
            for s in a.option_strings if s.startswith("--")}


def expand_dates(text: str, now: dt.datetime | None = None) -> str:
    """Replaces {today} / {yesterday} tokens (see the module docstring); raises ValueError on an unknown zone."""
    now = now or dt.datetime.now(dt.timezone.utc)

    def replace(match: re.Match) -> str:
        try:
            zone = ZoneInfo(match["zone"]) if match["zone"] else dt.timezone.utc
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{match[0]}: unknown time zone {match['zone']!r}") from exc
        day = now.astimezone(zone).date() - dt.timedelta(days=1 if match["day"] == "yesterday" else 0)
        return day.strftime(match["format"] or "%Y-%m-%d")

    return DATE_TOKEN.sub(replace, text)


def normalize_argv(argv: Sequence[str], now: dt.datetime | None = None) -> list[str]:
    """Template-launch arguments -> `callmood run` arguments; Beam's flags pass through untouched."""
    actions = _all_flags(run_parser())
    args, out = list(argv), []
    while args:
        arg = args.pop(0)
        name, has_value, value = arg[2:].partition("=") if arg.startswith("--") else ("", False, "")
        flag = name.replace("_", "-")
        action = actions.get(flag)
        if action is None:
            out.append(arg)
            continue
        if action.nargs == 0:  # a switch: the template sends --switch=true or --switch=false
            if has_value and value.strip().lower() not in _TRUE | _FALSE:
                raise ValueError(f"--{name}={value}: expected true or false")
            if not has_value or value.strip().lower() in _TRUE:
                out.append(f"--{flag}")
            elif isinstance(action, argparse.BooleanOptionalAction) and not flag.startswith("no-"):
                out.append(f"--no-{flag}")
            continue
        if not has_value and args:  # "--input VALUE", as a person would type it
            has_value, value = True, args.pop(0)
        if flag == "input":
            value = expand_dates(value, now)
        out.append(f"--{flag}={value}" if has_value else f"--{flag}")
    return out


def template_metadata() -> dict:
    """The Flex Template metadata (infra/flex_template/metadata.json): one parameter per `callmood run` flag."""
    parameters = []
    for flag, action in run_flags().items():
        if action.help == argparse.SUPPRESS:
            continue  # hidden from `callmood run --help`: not a user-facing option
        help_text = (action.help or "") % {**vars(action), "prog": "callmood run"}
        if flag == "input":
            help_text = help_text.rstrip(". ") + _INPUT_NOTE
        parameter = {"name": flag.replace("-", "_"), "label": flag.replace("-", " ").capitalize(),
                     "helpText": help_text, "isOptional": not (action.required or flag in _TEMPLATE_REQUIRED)}
        if action.nargs == 0:
            parameter["regexes"] = ["^(true|false)$"]
        elif action.choices:
            parameter["regexes"] = ["^(" + "|".join(re.escape(str(c)) for c in action.choices) + ")$"]
        elif action.type in (int, float):
            parameter["regexes"] = [r"^[0-9]+$" if action.type is int else r"^[0-9]*\.?[0-9]+$"]
        elif flag in _EXTRA_REGEXES:
            parameter["regexes"] = _EXTRA_REGEXES[flag]
        parameters.append(parameter)
    return {"name": "callmood nightly",
            "description": "Scores the emotion of every speaker turn in a night's call recordings "
                           "(gs://) and writes turns, calls, errors and runs to BigQuery.",
            "streaming": False, "parameters": parameters}


def main(argv: Sequence[str] | None = None) -> int:
    from beam_pipeline.cli.main import main as cli_main

    return cli_main(["run", *normalize_argv(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
