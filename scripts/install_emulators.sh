#!/usr/bin/env bash
# Installs the local stand-ins for Google Cloud that the integration tests start on 127.0.0.1:
#   .emulators/bin/gcp-storage-emulator   Cloud Storage (JSON API, incl. batch and resumable uploads)
#   .emulators/bin/bqemulator             BigQuery REST API (DuckDB + sqlglot behind it)
# They live in their own venv because bqemulator pins sqlglot<30.12 while the project needs a newer one.
# Idempotent: a second run with everything in place only checks it. Needs PyPI, nothing else:
# the two DuckDB extensions bqemulator loads come from PyPI wheels and are installed from their files,
# because DuckDB would otherwise try to download them at first start.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${CALLMOOD_EMULATORS:-.emulators}"
DUCKDB_VERSION=1.5.5
PACKAGES=(
  "bqemulator==1.4.0"
  "gcp-storage-emulator==2026.7.19"
  "numpy==2.4.6"                      # imported by bqemulator but not declared
  "duckdb==${DUCKDB_VERSION}"
  "duckdb-extension-spatial==${DUCKDB_VERSION}"
  "duckdb-extension-avro==${DUCKDB_VERSION}"
)

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check "${PACKAGES[@]}"   # quick when already there

# Install the extensions into DuckDB's per-user extension folder from the wheels' own files.
"$VENV/bin/python" - <<'PY'
import importlib.util
import pathlib

import duckdb

con = duckdb.connect()
for name in ("spatial", "avro"):
    package = pathlib.Path(importlib.util.find_spec(f"duckdb_extension_{name}").origin).parent
    files = sorted(package.rglob(f"{name}.duckdb_extension"))
    if not files:
        raise SystemExit(f"no {name}.duckdb_extension inside {package}")
    con.execute(f"FORCE INSTALL '{files[0]}'")
    con.execute(f"LOAD {name}")
PY
test -x "$VENV/bin/bqemulator" && test -x "$VENV/bin/gcp-storage-emulator"
echo "emulators installed in $VENV: $VENV/bin/gcp-storage-emulator, $VENV/bin/bqemulator"
