"""Offline checks of the Terraform module: what `terraform validate` would catch, and the project's rules.

`terraform validate` needs the Google provider, which a CI machine cannot
download (only PyPI, Debian and npm are reachable), so CI parses the .tf
files with python-hcl2 instead and checks:

* every ``var.X`` / ``local.X`` / ``google_type.name`` / ``data.google_type.name``
  reference is declared, nothing is declared twice, and every variable is used;
* every variable has a type and a description, every output a description;
* only the Google provider is required, pinned to ``~> 6.x``, and every resource
  and data source is a ``google_`` one;
* no project id is written into the module (a ``project`` argument or a
  ``projects/...`` path must come from an expression);
* the files that ``file()`` / ``fileset()`` / ``templatefile()`` read exist
  (the DDL in sql/tables above all);
* no basic role (owner, editor, viewer), no authoritative IAM resource
  (``*_iam_binding`` / ``*_iam_policy``), and project-wide grants only from
  PROJECT_ROLES or the module's own custom roles;
* every bucket has uniform bucket-level access and enforced public access prevention.

    .venv/bin/python infra/terraform/lint.py [DIR]    # prints problems, exits 1 if any
"""
from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path
from typing import Any, Iterator

import hcl2
from hcl2.utils import SerializationOptions

MODULE_DIR = Path(__file__).resolve().parent
ALLOWED_PROVIDERS = {"google": "hashicorp/google", "google-beta": "hashicorp/google-beta"}
PROVIDER_VERSION = re.compile(r"^~>\s*6\.\d+(\.\d+)?$")
BASIC_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}
# Roles that exist only at project level for what the job needs; anything else is granted on the resource.
# roles/dataflow.developer and roles/aiplatform.user are not here: the module's own custom roles
# (google_project_iam_custom_role) grant the few permissions the scheduler and the job use.
PROJECT_ROLES = {"roles/bigquery.jobUser", "roles/dataflow.worker"}
_CUSTOM_ROLE = re.compile(r"^\$\{google_project_iam_custom_role\.\w+(\[\d+\])?\.id\}$")

