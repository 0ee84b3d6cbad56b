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

from beam_pipeline.records import StageError
from beam_pipeline.sources.pseudonyms import CallerIdHasher, PhoneNumberPseudonymiser, has_phone_number
from beam_pipeline.sources.text import is_valid_text, printable

_DATE_IN_PATH = re.compile(r"(20\d\d)[-/_]?(0[1-9]|1[0-2])[-/_]?(0[1-9]|[12]\d|3[01])")
AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".mp4", ".aac")
# Limits on what a sidecar may hold: a sidecar is a few hundred bytes of ids; anything far bigger is
# a mistake (or an attack) that would otherwise be copied into the call row and every turn row.
MAX_SIDECAR_BYTES = 64 * 1024
MAX_ID_CHARS = 256             # call_id, agent_id, queue, caller_id
MAX_STARTED_AT_CHARS = 64      # the longest ISO 8601 timestamp is ~35 characters
MAX_CHANNELS = 16


class SidecarError(ValueError):
    """A sidecar that exists but cannot be trusted: the call is rejected rather than mislabelled.

    `read_identity` sets `recording_uri` (the stored path) before it lets one go,
    so the errors row it becomes is keyed like the recording's other rows.
    """

    recording_uri: str | None = None


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
    recording_uri: str = ""                         # the path as stored: phone-number-like runs pseudonymised


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


def _json_type(value: object) -> str:
    """A value's JSON type name, for reasons that say what was wrong without quoting it."""
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number",
            type(None): "null"}.get(type(value), type(value).__name__)


def _checked_text(name: str, value: str, max_chars: int) -> str:
    """A sidecar string that is valid Unicode and not too long; else SidecarError naming the field, not its value."""
    if not is_valid_text(value):
        raise SidecarError(f"{name} is not valid Unicode text (it holds a lone surrogate escape)")
    if len(value) > max_chars:
        raise SidecarError(f"{name} is {len(value):,} characters long, more than the {max_chars} allowed")
    return value


def _id_field(raw: dict, name: str, allow_number: bool) -> str:
    """A sidecar id (agent_id, queue, call_id) as text: strings as they are, whole numbers only where allowed.

    Explicit rather than ``str(value)``: a list, object, boolean or fraction is a
    recorder writing the wrong thing, and is refused instead of stored as its
    Python spelling.
    """
    value = raw.get(name)
    if value is None or value == "":
        return ""
    if allow_number and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        kind = "a string or a whole number" if allow_number else "a string"
        raise SidecarError(f"{name} must be {kind}, got a JSON {_json_type(value)}")
    return _checked_text(name, value, MAX_ID_CHARS)


def _parse_started_at(value: object) -> dt.datetime:
    """Never quotes the value in the reason: it is free text from a recorder and may hold anything."""
    if not isinstance(value, str):
        raise SidecarError(f"started_at must be an ISO 8601 string, got a JSON {_json_type(value)}")
    _checked_text("started_at", value, MAX_STARTED_AT_CHARS)
    try:
        started = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SidecarError("started_at is not an ISO 8601 date and time "
                           "(like 2026-11-23T08:14:07+00:00)") from exc
    return started if started.tzinfo else started.replace(tzinfo=dt.timezone.utc)


def _parse_channels(value: object) -> dict[int, str]:
    """Never quotes keys or roles in the reason, for the same reason as started_at."""
    if not isinstance(value, dict) or not value:
        raise SidecarError("channels must be a non-empty object like {\"0\": \"agent\", \"1\": \"customer\"}, "
                           f"got a JSON {_json_type(value)}")
    if len(value) > MAX_CHANNELS:
        raise SidecarError(f"channels maps {len(value)} channels, more than the {MAX_CHANNELS} allowed")
    if not all(isinstance(k, str) and k.strip().isdigit() and len(k) <= 3 for k in value):
        raise SidecarError("channels keys must be channel numbers (\"0\", \"1\")")
    if not all(v in ("agent", "customer") for v in value.values()):
        raise SidecarError("channels roles must be agent or customer")
    mapping = {int(k): v for k, v in value.items()}
    if len(set(mapping.values())) != len(mapping):
        raise SidecarError("channels map two channels to the same role")
    return mapping


def _caller_id_hash(raw: dict, hash_caller_id: Callable[[str], str | None] | None) -> str | None:
    """The sidecar's caller_id as its pseudonym; the raw id goes no further than this function."""
    caller_id = raw.get("caller_id")
    if caller_id is None or caller_id == "":
        return None
    if isinstance(caller_id, bool) or not isinstance(caller_id, (str, int)):
        # the reason goes to the errors table: never quote the value, it is personal data
        raise SidecarError(f"caller_id must be a string, got a JSON {type(caller_id).__name__}")
    caller_id = _checked_text("caller_id", str(caller_id), MAX_ID_CHARS)
    return hash_caller_id(caller_id) if hash_caller_id is not None else None


def _pseudonymiser(hash_caller_id: Callable[[str], str | None] | None) -> PhoneNumberPseudonymiser:
    """Phone numbers in names are keyed with the caller-id salt; anything else than a CallerIdHasher redacts them."""
    return PhoneNumberPseudonymiser(hash_caller_id if isinstance(hash_caller_id, CallerIdHasher) else None)


