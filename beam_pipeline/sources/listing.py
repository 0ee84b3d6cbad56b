"""Which recordings a night holds, with every one that cannot be reached said out loud.

Beam's MatchFiles on a local folder ("folder/**") is a glob: it does not go into
symlinked subfolders, skips a subfolder it may not list, and drops a symlink whose
target is gone, all without a word. On a contact-centre file server those are
ordinary (a day's folder linked in from another volume, a folder left with the
wrong owner, a recording moved after its link was made), and a recording that is
skipped silently is a call that never reaches the warehouse and a night that looks
complete. So a local folder is listed here instead: symlinked folders are followed
(each real folder once, so a link back up the tree cannot loop), and every
recording or folder that cannot be reached becomes a `ListingProblem`, which the
job files as an errors row under stage `match`. gs:// inputs stay with MatchFiles:
object stores have no folders, links or per-folder permissions.

`check_input` is the run-level check: an `--input` folder (or a glob's folder)
that does not exist is a missing night, and must stop the run with a clear error
before anything is read, rather than report "0 recordings" as a quiet night would.
"""
from __future__ import annotations

import dataclasses
import glob
import logging
import os
import stat
from pathlib import Path

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import FileMetadata

from beam_pipeline.sources.recordings import is_local_path, is_recording, local_folder, recording_pattern

LOG = logging.getLogger(__name__)
MATCH_STAGE = "match"


class InputError(ValueError):
    """The run's --input cannot be a night's recordings: stop before anything is read."""


@dataclasses.dataclass(frozen=True)
class ListingProblem:
    """A recording (or a folder of them) that the listing saw but cannot hand to the job."""

    path: str
    reason: str


@dataclasses.dataclass(frozen=True)
class LocalListing:
    recordings: tuple[FileMetadata, ...]
    problems: tuple[ListingProblem, ...]


def check_input(input_path: str) -> None:
    """Raise InputError when --input names a folder, prefix or file that holds nothing at all.

    A glob whose folder holds files but matches none of them is a night with no
    recordings of that kind, which is not an error; a folder or prefix that is
    not there (a mistyped date, a missing drop) is, and must not pass as a quiet
    night.
    """
    if not is_local_path(input_path):
        _check_remote_input(input_path)
        return
    if not glob.has_magic(input_path):
        if os.path.isdir(input_path):
            return
        if os.path.isfile(input_path):
            return
        problem = "is a symbolic link to nothing" if os.path.islink(input_path) else "does not exist"
        raise InputError(f"input {input_path} {problem}: no recordings were read")
    folder = _fixed_prefix(input_path)
    if not os.path.isdir(folder):
        raise InputError(f"input {input_path}: folder {folder} does not exist: no recordings were read")


def _check_remote_input(input_path: str) -> None:
    """The gs:// (or other Beam filesystem) side of `check_input`: one listing call of at most one object.

    Object stores have no folders, so "is there a folder" becomes "is anything
    stored under this prefix"; a path without a trailing slash is a single object,
    as MatchFiles reads it.
    """
    from apache_beam.io.filesystem import BeamIOError
    from apache_beam.io.filesystems import FileSystems

    if glob.has_magic(input_path):
        head = input_path[:min(input_path.find(c) for c in "*?[" if c in input_path)]
        folder = head[:head.rfind("/") + 1]
        pattern, problem = folder + "**", f"nothing is stored under {folder}"
    elif input_path.endswith("/"):
        pattern, problem = recording_pattern(input_path), "nothing is stored under it"
    else:
        pattern, problem = input_path, "no such object (a folder prefix ends with /)"
    try:
        found = FileSystems.match([pattern], limits=[1])[0].metadata_list
    except BeamIOError as exc:
        raise InputError(f"input {input_path} cannot be listed: {exc}") from exc
    if not found:
        raise InputError(f"input {input_path}: {problem}: no recordings were read")