_VAR = re.compile(r"(?<![\w.])var\.([A-Za-z_]\w*)")
_LOCAL = re.compile(r"(?<![\w.])local\.([A-Za-z_]\w*)")
_RESOURCE = re.compile(r"(?<![\w.])(google_\w+)\.([A-Za-z_][\w-]*)")
_DATA = re.compile(r"(?<![\w.])data\.(google_\w+)\.([A-Za-z_][\w-]*)")
_FILE_CALL = re.compile(r"\b(file|fileset|templatefile)\(\s*(?:\"([^\"]*)\"|(local\.\w+))(?:\s*,\s*\"([^\"]*)\")?")
_INTERPOLATION = re.compile(r"\$\{(path\.module|local\.\w+)\}")
_LITERAL_PROJECT_PATH = re.compile(r"projects/(?!_/|\$\{)")
# Plain strings without quotes, blocks as dicts, comments dropped (a comment may mention var.x).
_PARSE = SerializationOptions(with_comments=False, strip_string_quotes=True, explicit_blocks=False)


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a parsed block: values, and keys (object keys can be expressions)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _attributes(value: Any, name: str) -> Iterator[Any]:
    """Every argument called `name`, at any depth (blocks nest: condition, http_target, ...)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == name:
                yield item
            yield from _attributes(item, name)
    elif isinstance(value, list):
        for item in value:
            yield from _attributes(item, name)


@dataclasses.dataclass
class Module:
    directory: Path
    variables: dict[str, dict] = dataclasses.field(default_factory=dict)
    locals: dict[str, Any] = dataclasses.field(default_factory=dict)
    resources: dict[tuple[str, str], dict] = dataclasses.field(default_factory=dict)
    data: dict[tuple[str, str], dict] = dataclasses.field(default_factory=dict)
    outputs: dict[str, dict] = dataclasses.field(default_factory=dict)
    terraform: list[dict] = dataclasses.field(default_factory=list)
    providers: dict[str, dict] = dataclasses.field(default_factory=dict)
    blocks: list[tuple[str, Any]] = dataclasses.field(default_factory=list)  # (file, block) for text scans
    duplicates: list[str] = dataclasses.field(default_factory=list)  # names declared twice (terraform refuses)

    def resources_of(self, kind: str) -> dict[str, dict]:
        return {name: body for (t, name), body in self.resources.items() if t == kind}


def load(directory: Path = MODULE_DIR) -> Module:
    """Parses every .tf file of one module (not its subfolders) into a Module."""
    module = Module(directory=Path(directory))
    files = sorted(Path(directory).glob("*.tf"))
    if not files:
        raise FileNotFoundError(f"no .tf files in {directory}")
    for path in files:
        with path.open() as handle:
            parsed = hcl2.load(handle, serialization_options=_PARSE)

        def add(target: dict, key, body, kind: str) -> None:
            if key in target:
                module.duplicates.append(f"{path.name}: {kind} {key} is declared twice")
            target[key] = body

        for kind, target in (("variable", module.variables), ("locals", module.locals),
                             ("output", module.outputs), ("provider", module.providers)):
            for block in parsed.get(kind, []):
                for name, body in block.items():
                    add(target, name, body, kind)
        for kind, target in (("resource", module.resources), ("data", module.data)):
            for block in parsed.get(kind, []):
                for rtype, named in block.items():
                    for name, body in named.items():
                        add(target, (rtype, name), body, kind)
        module.terraform.extend(parsed.get("terraform", []))
        module.blocks.append((path.name, parsed))
    return module


def reference_problems(module: Module) -> list[str]:
    problems, used_vars = [], set()
    for file_name, parsed in module.blocks:
        for text in _strings(parsed):
            for name in _VAR.findall(text):
                used_vars.add(name)
                if name not in module.variables:
                    problems.append(f"{file_name}: var.{name} is not declared")
            for name in _LOCAL.findall(text):
                if name not in module.locals:
                    problems.append(f"{file_name}: local.{name} is not declared")
            for rtype, name in _RESOURCE.findall(text):
                if (rtype, name) not in module.resources:
                    problems.append(f"{file_name}: {rtype}.{name} is not a resource of the module")
            for rtype, name in _DATA.findall(text):
                if (rtype, name) not in module.data:
                    problems.append(f"{file_name}: data.{rtype}.{name} is not a data source of the module")
    problems += [f"variable {name} is declared but never used" for name in module.variables if name not in used_vars]
    problems += module.duplicates
    return sorted(set(problems))


def documentation_problems(module: Module) -> list[str]:
    problems = []
    for name, body in module.variables.items():
        if not str(body.get("description", "")).strip():
            problems.append(f"variable {name} has no description")
        if "type" not in body:
            problems.append(f"variable {name} has no type")
    for name, body in module.outputs.items():
        if not str(body.get("description", "")).strip():
            problems.append(f"output {name} has no description")
    return problems


def provider_problems(module: Module) -> list[str]:
    problems, required = [], {}
    for block in module.terraform:
        for providers in block.get("required_providers", []):
            required.update(providers)
    if not required:
        problems.append("no required_providers: the Google provider version is not pinned")
    for name, spec in required.items():
        if name not in ALLOWED_PROVIDERS or str(spec.get("source", "")) != ALLOWED_PROVIDERS[name]:
            problems.append(f"provider {name} ({spec.get('source')}) is not hashicorp/google or google-beta")
        if not PROVIDER_VERSION.match(str(spec.get("version", ""))):
            problems.append(f"provider {name} version {spec.get('version')} is not pinned to ~> 6.x")
    for name in module.providers:
        if name not in required:
            problems.append(f"provider block {name} is not in required_providers")
    for kind, declared in (("resource", module.resources), ("data source", module.data)):
        for rtype, name in declared:
            if not rtype.startswith("google_"):
                problems.append(f"{kind} {rtype}.{name} is not from the Google provider")
    for (rtype, name), body in {**module.resources, **module.data}.items():
        for provider in _attributes(body, "provider"):
            if str(provider).strip("${}").split(".")[0] not in required:
                problems.append(f"{rtype}.{name} uses provider {provider}")
    return problems


def project_id_problems(module: Module) -> list[str]:
    problems = []
    for (rtype, name), body in {**module.resources, **module.data}.items():
        for value in _attributes(body, "project"):
            if "${" not in str(value):
                problems.append(f"{rtype}.{name}: project = {value} is hard-coded")
    for file_name, parsed in module.blocks:
        for text in _strings(parsed):
            if _LITERAL_PROJECT_PATH.search(text):
                problems.append(f"{file_name}: {text[:80]} names a project literally")
    return problems


def _resolve_path(module: Module, template: str) -> str | None:
    """'${path.module}/../x' with path.module and string locals filled in; None if it depends on anything else."""
    for _ in range(5):
        def fill(match: re.Match) -> str:
            ref = match[1]
            if ref == "path.module":
                return str(module.directory)
            value = module.locals.get(ref.split(".", 1)[1])
            return value if isinstance(value, str) else match[0]
        template = _INTERPOLATION.sub(fill, template)
    return None if "${" in template else template


def file_problems(module: Module) -> list[str]:
    problems = []
    for file_name, parsed in module.blocks:
        for text in _strings(parsed):
            for function, literal, local_ref, pattern in _FILE_CALL.findall(text):
                first = literal or "${" + local_ref + "}"
                path = _resolve_path(module, first)
                if path is None:
                    continue  # built from a loop variable: its directory is checked through fileset()
                if function == "fileset":
                    if not Path(path).is_dir() or not list(Path(path).glob(pattern or "*")):
                        problems.append(f"{file_name}: fileset({first}, {pattern}) matches no file")
                elif not Path(path).is_file():
                    problems.append(f"{file_name}: {function}({first}) reads a file that does not exist")
    return problems


def iam_problems(module: Module) -> list[str]:
    problems = []
    for (rtype, name), body in module.resources.items():
        if rtype.endswith(("_iam_binding", "_iam_policy")):
            problems.append(f"{rtype}.{name} is authoritative: use an *_iam_member grant")
        for role in (str(r) for r in _attributes(body, "role")):
            if role in BASIC_ROLES:
                problems.append(f"{rtype}.{name} grants the basic role {role}")
            if rtype == "google_project_iam_member" and role not in PROJECT_ROLES and not _CUSTOM_ROLE.match(role):
                problems.append(f"{rtype}.{name} grants {role} on the whole project")
    return problems


def bucket_problems(module: Module) -> list[str]:
    problems = []
    for name, body in module.resources_of("google_storage_bucket").items():
        if body.get("uniform_bucket_level_access") is not True:
            problems.append(f"bucket {name} lacks uniform_bucket_level_access = true")
        if body.get("public_access_prevention") != "enforced":
            problems.append(f"bucket {name} lacks public_access_prevention = \"enforced\"")
    return problems


CHECKS = (reference_problems, documentation_problems, provider_problems, project_id_problems, file_problems,
          iam_problems, bucket_problems)


def problems(module: Module) -> list[str]:
    return [problem for check in CHECKS for problem in check(module)]


def main(argv: list[str]) -> int:
    found = problems(load(Path(argv[0]) if argv else MODULE_DIR))
    for problem in found:
        print(problem)
    print(f"{len(found)} problems" if found else "no problems")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
