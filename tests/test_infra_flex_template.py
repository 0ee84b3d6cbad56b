"""The Flex Template around `callmood run`: its parameters, its launcher, the image, the Airflow DAG, the docs.

The template's parameter list must be the CLI's option list (a parameter the
CLI does not know fails the launch; an option missing from the list cannot be
passed: Dataflow rejects parameters the metadata does not name), so the tests
derive the options from the argparse parser rather than from a copy. Docker
cannot pull base images here and Airflow is not installed, so the Dockerfile
and the DAG are checked by reading them (text and `ast`), not by running them.
"""
from __future__ import annotations

import argparse
import ast
import datetime as dt
import fnmatch
import importlib.util
import json
import re
from pathlib import Path

import pytest
from apache_beam.options import pipeline_options

from beam_pipeline import options
from beam_pipeline.cli import flex_launcher

ROOT = Path(__file__).resolve().parent.parent
FLEX_DIR = ROOT / "infra" / "flex_template"
METADATA = json.loads((FLEX_DIR / "metadata.json").read_text())
NOW = dt.datetime(2026, 11, 24, 0, 30, tzinfo=dt.timezone.utc)


def _user_facing_options() -> dict[str, argparse.Action]:
    """Every `callmood run` option shown by --help, by its long flag without dashes, from the real parser."""
    parser = argparse.ArgumentParser()
    options.add_arguments(parser)
    found = {}
    for action in parser._actions:
        longs = [s for s in action.option_strings if s.startswith("--")]
        if longs and action.help != argparse.SUPPRESS and not isinstance(action, argparse._HelpAction):
            found[longs[0][2:]] = action
    return found


def test_template_parameters_are_exactly_the_run_options():
    parameters = {p["name"]: p for p in METADATA["parameters"]}
    run_options = _user_facing_options()
    as_flags = {name.replace("_", "-") for name in parameters}
    assert as_flags - set(run_options) == set(), "parameters that `callmood run` does not accept"
    assert set(run_options) - as_flags == set(), (
        "`callmood run` options missing from infra/flex_template/metadata.json: "
        "run .venv/bin/python infra/flex_template/build_metadata.py")
    for flag, action in run_options.items():
        parameter = parameters[flag.replace("-", "_")]
        if action.required:
            assert parameter["isOptional"] is False, flag
        assert parameter["helpText"] and parameter["label"], flag
    assert parameters["output"]["isOptional"] is False  # a DuckDB file on a Dataflow worker would be lost


def test_metadata_file_is_what_the_generator_writes():
    spec = importlib.util.spec_from_file_location("callmood_build_metadata", FLEX_DIR / "build_metadata.py")
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    assert (FLEX_DIR / "metadata.json").read_text() == builder.render(), \
        "run .venv/bin/python infra/flex_template/build_metadata.py"


def test_parameter_regexes_accept_what_the_nightly_launch_sends():
    regexes = {p["name"]: p.get("regexes", []) for p in METADATA["parameters"]}
    sent = {"input": "gs://acme-recordings/recordings/{yesterday@Europe/Berlin:%Y-%m-%d}/",
            "output": "bq://acme-prod-123.callmood", "reprocess": "true", "min_gap_s": "0.35",
            "write_every_calls": "20"}
    for name, value in sent.items():
        assert all(re.search(r, value) for r in regexes[name]), (name, value)
    for flag, action in _user_facing_options().items():
        if action.choices:  # e.g. --scorer: every choice passes, anything else is refused at launch
            name = flag.replace("-", "_")
            assert all(all(re.search(r, str(c)) for r in regexes[name]) for c in action.choices), flag
            assert not all(re.search(r, "no-such-choice") for r in regexes[name]), flag
    assert not all(re.search(r, "results.duckdb") for r in regexes["output"])
    assert not all(re.search(r, "yes") for r in regexes["reprocess"])


def test_launcher_turns_template_arguments_into_a_run_command_line():
    launched = ["--input=gs://b/recordings/{yesterday}/", "--output=bq://acme-prod-123.callmood",
                "--model_dir=/models/v2", "--min_gap_s=0.5", "--reprocess=true",
                "--runner=DataflowRunner", "--temp_location=gs://t/temp", "--template_location=gs://t/job.json"]
    argv = flex_launcher.normalize_argv(launched, NOW)
    parsed, beam_args = options.parse(argv)
    assert parsed.input == "gs://b/recordings/2026-11-23/"
    assert parsed.output == "bq://acme-prod-123.callmood"
    assert parsed.model_dir == "/models/v2"
    assert parsed.turns.min_gap_s == 0.5
    assert parsed.reprocess is True
    assert beam_args == ["--runner=DataflowRunner", "--temp_location=gs://t/temp",
                         "--template_location=gs://t/job.json"]
    # The spelling a person types works too.
    assert flex_launcher.normalize_argv(["--input", "gs://b/{today}/", "--max_duration_s", "60"], NOW) == \
        ["--input=gs://b/2026-11-24/", "--max-duration-s=60"]


