"""Where recordings come from: file patterns, sidecar JSON, and the identity of each call.

Paths go through Beam's FileSystems, so a local folder and gs:// work alike and
nothing here knows which one it is reading.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import posixpath
import re
from pathlib import Path
from typing import Callable, Mapping

from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems

_DATE_IN_PATH = re.compile(r"(20\d\d)[-/_]?(0[1-9]|1[0-2])[-/_]?(0[1-9]|[12]\d|3[01])")
AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".mp4", ".aac")


class SidecarError(ValueError):
    """A sidecar that exists but cannot be trusted: the call is rejected rather than mislabelled."""


@dataclasses.dataclass(frozen=True)
class CallIdentity:
    """Who and when a recording is, from its sidecar or, failing that, its path."""

    call_id: str
    call_date: dt.date
    agent_id: str = ""
    queue: str = ""
    started_at: dt.datetime | None = None
    channel_map: Mapping[int, str] | None = None   # None: use the run's default
    caller_id_hash: str | None = None               # pseudonym of the sidecar caller_id (beam_pipeline.sources.pseudonyms)


def recording_pattern(input_path: str) -> str:
    """A glob for Beam's MatchFiles: a folder means every file below it."""
    folder = local_folder(input_path)
    if folder is not None:
        return str(folder.resolve() / "**")
    if input_path.endswith("/"):
        return input_path + "**"
    return input_path


def is_recording(path: str) -> bool:
    return posixpath.splitext(path.lower())[1] in AUDIO_EXTENSIONS


def sidecar_candidates(recording_path: str) -> tuple[str, str]:
    """`call.json` beside `call.wav`, or `call.wav.json`."""
    stem, _ = posixpath.splitext(recording_path)
    return stem + ".json", recording_path + ".json"


def call_id_from_path(recording_path: str) -> str:
    return posixpath.splitext(posixpath.basename(recording_path))[0]


def call_date_from_path(recording_path: str) -> dt.date | None:
    """A date in the path (gs://calls/2026-11-23/x.wav), as nightly drops are usually laid out."""
    match = _DATE_IN_PATH.search(recording_path)
    if not match:
        return None
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def _parse_started_at(value: object) -> dt.datetime:
    if not isinstance(value, str):
        raise SidecarError(f"started_at must be an ISO 8601 string, got {value!r}")
    try:
        started = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SidecarError(f"started_at {value!r} is not ISO 8601") from exc
    return started if started.tzinfo else started.replace(tzinfo=dt.timezone.utc)


def _parse_channels(value: object) -> dict[int, str]:
    if not isinstance(value, dict) or not value:
        raise SidecarError(f"channels must be an object like {{\"0\": \"agent\", \"1\": \"customer\"}}, got {value!r}")
    try:
        mapping = {int(k): str(v) for k, v in value.items()}
    except (TypeError, ValueError) as exc:
        raise SidecarError(f"channels keys must be channel numbers, got {sorted(value)}") from exc
    bad = sorted({v for v in mapping.values()} - {"agent", "customer"})
    if bad:
        raise SidecarError(f"channels roles must be agent or customer, got {bad}")
    if len(set(mapping.values())) != len(mapping):
        raise SidecarError(f"channels map two channels to the same role: {value}")
    return mapping


def _caller_id_hash(raw: dict, hash_caller_id: Callable[[str], str | None] | None) -> str | None:
    """The sidecar's caller_id as its pseudonym; the raw id goes no further than this function."""
    caller_id = raw.get("caller_id")
    if caller_id is None or caller_id == "":
        return None
    if isinstance(caller_id, bool) or not isinstance(caller_id, (str, int)):
        # the reason goes to the errors table: never quote the value, it is personal data
        raise SidecarError(f"caller_id must be a string, got a JSON {type(caller_id).__name__}")
    return hash_caller_id(str(caller_id)) if hash_caller_id is not None else None


def parse_sidecar(text: str, recording_path: str, fallback_date: dt.date,
                  hash_caller_id: Callable[[str], str | None] | None = None) -> CallIdentity:
    """A CallIdentity from sidecar JSON text; raises SidecarError with a reason for the errors table.

    `hash_caller_id` turns a caller_id into its pseudonym (`privacy.CallerIdHasher`);
    without it a caller_id is dropped. Fields other than the documented ones are
    never read, so whatever else a recorder puts in a sidecar (numbers, notes,
    transcripts) cannot reach a row.
    """
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SidecarError(f"sidecar is not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(raw, dict):
        raise SidecarError("sidecar must be a JSON object")
    started_at = _parse_started_at(raw["started_at"]) if raw.get("started_at") is not None else None
    channel_map = _parse_channels(raw["channels"]) if raw.get("channels") is not None else None
    call_id = raw.get("call_id") or call_id_from_path(recording_path)
    if not isinstance(call_id, str):
        raise SidecarError(f"call_id must be a string, got {call_id!r}")
    return CallIdentity(
        call_id=call_id,
        call_date=started_at.date() if started_at else (call_date_from_path(recording_path) or fallback_date),
        agent_id=str(raw.get("agent_id") or ""),
        queue=str(raw.get("queue") or ""),
        started_at=started_at,
        channel_map=channel_map,
        caller_id_hash=_caller_id_hash(raw, hash_caller_id),
    )


def read_identity(recording_path: str, last_modified_s: float | None,
                  hash_caller_id: Callable[[str], str | None] | None = None) -> CallIdentity:
    """The call's identity: its sidecar if one exists, else derived from the path.

    Without a sidecar the call date is a date found in the path, else the file's
    modification date: the night the recording was dropped.
    """
    fallback_date = call_date_from_path(recording_path) or (
        dt.datetime.fromtimestamp(last_modified_s, dt.timezone.utc).date() if last_modified_s
        else dt.datetime.now(dt.timezone.utc).date())
    for candidate in sidecar_candidates(recording_path):
        if is_local_path(candidate) and os.path.islink(candidate) and not os.path.exists(candidate):
            raise SidecarError("sidecar is a symbolic link to nothing")   # no name quoted: it may hold a number
        if FileSystems.exists(candidate):
            try:
                with FileSystems.open(candidate) as handle:
                    data = handle.read()
            except (OSError, BeamIOError) as exc:   # present but unreadable: the call must not go unlabelled
                raise SidecarError(f"sidecar could not be read: {_os_reason(exc)}") from exc
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise SidecarError("sidecar is not UTF-8 text") from exc
            return parse_sidecar(text, recording_path, fallback_date, hash_caller_id)
    return CallIdentity(call_id=call_id_from_path(recording_path), call_date=fallback_date)


def _os_reason(exc: Exception) -> str:
    """"Permission denied" rather than a library's wrapped message with the full path in it."""
    for error in (exc, exc.__cause__, exc.__context__, *getattr(exc, "exception_details", {}).values()):
        if isinstance(error, OSError) and error.strerror:
            return error.strerror
    return type(exc).__name__


def is_local_path(path: str) -> bool:
    return "://" not in path


def local_folder(path: str) -> Path | None:
    return Path(path) if is_local_path(path) and Path(path).is_dir() else None
