"""A Flex Template launch: `callmood run` with DataflowRunner and --template_location.

On that path Beam only builds the job and stages it; there is no job to wait for.
The real DataflowRunner is used, staging to the GCS emulator; nothing reaches
Dataflow itself (template creation makes no Dataflow API call).
"""
from __future__ import annotations

from pathlib import Path

import duckdb
from apache_beam.portability.api import beam_runner_api_pb2

from beam_pipeline import options
from beam_pipeline.pipeline import run
from tests import emulators as emu

REPO = Path(__file__).resolve().parent.parent


def test_template_launch_stages_the_job_and_records_it_as_launched(emulators, tmp_path):
    from google.cloud import storage

    client = storage.Client(project=emu.PROJECT)
    bucket = client.create_bucket(f"template-{tmp_path.name[-8:].lower().replace('_', '-')}")
    db = tmp_path / "results.duckdb"
    parsed, _ = options.parse(["--input", str(REPO / "examples" / "calls"), "--output", str(db),
                               "--retention-days", "30"])
    summary = run(parsed, ["--runner=DataflowRunner", f"--project={emu.PROJECT}", "--region=europe-west1",
                           f"--temp_location=gs://{bucket.name}/tmp", f"--template_location={tmp_path}/job.json"])

    assert (tmp_path / "job.json").exists()
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT status FROM runs").fetchall() == [("launched",)]
        # the job has not run: nothing written yet, and no run_metrics snapshot taken early
        assert con.execute("SELECT count(*) FROM calls").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM run_metrics").fetchone() == (0,)
    assert summary.calls_ok == 0

    # The end-of-night work is a step of the staged job, after the writes.
    staged = [blob for blob in client.list_blobs(bucket.name) if blob.name.endswith("pipeline.pb")]
    assert len(staged) == 1
    proto = beam_runner_api_pb2.Pipeline.FromString(staged[0].download_as_bytes())
    names = [t.unique_name for t in proto.components.transforms.values()]
    assert {"FinishNight", "WriteCalls", "WriteErrors", "AllWritten"} <= set(names)
