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
from pathlib import Path

import duckdb
import pytest

from beam_pipeline.sources import pseudonyms as privacy
from beam_pipeline.sources.pseudonyms import CallerIdHasher, check_salt_source, normalise_caller_id
from beam_pipeline.sources.recordings import SidecarError, parse_sidecar
from sql.schema import TABLES, columns
from tests import cli

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
    """The salt comes from exactly the secret version the option names, and keys as the same salt from env would.

    A fake client, not the real one: Secret Manager has no local emulator (Google
    ships none, and the GCS and BigQuery emulators the other tests start do not
    serve it), so the test replaces `SecretManagerServiceClient` with a stand-in
    that records the version asked for and answers the way the real client's
    `access_secret_version` does (`response.payload.data` as bytes). What it cannot
    show: IAM on the secret, or a version that is disabled or destroyed.
    """
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
    _plant_numbers_in_names(night)
    db = night.parent / "private.duckdb"
    runs = []
    for _ in range(2):                   # the second run must skip every call the first wrote
        done = cli.run("run", "--input", str(night), "--output", str(db), env={**os.environ, privacy.SALT_ENV: SALT})
        assert done.returncode == 0, done.stderr[-3000:]
        runs.append(done)
    return {"db": db, "stdout": "".join(r.stdout for r in runs), "stderr": "".join(r.stderr for r in runs),
            "rerun": runs[1].stdout}


# Phone numbers planted in names and sidecar fields (below); none may reach a table outside recording_paths.
NAME_NUMBERS = ["+1 (415) 555-0199", "07946 095812", "555-123-4567", "+44 20 7946 0000", "0049 151 99887766",
                "5551234567", "030 1234 5678"]
NUMBERED_FOLDER = "line +1 (415) 555-0199"
NUMBERED_FILE = "out-07946 095812-4471-20261123-101500"
BROKEN_NUMBERED_FILE = "in-030 1234 5678-20261123"
BAD_SIDECAR_NUMBERED_FILE = "in-5551234567-20261123"


def _plant_numbers_in_names(night: Path) -> None:
    """A folder and a file named after numbers, and numbers in sidecar ids and in invalid sidecar values.

    The numbered file has no sidecar and a modification time in 2020: its call
    date can only come from the date in its name.
    """
    folder = night / NUMBERED_FOLDER
    folder.mkdir()
    shutil.copy(CALLS / "call_0004.mp3", folder / "call_0004.mp3")
    (folder / "call_0004.json").write_text(json.dumps({
        **json.loads((CALLS / "call_0004.json").read_text()),
        "agent_id": "agent 555-123-4567", "queue": "+44 20 7946 0000", "call_id": "cb-0049 151 99887766"}))
    numbered = night / f"{NUMBERED_FILE}.ogg"
    shutil.copy(CALLS / "call_0005.ogg", numbered)
    os.utime(numbered, (1_600_000_000, 1_600_000_000))
    shutil.copy(CALLS / "call_corrupt.wav", night / f"{BROKEN_NUMBERED_FILE}.wav")      # fails to decode
    shutil.copy(CALLS / "call_0001.mp3", night / f"{BAD_SIDECAR_NUMBERED_FILE}.mp3")
    (night / f"{BAD_SIDECAR_NUMBERED_FILE}.json").write_text("{\"call_id\": ")            # fails as a sidecar
    for stem, field, value in [("call_0006", "started_at", "ring back on 5551234567"),
                               ("call_0007", "channels", {"0": "agent", "0301234 5678": "customer"})]:
        audio = next(p for p in CALLS.glob(f"{stem}.*") if p.suffix != ".json")
        shutil.copy(audio, night / audio.name)
        (night / f"{stem}.json").write_text(json.dumps({"call_id": stem, field: value}))


def _all_values(db: Path, skip: tuple[str, ...] = ()) -> list[str]:
    """Every value of every table and view (but those in `skip`), as text."""
    values = []
    with duckdb.connect(str(db), read_only=True) as con:
        for (name,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
            if name in skip:
                continue
            names = [c for (c,) in con.execute("SELECT column_name FROM information_schema.columns "
                                               "WHERE table_name = ?", [name]).fetchall()]
            casts = ", ".join(f"CAST({c} AS VARCHAR)" for c in names)
            values += [str(v) for row in con.execute(f"SELECT {casts} FROM {name}").fetchall() for v in row
                       if v is not None]
    return values


def test_no_raw_caller_id_phone_number_transcript_or_salt_reaches_any_table(private_night):
    values = _all_values(private_night["db"], skip=("recording_paths",))     # the one table of clear paths
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
                                  "FROM calls WHERE caller_id_hash IS NOT NULL").fetchall())
        errors = con.execute("SELECT stage, reason FROM errors WHERE recording_uri LIKE '%call_0003%'").fetchall()
    assert hashes == {stem: hasher(caller_id) for stem, caller_id in PLANTED.items()}
    assert errors == [("sidecar", "caller_id must be a string, got a JSON dict")]


