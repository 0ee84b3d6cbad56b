#!/usr/bin/env bash
# Installs lookmlint (the LookML linter) into its own venv, .lookmlint/, because it pins lkml 0.2.2
# while the project's tests parse LookML with a current lkml. Idempotent; needs PyPI only.
# Use: .lookmlint/bin/lookmlint lint dashboards/looker   (reads dashboards/looker/.lintconfig.yml)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${CALLMOOD_LOOKMLINT:-.lookmlint}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check "lookmlint==0.2.2"
# lookmlint 0.2.2 calls yaml.load(f) without a Loader, which PyYAML 6 refuses. PyYAML 5.4.1 has no wheel for
# Python 3.11 and its sdist does not build with Cython 3, hence the older Cython and no build isolation.
if ! "$VENV/bin/python" -c 'import yaml, sys; sys.exit(yaml.__version__ >= "6")'; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "cython<3.0" wheel setuptools
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-build-isolation "pyyaml==5.4.1"
fi
test -x "$VENV/bin/lookmlint"
echo "lookmlint installed in $VENV: $VENV/bin/lookmlint"
