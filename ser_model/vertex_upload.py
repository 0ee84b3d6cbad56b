"""`callmood model upload`: register the exported SavedModel in the Vertex AI Model Registry, optionally deploy it.

The registered model carries the `model_version` of its `model_metadata.json` as a
label (and as a version alias), because that label is how `callmood run --scorer
vertex` knows which model an endpoint serves: the run refuses an endpoint whose
deployed model is labelled with a different version than its `--model-dir`, so
rows are never stamped with a version that did not score them.

Serving uses Vertex AI's prebuilt TensorFlow CPU container, which serves the
SavedModel's `serving_default` signature over the predict API; no custom image to
build or patch. The default is the newest TensorFlow version google-cloud-aiplatform
lists (2.15) in the registry of the region's continent; `--serving-image` pins another.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Sequence

MODEL_VERSION_LABEL = "callmood_model_version"
FEATURE_REVISION_LABEL = "callmood_feature_revision"
SERVING_TF_VERSION = "2.15"
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{1,63}$")


def init_vertex(project: str, region: str, api_endpoint: str = "") -> None:
    """Point google-cloud-aiplatform at the project and region, over REST.

    REST rather than the gRPC default because it is the transport the local
    stand-in (and so the tests) exercise; `api_endpoint` overrides the regional API
    host (a Private Service Connect endpoint, or http://127.0.0.1:PORT in tests).
    """
    from google.cloud import aiplatform

    aiplatform.init(project=project, location=region, api_transport="rest", api_endpoint=api_endpoint or None)


def export_for_vertex(model_dir: Path, out_dir: Path) -> Path:
    """`out_dir/saved_model` (what the serving container loads) and `out_dir/model_metadata.json`
    from a model folder's .keras file, for a model trained before `callmood train` wrote SavedModels
    (the bundled one: its SavedModel is not checked in). Returns the SavedModel folder."""
    import shutil

    import keras

    import ser_model.model  # noqa: F401  (registers the custom layers)
    from ser_model.export import KERAS_FILE, METADATA_FILE, export_saved_model

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = export_saved_model(keras.saving.load_model(Path(model_dir) / KERAS_FILE, compile=False), out_dir)
    shutil.copy(Path(model_dir) / METADATA_FILE, out_dir / METADATA_FILE)
    return path


def default_serving_image(region: str) -> str:
    """The prebuilt TF CPU serving image in the registry nearest `region` (us-, europe- or asia-docker.pkg.dev)."""
    from google.cloud.aiplatform import helpers

    return helpers.get_prebuilt_prediction_container_uri(framework="tensorflow", framework_version=SERVING_TF_VERSION,
                                                         region=region, accelerator="cpu")


def metadata_uri_for(model_dir: str) -> str:
    """`model_metadata.json` beside the SavedModel folder, where `ser_model.export` writes it."""
    return model_dir.rstrip("/").rsplit("/", 1)[0] + "/model_metadata.json"


def read_metadata(uri: str, project: str | None = None) -> dict:
    """The export's metadata from a local path or gs://bucket/path."""
    if uri.startswith("gs://"):
        from google.cloud import storage

        bucket, _, name = uri.removeprefix("gs://").partition("/")
        return json.loads(storage.Client(project=project).bucket(bucket).blob(name).download_as_text())
    return json.loads(Path(uri).read_text())


def version_labels(metadata: dict) -> dict[str, str]:
    """Vertex AI labels naming the model version and the feature revision the model expects."""
    labels = {MODEL_VERSION_LABEL: str(metadata["model_version"]),
              FEATURE_REVISION_LABEL: str(metadata["feature_spec"]["revision"])}
    for key, value in labels.items():
        if not _LABEL_VALUE.match(value):
            raise ValueError(f"{key}={value!r} is not a valid Vertex AI label value (a-z, 0-9, _ and -, <= 63)")
    return labels


def upload(model_dir: str, display_name: str, project: str, region: str, metadata: dict, *,
           serving_image: str = "", parent_model: str = "", api_endpoint: str = ""):
    """Registers the SavedModel at `model_dir` (gs://); returns the aiplatform.Model."""
    from google.cloud import aiplatform

    if not model_dir.startswith("gs://"):
        raise ValueError(f"--model-dir must be a gs:// folder Vertex AI can read, got {model_dir!r}")
    init_vertex(project, region, api_endpoint)
    version = metadata["model_version"]
    return aiplatform.Model.upload(
        display_name=display_name,
        artifact_uri=model_dir.rstrip("/"),
        serving_container_image_uri=serving_image or default_serving_image(region),
        labels=version_labels(metadata),
        version_aliases=[version],
        version_description=f"callmood speech-emotion model {version}, exported {metadata.get('exported_at', '?')}",
        description="callmood: six emotion probabilities per 3 s log-mel window (serving_default: log_mel "
                    "(300, 64) -> probabilities (6))",
        parent_model=parent_model or None,
        project=project, location=region, sync=True,
    )


def deploy(model, endpoint: str, *, machine_type: str, min_replicas: int, max_replicas: int):
    """Deploys `model` with all traffic to `endpoint` (an ID or resource name), or to a new endpoint if 'new'."""
    from google.cloud import aiplatform

    target = (aiplatform.Endpoint.create(display_name=model.display_name) if endpoint == "new"
              else aiplatform.Endpoint(endpoint))
    model.deploy(endpoint=target, machine_type=machine_type, min_replica_count=min_replicas,
                 max_replica_count=max_replicas, traffic_percentage=100, sync=True)
    return target


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="callmood model", description="the model in Vertex AI")
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="write the SavedModel Vertex AI serves, and its metadata, to a folder")
    export.add_argument("--model-dir", default=None, help="model folder with the .keras file (default: the bundled)")
    export.add_argument("--out", required=True, help="folder to write saved_model/ and model_metadata.json into")
    up = commands.add_parser("upload", help="register the exported SavedModel in the Vertex AI Model Registry")
    up.add_argument("--model-dir", required=True, help="gs://.../saved_model written by `callmood train` (export)")
    up.add_argument("--display-name", default="callmood-ser")
    up.add_argument("--project", required=True)
    up.add_argument("--region", required=True, help="e.g. europe-west1")
    up.add_argument("--metadata", default=None,
                    help="model_metadata.json of that export (default: beside the saved_model folder)")
    up.add_argument("--serving-image", default="",
                    help=f"serving container (default: Vertex AI's prebuilt "
                         f"tf2-cpu.{SERVING_TF_VERSION.replace('.', '-')} for the region)")
    up.add_argument("--parent-model", default="", help="register as a new version of this model (ID or name)")
    up.add_argument("--deploy-endpoint", default="",
                    help="also deploy with 100%% of traffic to this endpoint (ID or resource name), or 'new'")
    up.add_argument("--machine-type", default="n1-standard-2")
    up.add_argument("--min-replicas", type=int, default=1)
    up.add_argument("--max-replicas", type=int, default=1)
    up.add_argument("--api-endpoint", default="", help="Vertex AI API host if not the regional default")
    args = parser.parse_args(argv)
    if args.command == "export":
        from ser_model.inference import DEFAULT_MODEL_DIR

        path = export_for_vertex(Path(args.model_dir or DEFAULT_MODEL_DIR), Path(args.out))
        print(f"wrote {path} and {Path(args.out) / 'model_metadata.json'}; copy the folder to gs:// and upload it")
        return 0

    metadata = read_metadata(args.metadata or metadata_uri_for(args.model_dir), args.project)
    model = upload(args.model_dir, args.display_name, args.project, args.region, metadata,
                   serving_image=args.serving_image, parent_model=args.parent_model, api_endpoint=args.api_endpoint)
    print(f"registered {model.resource_name} version {model.version_id} as {metadata['model_version']}")
    if args.deploy_endpoint:
        endpoint = deploy(model, args.deploy_endpoint, machine_type=args.machine_type,
                          min_replicas=args.min_replicas, max_replicas=args.max_replicas)
        print(f"deployed to {endpoint.resource_name}; score with: callmood run --scorer vertex "
              f"--vertex-endpoint {endpoint.resource_name} --model-dir <the export folder> ...")
    return 0
