"""The Terraform module, checked offline: CI cannot download the Google provider, so `terraform validate` cannot run.

infra/terraform/lint.py parses the .tf files with python-hcl2 and checks
references, documentation, providers, IAM and buckets; these tests run it on
the module, show that each check catches the mistake it is for (on small bad
modules written to tmp_path), and pin what the reviewers of a deployment care
about: who may do what, how long recordings and rows live, and that the nightly
launch names a day the template's launcher understands.
"""
from __future__ import annotations

import datetime as dt
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlglot

from beam_pipeline.cli.flex_launcher import DATE_TOKEN, expand_dates
from sql import schema

ROOT = Path(__file__).resolve().parent.parent
MODULE_DIR = ROOT / "infra" / "terraform"


def _load_lint():
    spec = importlib.util.spec_from_file_location("callmood_tf_lint", MODULE_DIR / "lint.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


lint = _load_lint()


@pytest.fixture(scope="module")
def module():
    return lint.load(MODULE_DIR)


def _write_module(tmp_path: Path, body: str) -> Path:
    """A small module: a pinned provider, plus `body`."""
    (tmp_path / "versions.tf").write_text(
        'terraform {\n  required_providers {\n    google = {\n      source  = "hashicorp/google"\n'
        '      version = "~> 6.0"\n    }\n  }\n}\n')
    (tmp_path / "main.tf").write_text(body)
    return tmp_path


def test_module_passes_every_check(module):
    assert lint.problems(module) == []
    # The checks saw the module, not an empty parse.
    assert len(module.resources) >= 20 and len(module.variables) >= 20 and module.outputs


GOOD_VARIABLE = 'variable "project_id" {\n  type        = string\n  description = "p"\n}\n'
GOOD_BUCKET = ('resource "google_storage_bucket" "b" {\n  name = "${var.project_id}-b"\n  location = "EU"\n'
               '  uniform_bucket_level_access = true\n  public_access_prevention = "enforced"\n}\n')


@pytest.mark.parametrize("body, expected", [
    (GOOD_VARIABLE + GOOD_BUCKET + 'output "o" {\n  description = "d"\n  value = var.regoin\n}\n',
     "var.regoin is not declared"),
    (GOOD_VARIABLE + GOOD_BUCKET + 'output "o" {\n  description = "d"\n  value = local.nope\n}\n',
     "local.nope is not declared"),
    (GOOD_VARIABLE + GOOD_BUCKET + 'output "o" {\n  description = "d"\n  value = google_storage_bucket.ghost.url\n}\n',
     "google_storage_bucket.ghost is not a resource"),
    (GOOD_VARIABLE + GOOD_BUCKET + 'output "o" {\n  description = "d"\n  value = data.google_project.p.number\n}\n',
     "data.google_project.p is not a data source"),
    (GOOD_VARIABLE + GOOD_BUCKET + 'variable "unused" {\n  type = string\n  description = "u"\n}\n',
     "variable unused is declared but never used"),
    (GOOD_VARIABLE + GOOD_VARIABLE + GOOD_BUCKET, "variable project_id is declared twice"),
    (GOOD_VARIABLE + GOOD_BUCKET + 'locals {\n  a = var.project_id\n}\nlocals {\n  a = "x"\n}\n',
     "locals a is declared twice"),
    (GOOD_BUCKET + 'variable "project_id" {\n  type = string\n}\n', "variable project_id has no description"),
    (GOOD_BUCKET + 'variable "project_id" {\n  description = "p"\n}\n', "variable project_id has no type"),
    (GOOD_VARIABLE + GOOD_BUCKET + 'output "o" {\n  value = google_storage_bucket.b.url\n}\n',
     "output o has no description"),
    (GOOD_VARIABLE + GOOD_BUCKET + 'resource "aws_s3_bucket" "x" {\n  bucket = var.project_id\n}\n',
     "aws_s3_bucket.x is not from the Google provider"),
    (GOOD_VARIABLE + 'resource "google_storage_bucket" "b" {\n  name = "${var.project_id}-b"\n  location = "EU"\n'
     '  uniform_bucket_level_access = false\n  public_access_prevention = "enforced"\n}\n',
     "bucket b lacks uniform_bucket_level_access"),
    (GOOD_VARIABLE + 'resource "google_storage_bucket" "b" {\n  name = "${var.project_id}-b"\n  location = "EU"\n'
     '  uniform_bucket_level_access = true\n}\n', "bucket b lacks public_access_prevention"),
    (GOOD_VARIABLE + GOOD_BUCKET + 'resource "google_service_account" "s" {\n  account_id = "s"\n'
     '  project = "acme-prod-123"\n}\n', 'project = acme-prod-123 is hard-coded'),
    (GOOD_VARIABLE + GOOD_BUCKET + 'locals {\n  uri = "https://dataflow.googleapis.com/v1b3/projects/acme-prod/x"\n'
     '  again = local.uri\n}\n', "names a project literally"),
    (GOOD_VARIABLE + GOOD_BUCKET + 'resource "google_project_iam_member" "m" {\n  project = var.project_id\n'
     '  role = "roles/editor"\n  member = "user:a@example.com"\n}\n', "grants the basic role roles/editor"),
    (GOOD_VARIABLE + GOOD_BUCKET + 'resource "google_project_iam_member" "m" {\n  project = var.project_id\n'
     '  role = "roles/storage.objectAdmin"\n  member = "user:a@example.com"\n}\n',
     "grants roles/storage.objectAdmin on the whole project"),
    (GOOD_VARIABLE + GOOD_BUCKET + 'resource "google_storage_bucket_iam_binding" "m" {\n'
     '  bucket = google_storage_bucket.b.name\n  role = "roles/storage.objectViewer"\n  members = []\n}\n',
     "is authoritative"),
    (GOOD_VARIABLE + GOOD_BUCKET + 'locals {\n  ddl = fileset("${path.module}/no_such_dir", "*.sql")\n'
     '  again = local.ddl\n}\n', "matches no file"),
    (GOOD_VARIABLE + GOOD_BUCKET + 'locals {\n  spec = file("${path.module}/missing.json")\n'
     '  again = local.spec\n}\n', "reads a file that does not exist"),
])
def test_each_check_catches_its_mistake(tmp_path, body, expected):
    found = lint.problems(lint.load(_write_module(tmp_path, body)))
    assert any(expected in problem for problem in found), found


def test_a_good_small_module_has_no_problems(tmp_path):
    """The bad cases above differ from this one by the mistake only."""
    body = GOOD_VARIABLE + GOOD_BUCKET + 'output "o" {\n  description = "d"\n  value = google_storage_bucket.b.url\n}\n'
    assert lint.problems(lint.load(_write_module(tmp_path, body))) == []


@pytest.mark.parametrize("version", ['">= 6.0"', '"~> 5.0"', '"6.1.0"'])
def test_provider_must_be_pinned_to_google_6(tmp_path, version):
    _write_module(tmp_path, GOOD_VARIABLE + GOOD_BUCKET)
    (tmp_path / "versions.tf").write_text(
        'terraform {\n  required_providers {\n    google = {\n      source  = "hashicorp/google"\n'
        f'      version = {version}\n    }}\n  }}\n}}\n')
    assert any("is not pinned to ~> 6.x" in p for p in lint.problems(lint.load(tmp_path)))


def test_tables_are_created_from_every_ddl_file(module):
    """fileset() over sql/tables: every table the job knows, and a new .sql file, is created by the same DDL."""
    tables_dir = Path(lint._resolve_path(module, module.locals["sql_tables_dir"])).resolve()
    assert tables_dir == ROOT / "sql" / "tables"
    assert 'fileset(local.sql_tables_dir, "*.sql")' in module.locals["table_ddl"]
    assert module.locals["dataset_placeholder"] == schema.DATASET_PLACEHOLDER
    files = sorted(tables_dir.glob("*.sql"))
    assert set(schema.TABLES) <= {f.stem for f in files}
    for ddl_file in files:
        # What Terraform's replace() makes of the file is one CREATE TABLE in project.dataset.
        ddl = ddl_file.read_text().replace(schema.DATASET_PLACEHOLDER, "acme-prod-123.callmood")
        create = sqlglot.parse_one(ddl, read="bigquery")
        table = create.find(sqlglot.exp.Table)
        assert (table.catalog, table.db, table.name) == ("acme-prod-123", "callmood", ddl_file.stem), ddl_file.name


def test_ddl_jobs_rerun_when_a_file_changes(module):
    job = module.resources[("google_bigquery_job", "create_table")]
    assert job["for_each"] == "${local.table_ddl}"
    assert "sha256(" in job["job_id"] and "each.value" in job["job_id"]
    query = job["query"][0] if isinstance(job["query"], list) else job["query"]
    # BigQuery fails a DDL job that carries dispositions; the provider sets them unless told not to.
    assert query["create_disposition"] == "" and query["write_disposition"] == ""
    assert query["use_legacy_sql"] is False


def _grants(module) -> set[tuple[str, str, str, str]]:
    """(resource type, role, member, target) of every IAM grant in the module."""
    target_args = ("bucket", "dataset_id", "repository", "service_account_id", "secret_id", "project")
    grants = set()
    for (rtype, _), body in module.resources.items():
        if "_iam_" in rtype and rtype != "google_project_iam_custom_role":    # a role, not a grant
            target = next(str(body[a]) for a in target_args if a in body)
            grants.add((rtype, body["role"], body["member"], target))
    return grants


def test_each_account_gets_exactly_its_grants(module):
    job, scheduler = "${local.job_member}", "${local.scheduler_member}"
    assert _grants(module) == {
        ("google_storage_bucket_iam_member", "roles/storage.objectViewer", job,
         "${google_storage_bucket.recordings.name}"),
        ("google_storage_bucket_iam_member", "roles/storage.objectAdmin", job, "${google_storage_bucket.temp.name}"),
        ("google_storage_bucket_iam_member", "roles/storage.objectViewer", job, "${google_storage_bucket.temp.name}"),
        ("google_bigquery_dataset_iam_member", "roles/bigquery.dataEditor", job,
         "${google_bigquery_dataset.callmood.dataset_id}"),
        ("google_project_iam_member", "roles/bigquery.jobUser", job, "${var.project_id}"),
        ("google_project_iam_member", "roles/dataflow.worker", job, "${var.project_id}"),
        ("google_artifact_registry_repository_iam_member", "roles/artifactregistry.reader", job,
         "${google_artifact_registry_repository.images.name}"),
        ("google_secret_manager_secret_iam_member", "roles/secretmanager.secretAccessor", job,
         "${var.caller_id_salt_secret}"),
        ("google_project_iam_member", "${google_project_iam_custom_role.vertex_scorer[0].id}", job,
         "${var.project_id}"),
        ("google_project_iam_member", "${google_project_iam_custom_role.dataflow_launcher.id}", scheduler,
         "${var.project_id}"),
        ("google_service_account_iam_member", "roles/iam.serviceAccountUser", scheduler,
         "${google_service_account.job.name}"),
        ("google_storage_bucket_iam_member", "roles/storage.objectViewer", scheduler,
         "${google_storage_bucket.temp.name}"),
        ("google_bigquery_dataset_iam_member", "roles/bigquery.dataViewer", "${each.value}",
         "${google_bigquery_dataset.callmood.dataset_id}"),
        ("google_bigquery_table_iam_member", "roles/bigquery.dataViewer", "${each.value}",
         "${google_bigquery_dataset.callmood.dataset_id}"),
    }


def test_project_wide_grants_are_custom_roles_of_the_few_permissions_used(module):
    """No roles/aiplatform.user or roles/dataflow.developer: the job and the scheduler get what they call."""
    roles = {name: body for (rtype, name), body in module.resources.items()
             if rtype == "google_project_iam_custom_role"}
    assert sorted(roles["vertex_scorer"]["permissions"]) == [
        "aiplatform.endpoints.get", "aiplatform.endpoints.predict", "aiplatform.models.get"]
    assert roles["vertex_scorer"]["count"] == "${var.grant_vertex_ai_user ? 1 : 0}"
    assert sorted(roles["dataflow_launcher"]["permissions"]) == ["dataflow.jobs.create", "dataflow.jobs.get"]


def test_dataset_viewers_cannot_read_the_clear_recording_paths(module):
    viewers = module.resources[("google_bigquery_dataset_iam_member", "viewers")]["condition"]
    assert (viewers[0] if isinstance(viewers, list) else viewers)["expression"] == '!resource.name.endsWith("/tables/recording_paths")'
    readers = module.resources[("google_bigquery_table_iam_member", "recording_path_readers")]
    assert readers["table_id"] == "recording_paths" and readers["for_each"] == "${toset(var.recording_path_readers)}"


def test_optional_grants_are_off_unless_asked_for(module):
    assert module.resources[("google_project_iam_member", "job_calls_vertex_ai")]["count"] == \
        "${var.grant_vertex_ai_user ? 1 : 0}"
    assert module.variables["grant_vertex_ai_user"]["default"] is False
    assert "var.caller_id_salt_secret == null ? 0 : 1" in \
        module.resources[("google_secret_manager_secret_iam_member", "job_reads_salt")]["count"]


def test_template_specs_are_fenced_by_iam_conditions(module):
    """Workers cannot rewrite the template they run from; the scheduler can read the specs and nothing else."""
    assert module.locals["template_object"].endswith("/objects/${local.template_prefix}")
    job_admin = module.resources[("google_storage_bucket_iam_member", "job_writes_temp")]["condition"]
    scheduler_read = module.resources[("google_storage_bucket_iam_member", "scheduler_reads_template")]["condition"]
    condition = lambda c: (c[0] if isinstance(c, list) else c)["expression"]  # noqa: E731
    assert condition(job_admin).startswith("!resource.name.startsWith(")
    assert condition(scheduler_read).startswith("resource.name.startsWith(")
    for fenced in (job_admin, scheduler_read):
        assert "${local.template_object}" in condition(fenced)
    spec = module.resources[("google_storage_bucket_object", "flex_template")]
    assert spec["name"].startswith("${local.template_prefix}")


def _blocks(value) -> list[dict]:
    return value if isinstance(value, list) else [value]


def test_recordings_age_out_and_rows_expire(module):
    rules = _blocks(module.resources[("google_storage_bucket", "recordings")]["lifecycle_rule"])
    summary = {(_blocks(r["action"])[0]["type"], _blocks(r["action"])[0].get("storage_class"),
                _blocks(r["condition"])[0]["age"]) for r in rules}
    assert summary == {("SetStorageClass", "NEARLINE", "${var.recordings_nearline_after_days}"),
                       ("SetStorageClass", "COLDLINE", "${var.recordings_coldline_after_days}"),
                       ("Delete", None, "${var.recordings_retention_days}")}
    dataset = module.resources[("google_bigquery_dataset", "callmood")]
    assert "var.partition_expiration_days * 86400000" in dataset["default_partition_expiration_ms"]
    assert dataset["delete_contents_on_destroy"] is False
    temp_rules = _blocks(module.resources[("google_storage_bucket", "temp")]["lifecycle_rule"])
    assert all("templates/" not in str(r["condition"]) for r in temp_rules)  # specs outlive temp files


def test_every_variable_validation_names_its_variable(module):
    """A validation block that tests another variable than its own is a copy-paste slip."""
    for name, body in module.variables.items():
        for validation in _blocks(body.get("validation", [])):
            assert f"var.{name}" in validation["condition"], name


def test_scheduler_launches_the_flex_template_as_its_own_account(module):
    job = module.resources[("google_cloud_scheduler_job", "nightly")]
    target = _blocks(job["http_target"])[0]
    assert target["http_method"] == "POST"
    assert re.fullmatch(r"https://dataflow\.googleapis\.com/v1b3/projects/\$\{var\.project_id\}/locations/"
                        r"\$\{var\.region\}/flexTemplates:launch", target["uri"])
    oauth = _blocks(target["oauth_token"])[0]
    assert oauth["service_account_email"] == "${google_service_account.scheduler.email}"
    assert "containerSpecGcsPath = local.template_path" in target["body"]
    assert "parameters = local.nightly_parameters" in target["body"]
    assert job["schedule"] == "${var.schedule}" and job["time_zone"] == "${var.time_zone}"


def test_nightly_input_token_is_one_the_launcher_expands(module):
    """Terraform writes the token, the launcher reads it: render the local as Terraform would and expand it."""
    variables = {"var.time_zone": "Europe/Berlin", "var.recordings_prefix": "recordings/",
                 "var.recordings_date_format": "%Y/%m/%d",
                 "google_storage_bucket.recordings.name": "acme-prod-123-callmood-recordings"}
    rendered = re.sub(r"\$\{([^}]+)\}", lambda m: variables[m[1]], module.locals["nightly_input"])
    assert DATE_TOKEN.search(rendered), rendered
    # 23:30 UTC on 23 Nov is 00:30 on 24 Nov in Berlin: the night that just ended there is the 23rd.
    now = dt.datetime(2026, 11, 23, 23, 30, tzinfo=dt.timezone.utc)
    assert expand_dates(rendered, now) == "gs://acme-prod-123-callmood-recordings/recordings/2026/11/23/"
    assert module.variables["time_zone"]["default"] == "Etc/UTC"


def test_nightly_parameters_are_template_parameters(module):
    """A precondition stops an apply whose nightly body names a parameter the template would reject."""
    precondition = _blocks(_blocks(module.resources[("google_cloud_scheduler_job", "nightly")]["lifecycle"])[0]
                           ["precondition"])[0]
    assert "keys(local.nightly_parameters)" in precondition["condition"]
    assert "local.flex_parameter_names" in precondition["condition"]
    assert "${local.nightly_input}" in module.locals["nightly_parameters"] or \
        "local.nightly_input" in module.locals["nightly_parameters"]


@pytest.mark.skipif(shutil.which("terraform") is None,
                    reason="terraform is not installed (CI installs only what the project installs); "
                           "lint.py's checks above run instead")
def test_terraform_fmt_is_canonical():
    result = subprocess.run(["terraform", "fmt", "-check", "-recursive", "-diff", str(MODULE_DIR)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def variables_only(tmp_path_factory):
    """variables.tf alone: a module Terraform can init and plan offline, since it needs no provider."""
    if shutil.which("terraform") is None:
        pytest.skip("terraform is not installed (CI installs only what the project installs)")
    directory = tmp_path_factory.mktemp("tf_variables")
    shutil.copy(MODULE_DIR / "variables.tf", directory)
    subprocess.run(["terraform", "init", "-input=false", "-no-color"], cwd=directory, check=True,
                   capture_output=True, timeout=120)
    return directory


@pytest.mark.parametrize("overrides, error", [
    ({}, None),
    ({"image_tag": '"latest"'}, "image_tag must be a Docker tag other than latest"),
    ({"recordings_coldline_after_days": "20"}, "recordings_coldline_after_days must be later"),
    ({"project_id": '"123456789012"'}, "project_id must be a project ID"),
    ({"time_zone": '"Europe/Berlin"', "partition_expiration_days": "null"}, None),
    ({"partition_expiration_days": "0"}, "partition_expiration_days must be null or at least 1"),
])
def test_variable_validations_with_terraform(variables_only, tmp_path, overrides, error):
    """Where terraform exists, its own evaluation of the validation blocks (the rest needs the provider)."""
    values = {"project_id": '"acme-prod-123"', "image_tag": '"0.1.0-af05083"', **overrides}
    tfvars = tmp_path / "test.tfvars"
    tfvars.write_text("".join(f"{name} = {value}\n" for name, value in values.items()))
    result = subprocess.run(["terraform", "plan", "-input=false", "-no-color", f"-var-file={tfvars}"],
                            cwd=variables_only, capture_output=True, text=True, timeout=120)
    output = " ".join((result.stdout + result.stderr).split())
    if error is None:
        assert result.returncode == 0, output
    else:
        assert result.returncode != 0 and error in output, output


def test_tfvars_example_sets_only_declared_variables(module):
    import hcl2

    example = hcl2.load((MODULE_DIR / "terraform.tfvars.example").open(),
                        serialization_options=lint._PARSE)
    assert set(example) <= set(module.variables), set(example) - set(module.variables)
    required = {name for name, body in module.variables.items() if "default" not in body}
    assert required == {"project_id", "image_tag"} and required <= set(example)


def test_tfvars_example_passes_the_validations(variables_only):
    result = subprocess.run(["terraform", "plan", "-input=false", "-no-color",
                             f"-var-file={MODULE_DIR / 'terraform.tfvars.example'}"],
                            cwd=variables_only, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
