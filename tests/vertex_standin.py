"""A local stand-in for the Vertex AI REST API (v1), on 127.0.0.1, for the Vertex tests.

There is no local Vertex AI, so this serves the few methods callmood uses, with the
request and response shapes of the public REST API, and the real google-cloud-aiplatform
client (REST transport) is pointed at it:

- ``PredictionService.Predict`` runs the deployed model's REAL SavedModel the way the
  prebuilt TensorFlow serving container does (TF Serving's row format: ``instances``
  are dicts keyed by the signature's input names, or bare values for a one-input
  signature; a one-output signature answers a list of values per instance, several
  outputs a dict per instance), and refuses a request body over the public-endpoint
  payload limit, as Vertex does.
- ``EndpointService`` Get / Create / DeployModel and ``ModelService`` Get / UploadModel,
  the last three returning long-running operations that are already done.

Model artifacts are ``gs://bucket/path`` URIs resolved under ``gcs_root/bucket/path``
(the GCS emulator's layout). Every request is recorded for the tests to inspect, and
failures can be injected per method: an error answer (`fail`), or a misbehaving server
(`faults`): one that drops the connection without answering (DROP), holds the request
without answering until the client gives up (STALL), or answers one prediction fewer
than it was sent instances (SHORT). Nothing here is production code.
"""
from __future__ import annotations

import contextlib
import dataclasses
import http.server
import itertools
import json
import re
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Iterator

import numpy as np

# Vertex AI's documented request size limit for public endpoints (1.5 MB).
PAYLOAD_LIMIT_BYTES = 1_500_000
_LABEL = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_STATUS = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
           503: "UNAVAILABLE"}
DROP, STALL, SHORT = "drop", "stall", "short"     # the `faults` a method can be given
STALL_LIMIT_S = 30.0        # a stalled request is dropped after this, or when the stand-in stops


class _NoAnswer(Exception):
    """Raised inside the stand-in when a request gets no HTTP answer at all (DROP, STALL)."""


@dataclasses.dataclass
class Recorded:
    method: str
    path: str
    body_bytes: int
    body: dict | None
    server_s: float = 0.0       # time the stand-in spent answering (JSON parse, model, response)


class _SavedModelServer:
    """One loaded SavedModel's ``serving_default``, answering TF Serving row-format requests."""

    def __init__(self, path: Path):
        import tensorflow as tf

        self._tf = tf
        self._loaded = tf.saved_model.load(str(path))
        self.signature = self._loaded.signatures["serving_default"]
        self.inputs = self.signature.structured_input_signature[1]      # name -> TensorSpec

    def predict(self, instances: list) -> list:
        if all(isinstance(instance, dict) for instance in instances):
            columns = {name: [instance[name] for instance in instances] for name in self.inputs}
        elif len(self.inputs) == 1:
            columns = {next(iter(self.inputs)): instances}
        else:
            raise ValueError("instances must be objects keyed by input name for a multi-input signature")
        feeds = {}
        for name, spec in self.inputs.items():
            array = np.asarray(columns[name], dtype=spec.dtype.as_numpy_dtype)
            if not spec.shape.is_compatible_with(array.shape):
                raise ValueError(f"input {name!r} has shape {list(array.shape)}, the signature wants "
                                 f"{spec.shape.as_list()}")
            feeds[name] = self._tf.constant(array)
        outputs = {name: tensor.numpy() for name, tensor in self.signature(**feeds).items()}
        if len(outputs) == 1:
            return next(iter(outputs.values())).tolist()
        return [dict(zip(outputs, values)) for values in zip(*(v.tolist() for v in outputs.values()))]