@pytest.mark.parametrize("value, expected", [("true", True), ("True", True), ("false", False), ("", False)])
def test_switch_parameters_become_flags_or_nothing(value, expected):
    parsed, _ = options.parse(flex_launcher.normalize_argv(["--input=gs://b/x/", f"--reprocess={value}"], NOW))
    assert parsed.reprocess is expected


def test_switch_parameter_with_another_value_is_refused():
    with pytest.raises(ValueError, match="expected true or false"):
        flex_launcher.normalize_argv(["--reprocess=maybe"], NOW)


@pytest.mark.parametrize("text, expected", [
    ("gs://b/{yesterday}/", "gs://b/2026-11-23/"),
    ("gs://b/{today}/", "gs://b/2026-11-24/"),
    ("gs://b/{yesterday:%Y/%m/%d}/", "gs://b/2026/11/23/"),
    # 00:30 UTC is still 16:30 the day before in Los Angeles: its yesterday is the 22nd.
    ("gs://b/{yesterday@America/Los_Angeles}/", "gs://b/2026-11-22/"),
    ("gs://b/{today@Asia/Tokyo:%Y%m%d}/", "gs://b/20261124/"),
    ("gs://b/recordings/2026-11-01/", "gs://b/recordings/2026-11-01/"),
    ("gs://b/{dataset}/", "gs://b/{dataset}/"),
])
def test_date_tokens(text, expected):
    assert flex_launcher.expand_dates(text, NOW) == expected


def test_unknown_time_zone_fails_the_launch():
    with pytest.raises(ValueError, match="unknown time zone"):
        flex_launcher.expand_dates("gs://b/{yesterday@Mars/Olympus}/", NOW)


def test_shim_runs_the_packaged_launcher():
    tree = ast.parse((FLEX_DIR / "main.py").read_text())
    imports = {(node.module, alias.name) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
               for alias in node.names}
    assert ("beam_pipeline.cli.flex_launcher", "main") in imports


# -- the image -------------------------------------------------------------------------------

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _pinned_beam_version() -> str:
    return re.search(r'"apache-beam\[gcp\]==([0-9.]+)"', (ROOT / "setup.py").read_text())[1]


def test_dockerfile_pins_both_base_images():
    images = re.findall(r"^FROM\s+(\S+)", DOCKERFILE, re.M)
    assert len(images) == 2
    for image in images:
        name, _, tag = image.rpartition(":")
        assert name and tag and tag != "latest", image
    launcher, runtime = images
    assert launcher.startswith("gcr.io/dataflow-templates-base/python311-template-launcher-base:")
    # The workers' Beam must be the Beam the package pins, on the Python it requires.
    assert runtime == f"apache/beam_python3.11_sdk:{_pinned_beam_version()}"
    assert 'python_requires=">=3.11,<3.12"' in (ROOT / "setup.py").read_text()


def test_dockerfile_installs_the_package_and_sets_the_template_variables():
    assert re.search(r"^RUN pip install --no-cache-dir \. ", DOCKERFILE, re.M)
    assert re.search(r"apt-get install [^\n]*\bffmpeg\b", DOCKERFILE)
    assert "COPY --from=launcher /opt/google/dataflow/python_template_launcher" in DOCKERFILE
    env = dict(re.findall(r"^ENV\s+(\w+)=(\S+)", DOCKERFILE, re.M))
    workdir = re.search(r"^WORKDIR\s+(\S+)", DOCKERFILE, re.M)[1]
    assert re.search(rf"^COPY \. {re.escape(workdir)}$", DOCKERFILE, re.M)
    launcher_file = env["FLEX_TEMPLATE_PYTHON_PY_FILE"]
    assert launcher_file == f"{workdir}/infra/flex_template/main.py"
    assert (ROOT / "infra/flex_template/main.py").is_file()
    # The package is installed in the image the workers run, so nothing is staged for them to install.
    assert "FLEX_TEMPLATE_PYTHON_SETUP_FILE" not in env and "FLEX_TEMPLATE_PYTHON_REQUIREMENTS_FILE" not in env
    dataflow_tf = (ROOT / "infra/terraform/dataflow.tf").read_text()
    assert re.search(r"sdkContainerImage\s*=\s*local\.image\b", dataflow_tf)
    assert re.search(r'^ENTRYPOINT \["/opt/apache/beam/boot"\]', DOCKERFILE, re.M)