def _planted_digits(value: str) -> list[str]:
    """The planted numbers whose digits appear in `value`, however it might have formatted them."""
    digits = re.sub(r"\D", "", value)
    return [n for n in NAME_NUMBERS if re.sub(r"\D", "", n) in digits]


def test_no_phone_number_from_a_name_or_sidecar_field_reaches_a_table_but_recording_paths(private_night):
    values = _all_values(private_night["db"], skip=("recording_paths",))
    assert not [v for v in values if _planted_digits(v)]
    with duckdb.connect(str(private_night["db"]), read_only=True) as con:
        clear = [c for (c,) in con.execute("SELECT clear_uri FROM recording_paths").fetchall()]
        strings = [v for (table,) in con.execute("SELECT DISTINCT table_name FROM information_schema.columns "
                                                 "WHERE data_type = 'VARCHAR' AND table_name <> 'recording_paths'"
                                                 ).fetchall()
                   for v in _string_values(con, table)]
    # every 7+ digit run left in a text column is a date, a date and time, or an id of hex digits
    allowed = re.compile(r"20\d\d-?\d\d-?\d\d(?:[T _-]?\d\d:?\d\d(?::?\d\d(?:\.\d+)?)?)?|\b[0-9a-f]{12,32}\b")
    runs = [v for v in strings if re.search(r"\d(?:[ ()._-]?\d){6,}", allowed.sub("", v))]
    assert not runs
    assert sorted(Path(c).name for c in clear) == sorted(["call_0004.mp3", f"{NUMBERED_FILE}.ogg",
                                                          f"{BROKEN_NUMBERED_FILE}.wav",
                                                          f"{BAD_SIDECAR_NUMBERED_FILE}.mp3"])


def test_a_numbered_recording_that_fails_is_keyed_by_its_pseudonym_and_a_rerun_skips_the_calls(private_night,
                                                                                                  monkeypatch):
    monkeypatch.setenv(privacy.SALT_ENV, SALT)
    pseudonymise = privacy.PhoneNumberPseudonymiser(CallerIdHasher())
    with duckdb.connect(str(private_night["db"]), read_only=True) as con:
        errors = {Path(uri).name: stage for uri, stage in con.execute(
            "SELECT recording_uri, stage FROM errors").fetchall()}
        n_calls = con.execute("SELECT count(*) FROM calls").fetchone()[0]
    assert errors[pseudonymise(BROKEN_NUMBERED_FILE) + ".wav"] == "decode"   # keyed as its calls row would be
    assert errors[pseudonymise(BAD_SIDECAR_NUMBERED_FILE) + ".mp3"] == "sidecar"
    assert f"calls ok 0, skipped {n_calls}," in private_night["rerun"]


def _string_values(con, table: str) -> list[str]:
    names = [c for (c,) in con.execute("SELECT column_name FROM information_schema.columns "
                                       "WHERE table_name = ? AND data_type = 'VARCHAR'", [table]).fetchall()]
    return [v for name in names for (v,) in con.execute(f"SELECT {name} FROM {table}").fetchall() if v]


def test_numbers_in_names_are_keyed_pseudonyms_and_the_date_in_the_name_still_dates_the_call(private_night,
                                                                                              monkeypatch):
    monkeypatch.setenv(privacy.SALT_ENV, SALT)
    pseudonymise = privacy.PhoneNumberPseudonymiser(CallerIdHasher())
    with duckdb.connect(str(private_night["db"]), read_only=True) as con:
        calls = {r[0]: r[1:] for r in con.execute(
            "SELECT c.call_id, c.recording_uri, c.call_date, c.agent_id, c.queue, p.clear_uri "
            "FROM calls c LEFT JOIN recording_paths p USING (recording_uri)").fetchall()}
        segment_ids = {r[0] for r in con.execute("SELECT DISTINCT call_id FROM segments").fetchall()}
    named = pseudonymise(NUMBERED_FILE)
    assert named.startswith("out-tel-") and named.endswith("-20261123-101500")
    uri, call_date, agent, queue, clear = calls[named]
    assert call_date == dt.date(2026, 11, 23)                        # from the name, not the 2020 mtime
    assert uri.endswith(f"/{named}.ogg") and clear.endswith(f"/{NUMBERED_FILE}.ogg")
    folder_call = calls[pseudonymise("cb-0049 151 99887766")]
    assert folder_call[2:4] == (pseudonymise("agent 555-123-4567"), pseudonymise("+44 20 7946 0000"))
    assert pseudonymise(NUMBERED_FOLDER) in folder_call[0] and folder_call[-1].endswith("555-0199/call_0004.mp3")
    assert {named, pseudonymise("cb-0049 151 99887766")} <= segment_ids
    # the same keyed hash as caller ids: a number's token is its caller_id_hash, spelt in letters
    assert pseudonymise("5551234567") == "tel-" + CallerIdHasher()("5551234567")[:12].translate(
        str.maketrans("0123456789abcdef", "abcdefghijklmnop"))