def _fixed_prefix(pattern: str) -> str:
    """The folder part of a glob before its first wildcard ('/rec/2026-11-*/x.wav' -> '/rec')."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return str(Path(*fixed)) if fixed else "."


def list_local_folder(folder: str) -> LocalListing:
    """Every recording below `folder`, following symlinked folders, and what could not be reached.

    Paths are under `folder` resolved (as MatchFiles on "folder/**" gave them), a
    recording reached through a symlinked folder keeps the link's path, and files
    are sorted so that the same folder always lists the same way. A real folder
    reached twice (a link to a sibling, or back up the tree) is listed the first
    time only, so no recording is processed twice in one night.
    """
    root = str(Path(folder).resolve())
    recordings: list[FileMetadata] = []
    problems: list[ListingProblem] = []
    seen_folders: set[tuple[int, int]] = set()

    def unlistable(error: OSError) -> None:
        problems.append(ListingProblem(str(error.filename), f"folder could not be listed ({_strerror(error)}): "
                                                            f"recordings in it, if any, were not read"))

    for here, folders, files in os.walk(root, onerror=unlistable, followlinks=True):
        try:
            identity = os.stat(here)
        except OSError as error:
            unlistable(error)
            folders[:] = []
            continue
        key = (identity.st_dev, identity.st_ino)
        if key in seen_folders:
            LOG.warning("%s is a folder already listed under another path (a symbolic link): listed once", here)
            folders[:] = []
            continue
        seen_folders.add(key)
        folders.sort()
        for name in sorted(files):
            found = _recording_or_problem(os.path.join(here, name))
            if isinstance(found, ListingProblem):
                problems.append(found)
            elif found is not None:
                recordings.append(found)
    return LocalListing(recordings=tuple(recordings), problems=tuple(problems))


def _recording_or_problem(path: str) -> FileMetadata | ListingProblem | None:
    """A recording's metadata, a problem if it (or a link that may be a folder) cannot be reached, else None."""
    is_link = os.path.islink(path)
    if not is_recording(path) and not (is_link and _may_be_folder(path)):
        return None
    try:
        status = os.stat(path)          # follows the link
    except OSError as error:
        if not is_link:
            return ListingProblem(path, f"could not be read ({_strerror(error)})")
        what = "recording" if is_recording(path) else "folder"
        if error.errno == getattr(os, "ELOOP", 40):
            return ListingProblem(path, f"{what} is a symbolic link loop: nothing was read")
        # the target is not quoted: a path can hold a phone number, and the reason reaches the warehouse
        return ListingProblem(path, f"{what} is a symbolic link whose target does not exist: nothing was read")
    if not is_recording(path):
        return None                     # a link to something that exists but is not a folder os.walk entered
    if not stat.S_ISREG(status.st_mode):
        return ListingProblem(path, "recording is not a regular file (a device, pipe or socket): nothing was read")
    return FileMetadata(path, status.st_size, status.st_mtime)


def _may_be_folder(path: str) -> bool:
    """A dangling link named like a folder (no extension) may have held a night's recordings."""
    return os.path.splitext(path)[1] == ""


def _strerror(error: OSError) -> str:
    return error.strerror or type(error).__name__


class MatchRecordings(beam.PTransform):
    """The night's files as FileMetadata (``recordings``) and what could not be reached (``problems``).

    A local folder is listed by `list_local_folder`, at graph construction, in
    the process that launches the run (the in-process runner's workers see the
    same disk); anything else (gs://, a glob) goes through MatchFiles as before,
    with no problems to report.
    """

    def __init__(self, input_path: str):
        super().__init__()
        self._input = input_path

    def expand(self, pbegin):
        folder = local_folder(self._input)
        if folder is None:
            recordings = pbegin | "MatchFiles" >> fileio.MatchFiles(recording_pattern(self._input),
                                                                    empty_match_treatment="ALLOW")
            problems = pbegin | "NothingUnreachable" >> beam.Create([])
        else:
            listing = list_local_folder(str(folder))
            for problem in listing.problems:
                LOG.warning("%s: %s", problem.path, problem.reason)
            recordings = pbegin | "ListFolder" >> beam.Create(listing.recordings)
            problems = pbegin | "UnreachableFiles" >> beam.Create(listing.problems)
        return {"recordings": recordings, "problems": problems}