class VertexStandIn:
    """State of the stand-in: models, endpoints, recorded requests and injected failures."""

    def __init__(self, project: str, region: str, gcs_root: Path):
        self.project, self.region, self.gcs_root = project, region, Path(gcs_root)
        self.parent = f"projects/{project}/locations/{region}"
        self.models: dict[str, dict] = {}           # "projects/../models/ID" -> Model JSON
        self.endpoints: dict[str, dict] = {}        # "projects/../endpoints/ID" -> Endpoint JSON
        self.requests: list[Recorded] = []
        self.fail: dict[str, list[tuple[int, str]]] = {}   # method -> queued (http status, message)
        self.faults: dict[str, list[str]] = {}             # method -> queued DROP, STALL or SHORT
        self.stopped = threading.Event()
        self._ids = itertools.count(1000)
        self._servers: dict[str, _SavedModelServer] = {}
        self._lock = threading.Lock()
        self.url = ""

    # ---- helpers for tests -------------------------------------------------------------------
    def add_model(self, artifact_uri: str, labels: dict[str, str], display_name: str = "callmood-ser") -> str:
        name = f"{self.parent}/models/{next(self._ids)}"
        self.models[name] = {"name": name, "displayName": display_name, "artifactUri": artifact_uri,
                             "labels": labels, "versionId": "1",
                             "supportedDeploymentResourcesTypes": ["DEDICATED_RESOURCES"],
                             "containerSpec": {"imageUri": "tf-serving-image"}}
        return name

    def add_endpoint(self, display_name: str = "callmood") -> str:
        name = f"{self.parent}/endpoints/{next(self._ids)}"
        self.endpoints[name] = {"name": name, "displayName": display_name, "deployedModels": [],
                                "trafficSplit": {}}
        return name

    def deploy(self, endpoint: str, model: str, traffic_percentage: int = 100) -> str:
        deployed_id = str(next(self._ids))
        record = self.endpoints[endpoint]
        record["deployedModels"].append({"id": deployed_id, "model": model, "modelVersionId": "1",
                                         "displayName": self.models[model]["displayName"]})
        others = {k: v for k, v in record["trafficSplit"].items() if k != deployed_id}
        scale = (100 - traffic_percentage) / max(sum(others.values()), 1)
        record["trafficSplit"] = {**{k: round(v * scale) for k, v in others.items()},
                                  deployed_id: traffic_percentage}
        return deployed_id

    def predict_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.split("?")[0].endswith(":predict")]

    # ---- request handling --------------------------------------------------------------------
    def handle(self, method: str, path: str, raw: bytes) -> tuple[int, dict]:
        started = time.perf_counter()
        body = json.loads(raw) if raw and len(raw) <= PAYLOAD_LIMIT_BYTES else None
        record = Recorded(method, path, len(raw), body)
        with self._lock:
            self.requests.append(record)
        try:
            return self._route(method, path, raw, body)
        finally:
            record.server_s = time.perf_counter() - started

    def _route(self, method: str, path: str, raw: bytes, body: dict | None) -> tuple[int, dict]:
        path = urllib.parse.unquote(path.split("?")[0]).removeprefix("/v1/")
        routes = [
            ("POST", r"(.+/endpoints/[^/:]+):predict", self._predict),
            ("POST", r"(.+/endpoints/[^/:]+):deployModel", self._deploy_model),
            ("POST", r"(.+/locations/[^/]+)/endpoints", self._create_endpoint),
            ("POST", r"(.+/locations/[^/]+)/models:upload", self._upload_model),
            ("GET", r"(.+/operations/[^/]+)", self._get_operation),
            ("GET", r"(.+/endpoints/[^/:]+)", self._get_endpoint),
            ("GET", r"(.+/models/[^/:@]+)(?:@([^/]+))?", self._get_model),
        ]
        for verb, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                short = handler.__name__.lstrip("_")
                if self.fail.get(short):
                    return _error(*self.fail[short].pop(0))
                fault = self.faults[short].pop(0) if self.faults.get(short) else None
                if fault == DROP:
                    raise _NoAnswer()
                if fault == STALL:
                    self.stopped.wait(STALL_LIMIT_S)
                    raise _NoAnswer()
                if raw and body is None:
                    return _error(400, f"Request payload size exceeds the limit: {PAYLOAD_LIMIT_BYTES} bytes.")
                try:
                    status, payload = handler(body or {}, *match.groups())
                    if fault == SHORT:
                        payload = {**payload, "predictions": payload["predictions"][:-1]}
                    return status, payload
                except KeyError as exc:
                    return _error(404, f"{exc.args[0]} not found")
                except ValueError as exc:
                    return _error(400, str(exc))
        return _error(404, f"the Vertex stand-in does not serve {method} {path}")

    def _get_endpoint(self, _body, name):
        return 200, self.endpoints[name]

    def _get_model(self, _body, name, _version=None):
        return 200, self.models[name]

    def _get_operation(self, _body, name):
        raise KeyError(name)    # operations are returned done; a poll means the client misread one

    def _predict(self, body, name):
        endpoint = self.endpoints[name]
        if not endpoint["deployedModels"]:
            raise ValueError(f"endpoint {name} has no deployed model")
        deployed = max(endpoint["deployedModels"], key=lambda d: endpoint["trafficSplit"].get(d["id"], 0))
        model = self.models[deployed["model"]]
        instances = body.get("instances")
        if not isinstance(instances, list) or not instances:
            raise ValueError("'instances' must be a non-empty list")
        predictions = self._server(model["artifactUri"]).predict(instances)
        return 200, {"predictions": predictions, "deployedModelId": deployed["id"], "model": deployed["model"],
                     "modelDisplayName": model["displayName"], "modelVersionId": deployed["modelVersionId"]}

    def _upload_model(self, body, parent):
        model = dict(body["model"])
        for required in ("displayName", "artifactUri"):
            if not model.get(required):
                raise ValueError(f"model.{required} is required")
        if not model.get("containerSpec", {}).get("imageUri"):
            raise ValueError("model.containerSpec.imageUri is required")
        for key, value in model.get("labels", {}).items():
            if not _LABEL.match(key) or not _LABEL_VALUE.match(value):
                raise ValueError(f"label {key}={value} is not a valid Vertex AI label")
        self._artifact_dir(model["artifactUri"])
        name = f"{parent}/models/{next(self._ids)}"
        # What Vertex AI sets on a model with its own serving container: it deploys on dedicated machines.
        model.update(name=name, versionId="1", supportedDeploymentResourcesTypes=["DEDICATED_RESOURCES"])
        self.models[name] = model
        return 200, _done_operation(name, "UploadModelResponse", {"model": name, "modelVersionId": "1"})

    def _create_endpoint(self, body, parent):
        name = self.add_endpoint(body.get("displayName", ""))
        return 200, _done_operation(name, "Endpoint", self.endpoints[name])

    def _deploy_model(self, body, name):
        spec = body["deployedModel"]
        model = spec["model"].split("@")[0]
        if model not in self.models:
            raise KeyError(model)
        deployed_id = self.deploy(name, model, int((body.get("trafficSplit") or {}).get("0", 100)))
        return 200, _done_operation(name, "DeployModelResponse",
                                    {"deployedModel": {"id": deployed_id, "model": model}})

    def _artifact_dir(self, uri: str) -> Path:
        if not uri.startswith("gs://"):
            raise ValueError(f"artifactUri must be a gs:// URI, got {uri!r}")
        path = self.gcs_root / uri.removeprefix("gs://")
        if not (path / "saved_model.pb").exists():
            raise ValueError(f"no SavedModel at {uri}")
        return path

    def _server(self, uri: str) -> _SavedModelServer:
        with self._lock:
            if uri not in self._servers:
                self._servers[uri] = _SavedModelServer(self._artifact_dir(uri))
            return self._servers[uri]