def test_invalid_sidecar_values_are_named_in_errors_not_quoted(private_night):
    with duckdb.connect(str(private_night["db"]), read_only=True) as con:
        errors = dict(con.execute("SELECT call_id, reason FROM errors WHERE call_id IS NOT NULL").fetchall())
        by_file = dict(con.execute("SELECT regexp_extract(recording_uri, '(call_\\d+)', 1), reason "
                                   "FROM errors").fetchall())
    assert "started_at is not an ISO 8601" in by_file["call_0006"]
    assert "channels keys must be channel numbers" in by_file["call_0007"]
    assert not [r for r in [*errors.values(), *by_file.values()] if _planted_digits(r) or "0301234" in r]


def test_the_dashboard_listen_link_opens_the_clear_path(private_night):
    from dashboards.local_data import load_dashboard_data

    calls = load_dashboard_data(private_night["db"])["calls"]
    numbered = [c for c in calls if "out-tel-" in c["recording_uri"]]
    assert len(numbered) == 1
    assert "095812" not in numbered[0]["recording_uri"]
    assert numbered[0]["recording_link"] == (private_night["db"].parent / "calls" / f"{NUMBERED_FILE}.ogg").as_uri()


@pytest.fixture(scope="module")
def unsalted_night(tmp_path_factory) -> Path:
    """A numbered file beside a plain one, run without any salt."""
    night = tmp_path_factory.mktemp("unsalted") / "calls"
    night.mkdir()
    shutil.copy(CALLS / "call_0003.flac", night / "call_0003.flac")
    shutil.copy(CALLS / "call_0003.json", night / "call_0003.json")
    shutil.copy(CALLS / "call_0005.ogg", night / f"{NUMBERED_FILE}.ogg")
    db = night.parent / "unsalted.duckdb"
    env = {k: v for k, v in os.environ.items() if k != privacy.SALT_ENV}
    for _ in range(2):                                   # a re-run changes nothing
        done = cli.run("run", "--input", str(night), "--output", str(db), env=env)
        assert done.returncode == 0, done.stderr[-3000:]
    return db


def test_without_a_salt_a_numbered_path_is_refused_redacted_and_the_rest_is_written(unsalted_night):
    assert not [v for v in _all_values(unsalted_night, skip=("recording_paths",)) if _planted_digits(v)]
    with duckdb.connect(str(unsalted_night), read_only=True) as con:
        calls = con.execute("SELECT call_id FROM calls").fetchall()
        errors = con.execute("SELECT recording_uri, stage, reason FROM errors").fetchall()
    assert calls == [("CM-20261123-0003",)]
    [(uri, stage, reason)] = errors
    assert stage == "read" and "no caller-id salt" in reason
    assert uri.endswith("/out-tel-redacted-20261123-101500.ogg")


@pytest.mark.parametrize("text, redacted", [
    ("out-5551234567-4471-20261123-101500.wav", "out-tel-redacted-20261123-101500.wav"),
    ("rec_20261123_193012_ext4471.mp3", "rec_20261123_193012_ext4471.mp3"),
    ("2026-11-23/20261123101500.wav", "2026-11-23/20261123101500.wav"),
    ("101500", "101500"),
    ("/lines/+44 (20) 7946-0958/a.wav", "/lines/tel-redacted/a.wav"),
    ("0161 123456", "tel-redacted"),                       # a time-like group is a number away from a date
    ("555.123.4567_20261123", "tel-redacted_20261123"),
    ("CM-20261123-0004", "CM-20261123-0004"),
    ("2026-11-23T08:14:07+00:00", "2026-11-23T08:14:07+00:00"),
])
def test_phone_numbers_are_runs_of_seven_digits_and_dates_and_times_are_not(text, redacted):
    assert privacy.redact_phone_numbers(text) == redacted
    assert privacy.PhoneNumberPseudonymiser(None)(text) == redacted                 # no salt: redacted


def test_a_pseudonym_has_no_digits_and_a_date_in_the_path_still_dates_the_call(salted):
    from beam_pipeline.sources.recordings import call_date_from_path

    pseudonymise = privacy.PhoneNumberPseudonymiser(salted)
    stored = pseudonymise("gs://b/2026-11-23/out-+15551234567-20261123-101500.wav")
    assert re.fullmatch(r"gs://b/2026-11-23/out-tel-[a-p]{12}-20261123-101500\.wav", stored)
    assert pseudonymise("+1 555 123 4567") == pseudonymise("+1-555-123-4567") != pseudonymise("+1 555 123 4568")
    assert call_date_from_path(stored) == DAY
