"""`callmood model upload`: what it asks the Vertex AI Model Registry for.

There is no local Vertex AI: the real google-cloud-aiplatform client is pointed at a
stand-in for its REST API on 127.0.0.1 (tests/vertex_standin.py), which records the
UploadModel / CreateEndpoint / DeployModel requests, checks them the way the
service would (a gs:// artifact holding a SavedModel, a serving image, valid label
values) and answers with finished long-running operations. The SavedModel here is a
placeholder file: serving it is tests/test_vertex_scoring.py's business.
"""
from __future__ import annotations

import json

import pytest

from beam_pipeline.scoring.vertex import serving_versions
from ser_model.inference import ModelInfo
from ser_model.vertex_upload import MODEL_VERSION_LABEL, main, metadata_uri_for, version_labels
from tests import vertex_standin

PROJECT, REGION = "local-proj", "europe-west1"


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    root = tmp_path_factory.mktemp("gcs")
    export = root / "models" / "callmood" / "night"
    (export / "saved_model").mkdir(parents=True)
    (export / "saved_model" / "saved_model.pb").write_bytes(b"placeholder")
    (export / "model_metadata.json").write_text((ModelInfo.read().model_dir / "model_metadata.json").read_text())
    with vertex_standin.running(PROJECT, REGION, root) as running, \
            vertex_standin.aiplatform_pointed_at(running, tmp_path_factory.mktemp("adc")):
        running.export = export
        yield running


def _upload(standin, *extra: str) -> int:
    return main(["upload", "--model-dir", "gs://models/callmood/night/saved_model", "--project", PROJECT,
                 "--region", REGION, "--metadata", str(standin.export / "model_metadata.json"),
                 "--api-endpoint", standin.url, *extra])


def test_upload_registers_the_saved_model_with_its_version_labels(standin, capsys):
    standin.requests.clear()
    version = ModelInfo.read().model_version
    assert _upload(standin, "--display-name", "callmood-ser") == 0

    (request,) = [r for r in standin.requests if r.path.split("?")[0].endswith("/models:upload")]
    assert request.path.startswith(f"/v1/projects/{PROJECT}/locations/{REGION}/models:upload")
    model = request.body["model"]
    assert model["artifactUri"] == "gs://models/callmood/night/saved_model"
    assert model["displayName"] == "callmood-ser"
    assert model["containerSpec"]["imageUri"] == "europe-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"
    assert model["labels"] == {MODEL_VERSION_LABEL: version, "callmood_feature_revision": "2"}
    assert version in model["versionAliases"]      # beside "default", which the client adds
    assert version in model["versionDescription"]
    assert f"as {version}" in capsys.readouterr().out


def test_a_pinned_serving_image_and_a_parent_model_are_passed_through(standin):
    standin.requests.clear()
    image = "europe-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-14:latest"
    assert _upload(standin, "--serving-image", image, "--parent-model", "4242") == 0
    (request,) = [r for r in standin.requests if r.path.split("?")[0].endswith("/models:upload")]
    assert request.body["model"]["containerSpec"]["imageUri"] == image
    assert request.body["parentModel"].endswith("/models/4242")


def test_upload_and_deploy_gives_an_endpoint_the_vertex_scorer_accepts(standin, capsys):
    assert _upload(standin, "--deploy-endpoint", "new", "--machine-type", "n1-standard-4") == 0
    deploy = [r for r in standin.requests if ":deployModel" in r.path][-1]
    assert deploy.body["deployedModel"]["dedicatedResources"]["machineSpec"]["machineType"] == "n1-standard-4"
    endpoint = capsys.readouterr().out.split("deployed to ")[1].split(";")[0]
    assert len(serving_versions(endpoint, ModelInfo.read().model_version)) == 1


def test_upload_refuses_a_local_model_dir(standin):
    with pytest.raises(ValueError, match="gs://"):
        main(["upload", "--model-dir", str(standin.export / "saved_model"), "--project", PROJECT, "--region",
              REGION, "--metadata", str(standin.export / "model_metadata.json")])


def test_metadata_is_looked_for_beside_the_saved_model():
    assert metadata_uri_for("gs://b/models/ser-1/saved_model/") == "gs://b/models/ser-1/model_metadata.json"


def test_a_version_that_is_not_a_valid_label_is_refused():
    metadata = json.loads((ModelInfo.read().model_dir / "model_metadata.json").read_text())
    with pytest.raises(ValueError, match="label"):
        version_labels({**metadata, "model_version": "SER_B539F17F90B3"})


def test_upload_reads_the_metadata_beside_the_saved_model_from_gcs(emulators, tmp_path, capsys):
    """Production's path: no --metadata, so `model_metadata.json` is read from gs:// beside the SavedModel.

    The export lives in a bucket this test creates on the GCS emulator (the real
    google-cloud-storage client reads it), and the Vertex stand-in resolves the
    artifact in the emulator's own storage folder, so both services see one bucket.
    """
    from google.cloud import storage

    metadata = json.loads((ModelInfo.read().model_dir / "model_metadata.json").read_text())
    metadata["model_version"] = "ser-0123456789ab"      # not the bundled version: it can only come from the bucket
    bucket = storage.Client(project=PROJECT).create_bucket("exports-metadata-test")
    bucket.blob("callmood/night/model_metadata.json").upload_from_string(json.dumps(metadata))
    bucket.blob("callmood/night/saved_model/saved_model.pb").upload_from_string(b"placeholder")
    with vertex_standin.running(PROJECT, REGION, emulators.gcs_root) as standin, \
            vertex_standin.aiplatform_pointed_at(standin, tmp_path):
        assert main(["upload", "--model-dir", "gs://exports-metadata-test/callmood/night/saved_model",
                     "--project", PROJECT, "--region", REGION, "--api-endpoint", standin.url]) == 0
        (request,) = [r for r in standin.requests if r.path.split("?")[0].endswith("/models:upload")]
    assert request.body["model"]["labels"][MODEL_VERSION_LABEL] == "ser-0123456789ab"
    assert "as ser-0123456789ab" in capsys.readouterr().out
