"""Privacy: caller ids become keyed pseudonyms before any row exists, and nothing personal reaches a table.

The end-to-end check plants phone numbers, a transcript and a malformed caller id
in real sidecars, runs the real command line with a salt in the environment, and
scans every value of every table and view of the resulting DuckDB file.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from beam_pipeline.sources import pseudonyms as privacy
from beam_pipeline.sources.pseudonyms import CallerIdHasher, check_salt_source, normalise_caller_id
from beam_pipeline.sources.recordings import SidecarError, parse_sidecar
from sql.schema import TABLES, columns

REPO = Path(__file__).resolve().parents[1]
CALLS = REPO / "examples" / "calls"
SALT = "test-salt-" + "5f0c1d9a7b3e4c2d8e6f"      # built at run time: not a literal secret in the repository
DAY = dt.date(2026, 11, 23)


@pytest.fixture
def salted(monkeypatch) -> CallerIdHasher:
    monkeypatch.setenv(privacy.SALT_ENV, SALT)
    return CallerIdHasher()


def test_the_pseudonym_is_a_truncated_hmac_of_the_normalised_id(salted):
    expected = hmac.new(SALT.encode(), b"+442079460958", hashlib.sha256).hexdigest()[:32]
    assert salted("+44 20 7946 0958") == salted("+44-20-7946-0958") == salted("(+44) 2079460958") == expected
    assert re.fullmatch(r"[0-9a-f]{32}", expected)
    assert salted("CUST-0042") == salted("cust0042") != salted("CUST-0043")
    assert salted("   ") is None


def test_another_salt_unlinks_every_pseudonym(monkeypatch, salted):
    before = salted("+442079460958")
    monkeypatch.setenv("OTHER_SALT", "another-salt-of-enough-length")
    assert CallerIdHasher("env:OTHER_SALT")("+442079460958") != before


def test_without_a_salt_caller_ids_are_dropped(monkeypatch, caplog):
    monkeypatch.delenv(privacy.SALT_ENV, raising=False)
    hasher = CallerIdHasher()
    assert hasher("+442079460958") is None and not hasher.enabled
    assert "dropped" in caplog.text


def test_a_short_salt_is_refused_without_showing_it(monkeypatch):
    monkeypatch.setenv(privacy.SALT_ENV, "abc123")
    with pytest.raises(ValueError, match="shorter than 16") as caught:
        CallerIdHasher().enabled
    assert "abc123" not in str(caught.value)


def test_the_salt_is_neither_pickled_nor_shown(salted):
    assert salted.enabled
    assert SALT.encode() not in pickle.dumps(salted) and SALT not in repr(salted)
    copy = pickle.loads(pickle.dumps(salted))
    assert copy("+442079460958") == salted("+442079460958")     # re-read in the new process


def test_a_secret_manager_salt_is_read_from_the_named_version(monkeypatch):
    from google.cloud import secretmanager

    asked = []

    class FakeClient:
        def access_secret_version(self, name):
            asked.append(name)
            payload = type("Payload", (), {"data": SALT.encode()})()
            return type("Response", (), {"payload": payload})()

    monkeypatch.setattr(secretmanager, "SecretManagerServiceClient", FakeClient)
    source = "secret:projects/p/secrets/callmood-caller-salt/versions/3"
    monkeypatch.setenv(privacy.SALT_ENV, SALT)
    assert CallerIdHasher(source)("+442079460958") == CallerIdHasher()("+442079460958")
    assert asked == ["projects/p/secrets/callmood-caller-salt/versions/3"]


@pytest.mark.parametrize("bad", ["CALLMOOD_CALLER_ID_SALT", "env:", "env:1X", "secret:my-secret",
                                 "secret:projects/p/secrets/s", "file:/etc/salt"])
def test_salt_sources_are_a_variable_or_a_secret_version(bad):
    with pytest.raises(ValueError):
        check_salt_source(bad)
    assert check_salt_source("env:MY_SALT") == "env:MY_SALT"


def test_sidecars_carry_the_pseudonym_and_nothing_else_of_the_caller(salted):
    text = json.dumps({"call_id": "CM-1", "caller_id": "+44 20 7946 0958", "ani": "+442079460958",
                       "transcript": "my card number is ...", "started_at": "2026-11-23T08:00:00Z"})
    identity = parse_sidecar(text, "/x/a.wav", DAY, salted)
    assert identity.caller_id_hash == salted("+442079460958")
    assert "0958" not in repr(identity) and "card" not in repr(identity)
    assert parse_sidecar(json.dumps({"caller_id": 442079460958}), "/x/a.wav", DAY, salted).caller_id_hash == \
        salted("442079460958")
    assert parse_sidecar(text, "/x/a.wav", DAY, None).caller_id_hash is None
    with pytest.raises(SidecarError) as caught:
        parse_sidecar(json.dumps({"caller_id": {"number": "+33 1 23 45 67 89"}}), "/x/a.wav", DAY, salted)
    assert "45 67" not in str(caught.value)


def test_no_table_can_hold_audio_transcripts_or_raw_caller_ids():
    for table in TABLES:
        for column in columns(table):
            assert column.bigquery_type in {"STRING", "INT64", "FLOAT64", "DATE", "TIMESTAMP", "BOOL"}, column
            if column.bigquery_type == "STRING":          # audio_s (a duration) is fine; audio as text is not
                assert not re.search(r"audio|transcript|text|phone|number|ani$|caller_id$", column.name), column


# ------------------------------------------------------------------------------------------- end to end

PLANTED = {   # recording -> caller_id planted in its sidecar
    "call_0001": "+44 20 7946 0958",
    "call_0002": "0049 (151) 2345-6789",
}
TRANSCRIPT = "Hello, I am calling about invoice 4471 and my number is +1 415 555 0123"
INTERNATIONAL_NUMBER = re.compile(r"(?<![\w.])(?:\+|00)\d[\d ().-]{6,}\d")   # +44 20 ..., 0049 151 ...


@pytest.fixture(scope="module")
def private_night(tmp_path_factory) -> dict:
    night = tmp_path_factory.mktemp("private") / "calls"
    night.mkdir()
    for stem, caller_id in PLANTED.items():
        audio = next(p for p in CALLS.glob(f"{stem}.*") if p.suffix != ".json")
        shutil.copy(audio, night / audio.name)
        sidecar = json.loads((CALLS / f"{stem}.json").read_text())
        sidecar.update(caller_id=caller_id, ani=caller_id.replace(" ", ""), transcript=TRANSCRIPT,
                       customer_phone="+1 415 555 0123")
        (night / f"{stem}.json").write_text(json.dumps(sidecar))
    shutil.copy(CALLS / "call_0003.flac", night / "call_0003.flac")     # a caller id that is not a string
    sidecar = json.loads((CALLS / "call_0003.json").read_text())
    (night / "call_0003.json").write_text(json.dumps({**sidecar, "caller_id": {"number": "+33 1 23 45 67 89"}}))
    db = night.parent / "private.duckdb"
    done = subprocess.run([sys.executable, "-m", "beam_pipeline.cli.main", "run", "--input", str(night), "--output",
                           str(db)], cwd=REPO, capture_output=True, text=True, timeout=900,
                          env={**os.environ, privacy.SALT_ENV: SALT})
    assert done.returncode == 0, done.stderr[-3000:]
    return {"db": db, "stdout": done.stdout, "stderr": done.stderr}


def _all_values(db: Path) -> list[str]:
    """Every value of every table and view, as text."""
    values = []
    with duckdb.connect(str(db), read_only=True) as con:
        for (name,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
            names = [c for (c,) in con.execute("SELECT column_name FROM information_schema.columns "
                                               "WHERE table_name = ?", [name]).fetchall()]
            casts = ", ".join(f"CAST({c} AS VARCHAR)" for c in names)
            values += [str(v) for row in con.execute(f"SELECT {casts} FROM {name}").fetchall() for v in row
                       if v is not None]
    return values


def test_no_raw_caller_id_phone_number_transcript_or_salt_reaches_any_table(private_night):
    values = _all_values(private_night["db"])
    text = "\n".join(values)
    assert len(values) > 1000
    for caller_id in [*PLANTED.values(), "+33 1 23 45 67 89", "+1 415 555 0123"]:
        assert caller_id not in text and normalise_caller_id(caller_id) not in text
        digits = re.sub(r"\D", "", caller_id)                # however a value might have formatted it
        assert not [v for v in values if digits in re.sub(r"\D", "", v)], caller_id
    assert "invoice" not in text and "calling about" not in text
    assert INTERNATIONAL_NUMBER.search(TRANSCRIPT) and INTERNATIONAL_NUMBER.search(PLANTED["call_0002"])
    assert not [v for v in values if INTERNATIONAL_NUMBER.search(v)]
    assert SALT not in text
    assert SALT not in private_night["stdout"] + private_night["stderr"]


def test_callers_are_in_the_calls_table_as_pseudonyms_and_the_bad_one_is_an_error(private_night, monkeypatch):
    monkeypatch.setenv(privacy.SALT_ENV, SALT)
    hasher = CallerIdHasher()
    with duckdb.connect(str(private_night["db"]), read_only=True) as con:
        hashes = dict(con.execute("SELECT regexp_extract(recording_uri, '(call_\\d+)', 1), caller_id_hash "
                                  "FROM calls").fetchall())
        errors = con.execute("SELECT stage, reason FROM errors").fetchall()
    assert hashes == {stem: hasher(caller_id) for stem, caller_id in PLANTED.items()}
    assert errors == [("sidecar", "caller_id must be a string, got a JSON dict")]
