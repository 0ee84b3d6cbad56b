"""Shared fixtures: the GCS and BigQuery emulators, started once per test session on 127.0.0.1."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

from tests import emulators as emu


@pytest.fixture(scope="session")
def emulators(tmp_path_factory):
    """Both emulators running, and this process's environment pointing the Google clients at them.

    Skips (with the installer's own words) only when scripts/install_emulators.sh
    cannot install them; a failure to start is an error, not a skip.
    """
    reason = emu.missing_reason()
    if reason:
        pytest.skip(f"GCS/BigQuery emulators unavailable: {reason}")
    with emu.running(tmp_path_factory.mktemp("emulators")) as running, pytest.MonkeyPatch.context() as patch:
        for name, value in running.env.items():
            patch.setenv(name, value)
        yield running


@pytest.fixture
def bq_dataset(emulators) -> str:
    """A fresh, empty `project.dataset` name on the BigQuery emulator (created by whoever uses it)."""
    return f"{emu.PROJECT}.t_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def crafted_duckdb(tmp_path_factory) -> str:
    """The crafted night of tests/test_sql_views.py in a DuckDB file, written through the real sink (read-only use)."""
    from beam_pipeline.warehouse.duckdb_sink import DuckDBSink
    from tests.test_sql_views import CRAFTED

    sink = DuckDBSink(str(tmp_path_factory.mktemp("crafted") / "crafted.duckdb"))
    sink.ensure_tables()
    sink.replace_calls(CRAFTED)
    sink.write_run_metrics("r1", dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.timezone.utc))
    return sink.path
