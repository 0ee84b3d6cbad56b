"""The `callmood` command as a user runs it: the console script pip installed beside this Python.

Every test of the command line goes through here rather than `python -m beam_pipeline.cli.main` from
the checkout, so a broken `console_scripts` entry in setup.py, or a module or data file the installed
package lacks, fails them. (`make setup` installs the package editable; tests/test_packaging.py checks
that the wheel, which `pip install .` and the Dockerfile install, holds the same files.)
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CALLMOOD = Path(sys.executable).parent / "callmood"     # not resolved: a venv's python is a symlink


def command(*args: str) -> list[str]:
    """The argv that runs `callmood ARGS...` (for Popen); fails clearly when the package is not installed."""
    if not CALLMOOD.exists():
        raise FileNotFoundError(f"no `callmood` console script beside {sys.executable}: "
                                "install the package first (`make setup`, or `pip install -e .`)")
    return [str(CALLMOOD), *args]


def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """`callmood ARGS...` to completion, output captured as text; from the checkout unless `cwd` is given."""
    kwargs = {"cwd": REPO, "capture_output": True, "text": True, "timeout": 900, **kwargs}
    return subprocess.run(command(*args), **kwargs)
