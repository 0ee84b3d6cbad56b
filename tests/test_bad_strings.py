"""Strings no row may carry (lone surrogates, non-UTF-8 names) and sidecars of any size never stop a night.

Each bad recording becomes one errors row that says what was wrong without
echoing the bad value, beside a good call that is written, on DuckDB and on the
BigQuery emulator.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest
import soundfile as sf

from beam_pipeline.options import CallmoodOptions
from beam_pipeline.pipeline import run
from beam_pipeline.sources.recordings import MAX_SIDECAR_BYTES
from beam_pipeline.sources.text import MAX_REASON_CHARS, capped, printable

REPO = Path(__file__).resolve().parents[1]
DEMO_CALL = REPO / "examples" / "calls" / "call_0003.flac"
NOT_UTF8_NAME = b"caf\xe9-\xff.flac"          # Latin-1 bytes: what an old recorder writes
HUGE_CHARS = 10 * 1024 * 1024


def _strings_night(folder: Path, with_sizes: bool) -> None:
    """A good call, a sidecar with a lone surrogate, a non-UTF-8 file name and (optionally) oversized sidecars."""
    speech, rate_hz = sf.read(DEMO_CALL, dtype="float32")
    sf.write(folder / "good.flac", speech[: 20 * rate_hz], rate_hz)
    good = (folder / "good.flac").read_bytes()
    (folder / "surrogate.flac").write_bytes(good)
    (folder / "surrogate.json").write_text(json.dumps({"call_id": "X\ud800Y"}))   # valid JSON: "X\\ud800Y"
    with open(os.path.join(os.fsencode(folder), NOT_UTF8_NAME), "wb") as handle:
        handle.write(good)
    if not with_sizes:
        return
    sidecars = {
        "huge_sidecar": json.dumps({"call_id": "h", "notes": "x" * HUGE_CHARS}),
        "long_agent": json.dumps({"agent_id": "A" * 1000}),
        "long_started_at": json.dumps({"started_at": "2026-11-23T08:00:00" + "9" * 5000}),
        "list_agent": json.dumps({"agent_id": ["A1", "A2"]}),
        "float_queue": json.dumps({"queue": 1.5}),
    }
    for stem, text in sidecars.items():
        (folder / f"{stem}.flac").write_bytes(good)
        (folder / f"{stem}.json").write_text(text)


def _rows(con, sql: str) -> dict:
    return {Path(uri).name: rest for uri, *rest in con.execute(sql).fetchall()}


@pytest.fixture(scope="module")
def duckdb_night(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("strings")
    _strings_night(folder, with_sizes=True)
    db = folder.parent / "strings.duckdb"
    summary = run(CallmoodOptions(input=str(folder), output=str(db)))
    with duckdb.connect(str(db), read_only=True) as con:
        errors = _rows(con, "SELECT recording_uri, stage, reason FROM errors")
        calls = _rows(con, "SELECT recording_uri, call_id, agent_id FROM calls")
        longest = con.execute("SELECT max(length(reason)) FROM errors").fetchone()[0]
    return {"summary": summary, "errors": errors, "calls": calls, "longest_reason": longest}


def test_a_lone_surrogate_in_a_sidecar_is_an_error_row_and_the_night_is_written(duckdb_night):
    stage, reason = duckdb_night["errors"]["surrogate.flac"]
    assert stage == "sidecar" and "call_id is not valid Unicode" in reason
    assert "good.flac" in duckdb_night["calls"]


def test_a_file_name_that_is_not_utf8_is_a_read_error_shown_with_escapes(duckdb_night):
    escaped = "caf\\xe9-\\xff.flac"
    stage, reason = duckdb_night["errors"][escaped]                 # the stored uri is the escaped name too
    assert stage == "read" and "not valid UTF-8" in reason and reason.endswith(escaped)


@pytest.mark.parametrize("name, words", [
    ("huge_sidecar.flac", f"larger than {MAX_SIDECAR_BYTES // 1024} KiB"),
    ("long_agent.flac", "agent_id is 1,000 characters long, more than the 256 allowed"),
    ("long_started_at.flac", "started_at is 5,019 characters long"),
    ("list_agent.flac", "agent_id must be a string or a whole number, got a JSON array"),
    ("float_queue.flac", "queue must be a string or a whole number, got a JSON number"),
])
def test_oversized_and_mistyped_sidecar_fields_are_error_rows_that_do_not_echo_them(duckdb_night, name, words):
    stage, reason = duckdb_night["errors"][name]
    assert stage == "sidecar" and words in reason
    assert "AAAA" not in reason and "9999" not in reason and "A1" not in reason


def test_every_reason_is_capped_and_the_counts_add_up(duckdb_night):
    assert duckdb_night["longest_reason"] <= MAX_REASON_CHARS
    summary = duckdb_night["summary"]
    assert (summary.calls_ok, summary.calls_failed) == (1, 7)


def test_reasons_are_capped_and_surrogates_shown_as_escapes():
    assert len(capped("x" * HUGE_CHARS)) <= MAX_REASON_CHARS and capped("short") == "short"
    assert "more characters cut" in capped("x" * 1000)
    assert printable(NOT_UTF8_NAME.decode("utf-8", "surrogateescape")) == "caf\\xe9-\\xff.flac"
    assert printable("X\ud800Y") == "X\\ud800Y" and printable("Zoë") == "Zoë"


def test_the_same_night_on_bigquery_is_written_with_the_bad_strings_as_error_rows(bq_dataset, tmp_path):
    from beam_pipeline.warehouse.bigquery_sink import BigQuerySink

    _strings_night(tmp_path, with_sizes=False)
    summary = run(CallmoodOptions(input=str(tmp_path), output=f"bq://{bq_dataset}"))
    sink = BigQuerySink(*bq_dataset.split("."))
    errors = {Path(r["recording_uri"]).name: (r["stage"], r["reason"]) for r in sink.query(
        f"SELECT recording_uri, stage, reason FROM `{bq_dataset}.errors`")}
    calls = [Path(r["recording_uri"]).name for r in sink.query(f"SELECT recording_uri FROM `{bq_dataset}.calls`")]
    assert calls == ["good.flac"] and (summary.calls_ok, summary.calls_failed) == (1, 2)
    assert errors["surrogate.flac"][0] == "sidecar" and errors["caf\\xe9-\\xff.flac"][0] == "read"