def _error(status: int, message: str) -> tuple[int, dict]:
    return status, {"error": {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}}


def _done_operation(resource: str, response_type: str, response: dict) -> dict:
    return {"name": f"{resource}/operations/{abs(hash(resource)) % 10**8}", "done": True,
            "response": {"@type": f"type.googleapis.com/google.cloud.aiplatform.v1.{response_type}", **response}}


class _Handler(http.server.BaseHTTPRequestHandler):
    standin: VertexStandIn
    protocol_version = "HTTP/1.1"

    def _serve(self, method: str) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            status, payload = self.standin.handle(method, self.path, raw)
        except _NoAnswer:
            self.close_connection = True      # closed without a status line: the client sees a dropped connection
            return
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self._serve("GET")

    def do_POST(self):  # noqa: N802
        self._serve("POST")

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def running(project: str, region: str, gcs_root: Path) -> Iterator[VertexStandIn]:
    """The stand-in serving on http://127.0.0.1:PORT (its ``url``) until the block ends."""
    standin = VertexStandIn(project, region, gcs_root)
    handler = type("Handler", (_Handler,), {"standin": standin})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    standin.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield standin
    finally:
        standin.stopped.set()
        server.shutdown()
        server.server_close()


def export_to_bucket(gcs_root: Path, prefix: str, model_dir: Path) -> str:
    """`callmood model export` of `model_dir` into the stand-in's bucket folder gs://<prefix>/.

    Returns the gs:// URI of the SavedModel folder, which is what `callmood model upload` takes.
    """
    from ser_model.vertex_upload import export_for_vertex

    export_for_vertex(Path(model_dir), Path(gcs_root) / prefix)
    return f"gs://{prefix}/saved_model"


@contextlib.contextmanager
def aiplatform_pointed_at(standin: VertexStandIn, credentials_dir: Path) -> Iterator[None]:
    """Fake credentials for google-auth (a token that never expires: nothing is refreshed, nothing leaves
    the machine) and a clean google-cloud-aiplatform configuration afterwards."""
    import os

    from google.cloud.aiplatform import initializer

    from tests.emulators import write_fake_credentials

    previous = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    ours = str(write_fake_credentials(Path(credentials_dir) / "adc.json"))
    os.environ["GOOGLE_APPLICATION_CREDENTIALS"] = ours
    try:
        yield
    finally:
        initializer.global_config.__init__()
        # Unless the emulators fixture started meanwhile and owns the variable now (it restores it itself).
        if os.environ.get("GOOGLE_APPLICATION_CREDENTIALS") == ours:
            if previous is None:
                os.environ.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
            else:
                os.environ["GOOGLE_APPLICATION_CREDENTIALS"] = previous
