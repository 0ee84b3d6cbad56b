"""The package as `pip install .` installs it (the Dockerfile's path), not as the editable checkout runs it.

An editable install reads every file from the checkout, so a model, an ONNX file or an SQL file that
setup.py's package_data leaves out would pass every other test and fail only in the image. Here pip
builds the wheel from the project's files, the wheel is checked to hold every file of the four package
folders, and the `callmood` it installs runs a night from outside the checkout.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import duckdb
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
CALLS = REPO / "examples" / "calls"
PACKAGES = ("beam_pipeline", "ser_model", "sql", "dashboards")
NOT_SHIPPED = {                 # files in the package folders that nothing loads at run time
    "dashboards/README.md": "documentation of the dashboards, read in the repository",
    "ser_model/MODEL_CARD.md": "documentation of the model, read in the repository",
}


def _project_files() -> list[str]:
    """The files a clean clone would have: tracked, or new and not ignored (what a commit would add)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    return sorted(name for name in listed if name and (REPO / name).is_file())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel pip builds from a copy of the project's files, with this venv's setuptools (no download)."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in _project_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                           "--quiet", str(source), "-w", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    (built,) = out.glob("callmood-*.whl")
    return built


def test_the_wheel_holds_every_module_and_data_file_of_the_packages(wheel):
    """Every file under beam_pipeline/, ser_model/, sql/ and dashboards/ ships, but the two documents listed."""
    in_package = {name for name in _project_files() if name.split("/")[0] in PACKAGES}
    assert set(NOT_SHIPPED) <= in_package, "NOT_SHIPPED names a file that is gone"
    shipped = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(in_package - shipped - set(NOT_SHIPPED))
    assert not missing, f"setup.py's packages/package_data leave these out of the wheel: {missing}"


def test_the_installed_wheel_runs_a_night_from_outside_the_checkout(wheel, tmp_path):
    """Installed with `pip install --target`, it scores a stereo and a mono call and writes them through the SQL.

    Run from a folder outside the checkout with only the install on PYTHONPATH, so the model, the
    CAM++ ONNX files of mono diarization, the DDL and the training baseline come from the wheel.
    """
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
                           "--target", str(site), str(wheel)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run([sys.executable, "-c", "import beam_pipeline, ser_model, sql, dashboards as d; "
                            "print(d.__file__, sql.__file__, ser_model.__file__, beam_pipeline.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert where.returncode == 0 and all(Path(f).is_relative_to(site) for f in where.stdout.split()), where

    night = tmp_path / "night"
    night.mkdir()
    shutil.copy(CALLS / "call_0003.flac", night / "stereo.flac")
    stereo, rate_hz = sf.read(CALLS / "call_0003.flac", dtype="float32")
    sf.write(night / "mono.flac", stereo.mean(axis=1)[: rate_hz * 40], rate_hz)     # two voices, one channel
    db = tmp_path / "night.duckdb"
    run = subprocess.run([str(site / "bin" / "callmood"), "run", "--input", str(night), "--output", str(db)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    with duckdb.connect(str(db), read_only=True) as con:
        speakers = dict(con.execute("SELECT regexp_extract(recording_uri, '[^/]+$'), list(DISTINCT speaker) "
                                    "FROM segments GROUP BY 1").fetchall())
        errors = con.execute("SELECT recording_uri, stage, reason FROM errors").fetchall()
    assert errors == []
    assert set(speakers["stereo.flac"]) == {"agent", "customer"}
    assert speakers["mono.flac"] and all(s.startswith("speaker_") for s in speakers["mono.flac"])

    monitor = subprocess.run([str(site / "bin" / "callmood"), "monitor", "--db", str(db)], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=300)
    assert monitor.returncode == 0, monitor.stderr[-3000:]
    assert "prob_angry" in monitor.stdout          # compared with the training baseline the wheel ships