def _ignored(patterns: list[str], path: str) -> bool:
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    return any(fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p, "*/" + pattern.removeprefix("**/"))
               for pattern in patterns for p in prefixes)


def test_dockerignore_keeps_the_package_and_drops_the_rest():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for heavy in (".venv", ".emulators", ".lookmlint", ".git", "build", "dist", "results.duckdb",
                  "beam_pipeline/__pycache__/x.pyc", "infra/terraform/.terraform"):
        assert _ignored(patterns, heavy), heavy
    needed = ["setup.py", "infra/flex_template/main.py", "sql/tables/calls.sql", "sql/views/cx_call_summary.sql",
              "ser_model/artifacts/callmood_ser.keras", "ser_model/artifacts/model_metadata.json",
              "beam_pipeline/segment/diarization_embedder.npz", "dashboards/looker/callmood.model.lkml"]
    needed += [str(p.relative_to(ROOT)) for p in (ROOT / "beam_pipeline").rglob("*.py")]
    for path in needed:
        assert not _ignored(patterns, path), path


# -- the Airflow DAG -------------------------------------------------------------------------

def test_airflow_dag_launches_the_same_template_for_the_previous_day():
    """Parsed with ast: Airflow is not installed in the project's environment (and must not be)."""
    source = (ROOT / "infra" / "airflow" / "callmood_nightly.py").read_text()
    tree = ast.parse(source)
    imports = {(node.module, alias.name) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
               for alias in node.names}
    assert ("airflow.providers.google.cloud.operators.dataflow", "DataflowStartFlexTemplateOperator") in imports
    assert ("airflow.timetables.interval", "CronDataIntervalTimetable") in imports
    # Module-level string constants, evaluated: they are plain literals and concatenations.
    constants: dict = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and not any(isinstance(n, ast.Call) for n in ast.walk(node.value)):
            exec(compile(ast.Module(body=[node], type_ignores=[]), "dag", "exec"), {}, constants)
    operator = next(node for node in ast.walk(tree) if isinstance(node, ast.Call)
                    and getattr(node.func, "id", None) == "DataflowStartFlexTemplateOperator")
    keywords = {k.arg: k.value for k in operator.keywords}
    body = ast.literal_eval(ast.unparse(keywords["body"]).replace("TEMPLATE_PATH", repr(constants["TEMPLATE_PATH"]))
                            .replace("INPUT", repr(constants["INPUT"])))
    launch = body["launchParameter"]
    assert launch["containerSpecGcsPath"] == constants["TEMPLATE_PATH"] == "{{ var.value.callmood_template_path }}"
    names = {p["name"] for p in METADATA["parameters"]}
    assert set(launch["parameters"]) <= names
    assert {p["name"] for p in METADATA["parameters"] if not p["isOptional"]} <= set(launch["parameters"])
    assert "data_interval_start" in launch["parameters"]["input"]
    assert launch["parameters"]["input"].startswith("gs://")


# -- the docs --------------------------------------------------------------------------------

def _beam_flags() -> set[str]:
    parser = argparse.ArgumentParser()
    pending = list(pipeline_options.PipelineOptions.__subclasses__())
    seen = set()
    while pending:
        cls = pending.pop()
        if cls in seen:
            continue
        seen.add(cls)
        pending.extend(cls.__subclasses__())
        cls._add_argparse_args(parser)
    return {s for a in parser._actions for s in a.option_strings}


@pytest.mark.parametrize("doc", ["docs/deploy.md", "README.md"])
def test_documented_dataflow_commands_use_real_flags(doc):
    """Every flag of a documented `callmood run` is a callmood option or a Beam pipeline option."""
    known = {"--" + flag for flag in _user_facing_options()} | _beam_flags()
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / doc).read_text(), re.S)
    commands = [c for b in blocks for c in b.replace("\\\n", " ").splitlines()
                if "callmood run" in c and "DataflowRunner" in c]
    assert commands, f"no `callmood run --runner DataflowRunner` example in {doc}"
    for command in commands:
        flags = set(re.findall(r"(?<!\S)(--[\w-]+)", command))
        assert flags - known == set(), (doc, flags - known)
