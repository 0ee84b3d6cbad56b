"""`callmood looker deploy`: validate the LookML project on a Looker instance, then create or update the dashboards.

Credentials come from the standard looker-sdk environment variables
(``LOOKERSDK_BASE_URL``, ``LOOKERSDK_CLIENT_ID``, ``LOOKERSDK_CLIENT_SECRET``,
optionally ``LOOKERSDK_VERIFY_SSL`` and ``LOOKERSDK_TIMEOUT``), so nothing secret
goes on the command line or into a file in the repository.

The LookML itself reaches the instance through Looker's git integration (the
project's remote), as Looker requires; this step checks the deployed project
with the instance's own validator and refuses to touch dashboards when it finds
errors. Each ``*.dashboard.lookml`` file then becomes a user-defined dashboard in
the chosen folder via ``import_dashboard_from_lookml``. The API has no "update
from LookML" call, so an existing dashboard with the same title in that folder
is replaced: the new one is imported first and the old one deleted only after
that succeeded, so a failed import never leaves the folder without it.
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any, Sequence

import yaml

LOOKML_DIR = Path(__file__).resolve().parent / "looker"
FATAL_SEVERITIES = frozenset({"error", "fatal"})


@dataclasses.dataclass(frozen=True)
class DashboardFile:
    """One ``.dashboard.lookml`` file: its name inside the model, its title and its text."""

    path: Path
    name: str
    title: str
    lookml: str


@dataclasses.dataclass(frozen=True)
class DeployResult:
    """What a deploy did: the validator's errors (empty when it passed) and the dashboards written."""

    validation_errors: tuple[str, ...]
    dashboards: tuple[dict[str, str], ...]

    @property
    def ok(self) -> bool:
        return not self.validation_errors


def dashboard_files(lookml_dir: Path = LOOKML_DIR) -> list[DashboardFile]:
    """The project's dashboards, read from their files (each a YAML list holding one dashboard)."""
    found = []
    for path in sorted(Path(lookml_dir).glob("*.dashboard.lookml")):
        text = path.read_text(encoding="utf-8")
        (document,) = yaml.safe_load(text)
        found.append(DashboardFile(path=path, name=document["dashboard"], title=document["title"], lookml=text))
    return found


def validation_errors(sdk: Any, project_id: str) -> list[str]:
    """Errors (not warnings) from the instance's LookML validator, one line each."""
    validation = sdk.validate_project(project_id)
    problems = []
    for error in validation.errors or ():
        if (error.severity or "").lower() in FATAL_SEVERITIES:
            where = f"{error.file_path}:{error.line_number}" if error.file_path else "project"
            problems.append(f"{where}: {error.severity}: {error.message}")
    return problems


def upsert_dashboard(sdk: Any, dashboard: DashboardFile, folder_id: str) -> dict[str, str]:
    """Import ``dashboard`` into ``folder_id``, replacing one with the same title there."""
    from looker_sdk import models40 as models

    existing = sdk.search_dashboards(title=dashboard.title, folder_id=folder_id, fields="id,title")
    created = sdk.import_dashboard_from_lookml(models.WriteDashboardLookml(folder_id=folder_id,
                                                                           lookml=dashboard.lookml))
    for old in existing:
        if old.id != created.id:
            sdk.delete_dashboard(old.id)
    return {"name": dashboard.name, "title": dashboard.title, "id": str(created.id),
            "action": "updated" if existing else "created"}


def deploy(project_id: str, folder_id: str, lookml_dir: Path = LOOKML_DIR, sdk: Any = None,
           validate_only: bool = False) -> DeployResult:
    """Validate ``project_id`` on the instance and, when it passes, write every dashboard file into ``folder_id``.

    Parameters
    ----------
    project_id : str
        The LookML project's name on the instance (``callmood`` in manifest.lkml).
    folder_id : str
        Folder that holds the supervisors' dashboards.
    sdk : looker_sdk client, optional
        Defaults to ``looker_sdk.init40()``, configured from the ``LOOKERSDK_*`` variables.
    validate_only : bool
        Stop after validation.
    """
    if sdk is None:
        import looker_sdk

        sdk = looker_sdk.init40()
    files = dashboard_files(lookml_dir)
    problems = validation_errors(sdk, project_id)
    if problems or validate_only:
        return DeployResult(tuple(problems), ())
    return DeployResult((), tuple(upsert_dashboard(sdk, f, folder_id) for f in files))


def main(argv: Sequence[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="callmood looker",
        description="validate the LookML project on Looker and create or update its dashboards "
                    "(credentials: LOOKERSDK_BASE_URL, LOOKERSDK_CLIENT_ID, LOOKERSDK_CLIENT_SECRET)")
    sub = parser.add_subparsers(dest="action", required=True)
    for action, text in (("deploy", "validate, then create or update the dashboards"),
                         ("validate", "only run the instance's LookML validator")):
        p = sub.add_parser(action, help=text)
        p.add_argument("--project", default="callmood", help="LookML project id on the instance")
        if action == "deploy":
            p.add_argument("--folder", required=True, help="id of the folder the dashboards go into")
        p.add_argument("--lookml-dir", default=str(LOOKML_DIR), help="folder holding the *.dashboard.lookml files")
    args = parser.parse_args(argv)
    from looker_sdk.error import SDKError

    try:
        result = deploy(args.project, getattr(args, "folder", ""), Path(args.lookml_dir),
                        validate_only=args.action == "validate")
    except SDKError as exc:
        message = str(getattr(exc, "message", "") or exc).strip()
        print(f"callmood looker: {message}\n(set LOOKERSDK_BASE_URL, LOOKERSDK_CLIENT_ID and "
              "LOOKERSDK_CLIENT_SECRET for the Looker instance)", file=sys.stderr)
        return 1
    for problem in result.validation_errors:
        print(f"LookML validation: {problem}")
    if not result.ok:
        print(f"callmood looker: project {args.project!r} has LookML errors; no dashboard was changed")
        return 1
    print(f"callmood looker: project {args.project!r} validates")
    for written in result.dashboards:
        print(f"{written['action']} dashboard {written['title']!r} (id {written['id']}) in folder {args.folder}")
    return 0
