"""Two sidecars that claim one call_id: neither recording is trusted to be that call.

A call_id names one call everywhere downstream (the dashboards' "listen" link,
a supervisor's note, a join to the telephony system). When two recordings'
sidecars give the same one (a recorder that reused an id, a copy left beside the
original, a re-export under a new name), writing both would make two calls look
like one, and keeping either would be a guess. So every recording of the run
whose sidecar claims a contested call_id becomes an errors row (stage `sidecar`),
and each row carries the call_id, so the rivals are found together.

Only ids a sidecar states are compared: without a sidecar the call_id is the
file name, and the same name in two nights' folders (a PBX that restarts its
counter every day) is not a conflict the recorder declared. The check is within
one run's input.

`ContestedCallIds` reads each recording's sidecar once more (a few hundred bytes)
in a branch of the pipeline and gives the contested ids as a side input, so that
`PrepareRecording` can refuse those calls before decoding them, on any runner.
"""
from __future__ import annotations

import collections
import json
from typing import Iterable, Mapping

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from beam_pipeline.records import StageError
from beam_pipeline.sources.recordings import sidecar_candidates
from beam_pipeline.sources.text import is_valid_text

_MAX_SIDECAR_BYTES = 1 << 20     # an id is a few bytes; what is larger is not read twice here


def sidecar_call_id(recording_path: str) -> str | None:
    """The call_id the recording's sidecar states, or None (no sidecar, no call_id, or a sidecar in error).

    A sidecar that cannot be read or parsed is not a claim: `read_identity` files
    it as its own error.
    """
    for candidate in sidecar_candidates(recording_path):
        try:
            if not FileSystems.exists(candidate):
                continue
            with FileSystems.open(candidate) as handle:
                raw = json.loads(handle.read(_MAX_SIDECAR_BYTES).decode("utf-8"))
        except Exception:  # noqa: BLE001 - any failure here is reported by read_identity, not here
            return None
        call_id = raw.get("call_id") if isinstance(raw, dict) else None
        # Not valid text (a lone surrogate): no claim, and read_identity files the sidecar as an error.
        return call_id if isinstance(call_id, str) and call_id and is_valid_text(call_id) else None
    return None


def contested(claims: Iterable[tuple[str, str]]) -> dict[str, int]:
    """{call_id: how many recordings claim it} for the ids that more than one recording's sidecar states."""
    holders: dict[str, set[str]] = collections.defaultdict(set)
    for call_id, recording_uri in claims:
        holders[call_id].add(recording_uri)
    return {call_id: len(uris) for call_id, uris in holders.items() if len(uris) > 1}


def contested_error(recording_uri: str, contested_ids: Mapping[str, int]) -> StageError | None:
    """The error for a recording whose sidecar's call_id another recording of the run also claims.

    The reason does not quote the id (it may be personal data, and the row's
    call_id column holds it already).
    """
    if not contested_ids:          # the usual night: no sidecar is read a third time (an HTTP GET on gs://)
        return None
    # Claims are compared as the sidecars state them: the identity's call_id may be pseudonymised.
    claimed = sidecar_call_id(recording_uri)
    n_claims = contested_ids.get(claimed, 0) if claimed is not None else 0
    if n_claims < 2:
        return None
    return StageError("sidecar", f"{n_claims} recordings in this run have sidecars claiming the same call_id; "
                                 f"none of them is written (find them by this row's call_id)")


class ContestedCallIds(beam.PTransform):
    """Recording metadata -> one dict {call_id: n_claims}, for `beam.pvalue.AsSingleton`."""

    def expand(self, metadata):
        return (
            metadata
            | "SidecarCallIds" >> beam.FlatMap(lambda m: [(cid, m.path)] if (cid := sidecar_call_id(m.path)) else [])
            | "AllClaims" >> beam.combiners.ToList()
            | "KeepContested" >> beam.Map(contested)
        )