def stored_recording_uri(recording_path: str, pseudonymise: PhoneNumberPseudonymiser) -> str:
    """The path as every table stores it: printable, phone-number-like runs pseudonymised.

    Deterministic for the same path and salt, so it stays the key sinks replace
    rows by and re-runs skip by. Without a salt the runs are redacted, which is
    not unique: `read_identity` refuses such recordings rather than key them by it.
    """
    return pseudonymise(printable(recording_path))


def parse_sidecar(text: str, recording_path: str, fallback_date: dt.date,
                  hash_caller_id: Callable[[str], str | None] | None = None) -> CallIdentity:
    """A CallIdentity from sidecar JSON text; raises SidecarError with a reason for the errors table.

    `hash_caller_id` turns a caller_id into its pseudonym (`privacy.CallerIdHasher`);
    without it a caller_id is dropped. Fields other than the documented ones are
    never read, so whatever else a recorder puts in a sidecar (numbers, notes,
    transcripts) cannot reach a row. The ids that are read have phone-number-like
    digit runs pseudonymised with the same key (redacted without one), are valid
    Unicode and at most MAX_ID_CHARS long. Reasons name the field and what was
    wrong with it, never its value.
    """
    pseudonymise = _pseudonymiser(hash_caller_id)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SidecarError(f"sidecar is not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(raw, dict):
        raise SidecarError("sidecar must be a JSON object")
    started_at = _parse_started_at(raw["started_at"]) if raw.get("started_at") is not None else None
    channel_map = _parse_channels(raw["channels"]) if raw.get("channels") is not None else None
    call_id = _id_field(raw, "call_id", allow_number=False) or call_id_from_path(printable(recording_path))
    return CallIdentity(
        call_id=pseudonymise(call_id),
        call_date=started_at.date() if started_at else (call_date_from_path(recording_path) or fallback_date),
        agent_id=pseudonymise(_id_field(raw, "agent_id", allow_number=True)),
        queue=pseudonymise(_id_field(raw, "queue", allow_number=True)),
        started_at=started_at,
        channel_map=channel_map,
        caller_id_hash=_caller_id_hash(raw, hash_caller_id),
        recording_uri=stored_recording_uri(recording_path, pseudonymise),
    )


def _check_path(recording_path: str, pseudonymise: PhoneNumberPseudonymiser, refuse_unkeyed: bool) -> None:
    """StageError("read") for a path no row may carry: not UTF-8, or holding a number there is no key for."""
    stored = stored_recording_uri(recording_path, pseudonymise)
    if not is_valid_text(recording_path):
        raise StageError("read", f"the file name is not valid UTF-8 (undecodable bytes shown as \\xNN): {stored}",
                         recording_uri=stored)
    if refuse_unkeyed and not pseudonymise.enabled and has_phone_number(recording_path):
        raise StageError("read", "the path holds a phone-number-like digit run and no caller-id salt is set, "
                                 "so it cannot be pseudonymised into a unique key; set the salt "
                                 "(--caller-id-salt-source, see README: Privacy) and re-run to process it",
                         recording_uri=stored)


def _read_sidecar_text(candidate: str) -> str:
    """The sidecar's text, read no further than MAX_SIDECAR_BYTES + 1: a huge file is refused before parsing."""
    try:
        with FileSystems.open(candidate) as handle:
            data = handle.read(MAX_SIDECAR_BYTES + 1)
    except (OSError, BeamIOError) as exc:   # present but unreadable: the call must not go unlabelled
        raise SidecarError(f"sidecar could not be read: {_os_reason(exc)}") from exc
    if len(data) > MAX_SIDECAR_BYTES:
        raise SidecarError(f"sidecar is larger than {MAX_SIDECAR_BYTES // 1024} KiB: not a sidecar of ids")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SidecarError("sidecar is not UTF-8 text") from exc


def read_identity(recording_path: str, last_modified_s: float | None,
                  hash_caller_id: Callable[[str], str | None] | None = None,
                  refuse_unkeyed_numbers: bool = True) -> CallIdentity:
    """The call's identity: its sidecar if one exists, else derived from the path.

    Without a sidecar the call date is a date found in the path, else the file's
    modification date: the night the recording was dropped. Raises SidecarError
    for a sidecar that cannot be trusted, and StageError("read") for a path that
    no row may carry (see `_check_path`; `refuse_unkeyed_numbers=False`, for
    `callmood score`, which writes no table, redacts numbers instead).
    """
    pseudonymise = _pseudonymiser(hash_caller_id)
    _check_path(recording_path, pseudonymise, refuse_unkeyed_numbers)
    fallback_date = call_date_from_path(recording_path) or (
        dt.datetime.fromtimestamp(last_modified_s, dt.timezone.utc).date() if last_modified_s
        else dt.datetime.now(dt.timezone.utc).date())
    for candidate in sidecar_candidates(recording_path):
        if is_local_path(candidate) and os.path.islink(candidate) and not os.path.exists(candidate):
            raise SidecarError("sidecar is a symbolic link to nothing")   # no name quoted: it may hold a number
        if FileSystems.exists(candidate):
            try:
                return parse_sidecar(_read_sidecar_text(candidate), recording_path, fallback_date, hash_caller_id)
            except SidecarError as exc:
                exc.recording_uri = stored_recording_uri(recording_path, pseudonymise)
                raise
    return CallIdentity(call_id=pseudonymise(call_id_from_path(recording_path)), call_date=fallback_date,
                        recording_uri=stored_recording_uri(recording_path, pseudonymise))


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
