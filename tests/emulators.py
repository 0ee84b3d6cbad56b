"""Local stand-ins for Cloud Storage and BigQuery, started on 127.0.0.1 for the integration tests.

Both come from ``scripts/install_emulators.sh`` (their own venv, ``.emulators/``,
because bqemulator pins an older sqlglot than the project's). Clients find them
through the environment variables the Google libraries read themselves
(``STORAGE_EMULATOR_HOST``, ``BIGQUERY_EMULATOR_HOST``), so the code under test
is the production code, unchanged. Fake "authorized user" credentials with a
token that never expires keep google-auth from probing a metadata server or
refreshing anything: nothing leaves the machine.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]
EMULATORS = Path(os.environ.get("CALLMOOD_EMULATORS", REPO / ".emulators"))
INSTALL_SCRIPT = REPO / "scripts" / "install_emulators.sh"
PROJECT = "local-proj"
BUCKET = "calls"
DUCKDB_VERSION = "1.5.5"   # bqemulator's DuckDB; its extensions must already be installed for it
STARTUP_TIMEOUT_S = 60.0


@dataclasses.dataclass(frozen=True)
class Emulators:
    """Where the running emulators listen, and the environment that points clients at them."""

    gcs_url: str
    bigquery_url: str
    gcs_root: Path          # objects land in gcs_root/<bucket>/<name>
    env: dict[str, str]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _binaries() -> tuple[Path, Path]:
    return EMULATORS / "bin" / "gcp-storage-emulator", EMULATORS / "bin" / "bqemulator"


def _duckdb_extensions_installed() -> bool:
    folder = Path.home() / ".duckdb" / "extensions" / f"v{DUCKDB_VERSION}"
    return all(any(folder.glob(f"*/{name}.duckdb_extension")) for name in ("spatial", "avro"))


def missing_reason() -> str | None:
    """None when both emulators are usable; else why not, after one attempt to install them."""
    if all(b.exists() for b in _binaries()) and _duckdb_extensions_installed():
        return None
    try:
        done = subprocess.run(["bash", str(INSTALL_SCRIPT)], cwd=REPO, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"scripts/install_emulators.sh could not run: {exc}"
    if done.returncode != 0 or not all(b.exists() for b in _binaries()):
        return f"scripts/install_emulators.sh failed (exit {done.returncode}): {done.stderr[-1500:]}"
    return None


def write_fake_credentials(path: Path) -> Path:
    path.write_text(json.dumps({
        "type": "authorized_user", "client_id": "callmood-tests.apps.googleusercontent.com",
        "client_secret": "not-a-secret", "refresh_token": "not-a-token", "token": "not-a-token",
        "expiry": "2099-01-01T00:00:00Z",
    }))
    return path


def _wait_until_serving(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return          # it answers, if only to say the path is wrong
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{process.args[0]} did not answer on {url} within {STARTUP_TIMEOUT_S:.0f} s:\n"
                       f"{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def running(workdir: Path) -> Iterator[Emulators]:
    """Starts both emulators on free loopback ports, yields where they are, and stops them."""
    gcs_bin, bigquery_bin = _binaries()
    gcs_data = workdir / "gcs"
    gcs_data.mkdir(parents=True, exist_ok=True)
    gcs_root = gcs_data / ".cloudstorage"
    gcs_port, rest_port, grpc_port = free_port(), free_port(), free_port()
    gcs_url = f"http://127.0.0.1:{gcs_port}"
    bigquery_url = f"http://127.0.0.1:{rest_port}"
    env = {
        "STORAGE_EMULATOR_HOST": gcs_url,
        "BIGQUERY_EMULATOR_HOST": bigquery_url,
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "GOOGLE_APPLICATION_CREDENTIALS": str(write_fake_credentials(workdir / "fake_credentials.json")),
        "NO_GCE_CHECK": "true",
    }
    processes: list[subprocess.Popen] = []
    try:
        gcs_log, bigquery_log = workdir / "gcs.log", workdir / "bigquery.log"
        with gcs_log.open("w") as gcs_out, bigquery_log.open("w") as bigquery_out:
            gcs = subprocess.Popen(
                [str(gcs_bin), "-d", str(gcs_data), "start", "--host=127.0.0.1", f"--port={gcs_port}",
                 f"--default-bucket={BUCKET}"], stdout=gcs_out, stderr=subprocess.STDOUT)
            processes.append(gcs)
            bigquery = subprocess.Popen(
                [str(bigquery_bin), "start", "--rest-port", str(rest_port), "--grpc-port", str(grpc_port),
                 "--project", PROJECT, "--log-level", "warning"],
                stdout=bigquery_out, stderr=subprocess.STDOUT,
                env={**os.environ, "BQEMU_GCS_LOCAL_ROOT": str(gcs_root)})
            processes.append(bigquery)
        _wait_until_serving(f"{gcs_url}/storage/v1/b", gcs, gcs_log)
        _wait_until_serving(f"{bigquery_url}/bigquery/v2/projects/{PROJECT}/datasets", bigquery, bigquery_log)
        yield Emulators(gcs_url=gcs_url, bigquery_url=bigquery_url, gcs_root=gcs_root, env=env)
    finally:
        for process in processes:
            _stop(process)


def bigquery_client():
    """A client for the emulator; the environment from `running` must be in place."""
    from google.cloud import bigquery

    return bigquery.Client(project=PROJECT)


def query(client, sql: str, parameters=()) -> list[dict]:
    """Rows as dicts; no retries, so a query the emulator cannot run fails at once instead of in 10 minutes."""
    from google.api_core.retry import Retry
    from google.cloud import bigquery

    job = client.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=list(parameters)),
                       job_retry=None, retry=Retry(deadline=30))
    return [dict(row) for row in job.result(retry=Retry(deadline=30), timeout=120)]
