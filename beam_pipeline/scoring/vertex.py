"""Scoring turns on a Vertex AI endpoint instead of the bundled model (`callmood run --scorer vertex`).

The pipeline around it does not change: turns arrive as the same (TurnRef, windows)
elements, the windows are the same log-mel windows (`ser_model.features`), and each
turn gets back one probability row per window, which `AssembleCalls` combines exactly
as on the local path. Only the forward pass moves to the endpoint, which serves the
SavedModel `ser_model/export.py` writes (`serving_default`: `log_mel` (300, 64) in,
six probabilities out) in Vertex AI's prebuilt TensorFlow container.

Why the request body is built here and not by `aiplatform.Endpoint.predict`: Beam's
`VertexAIModelHandlerJSON` (kept for its endpoint check, retries on 429/5xx and
client-side throttling) sends through the GAPIC client, which turns every number into
a protobuf `Value` in Python and, over REST, pretty-prints the body. A window is
19,200 numbers: measured against the local stand-in that is ~370 KB and 250-280 ms
of request overhead per window, so only 3 windows fit Vertex's 1.5 MB request limit.
The compact JSON built here is ~155 KB per window (9-10 windows a request) at
16-23 ms of overhead per window (docs/vertex.md, benchmarks/vertex_request_overhead.py).
Numbers are rounded to 6 decimals (error <= 5e-7, about float32's own resolution at
these magnitudes), and windows are packed into requests by their encoded size, so a
request never crosses the limit whatever the audio.

Which model version the rows carry: the endpoint's deployed model must have been
uploaded by `callmood model upload`, which labels it with the `model_version` of
its `model_metadata.json`. Before the run starts, every deployed model taking traffic
must carry the version of the `--model-dir` metadata (whose feature spec and classes
the pipeline uses to make windows and name columns); otherwise the run refuses to
start. Each response names the deployed model that answered, and an answer from one
that was not checked (a redeploy mid-run) fails those turns' calls into the errors
table instead of writing rows under the wrong version.

An endpoint failure (after Beam's retries for 429/5xx) never stops the night: the
turns it affected come back as `ScoringFailure`s and their calls become error rows
with stage "score", as any other per-call failure does.
"""
from __future__ import annotations

import json
import time
from typing import Any, Iterable, Optional, Sequence

import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import KeyedModelHandler, PredictionResult

from beam_pipeline.scoring.base import ScoringFailure, TurnWindowsHandler
from ser_model.inference import split_stacks
from ser_model.vertex_upload import MODEL_VERSION_LABEL, init_vertex

INPUT_NAME = "log_mel"                      # the serving_default input of the exported SavedModel
PAYLOAD_LIMIT_BYTES = 1_500_000             # Vertex AI online prediction, public endpoints
_ENVELOPE_BYTES = 64                        # '{"instances":[' ... ']}' and a margin
DECIMALS = 6
REQUEST_TIMEOUT_S = 60.0
_MAX_REASON_CHARS = 400


class VertexEndpointError(ValueError):
    """The endpoint cannot score this run: unreachable, nothing deployed, or not the model version in --model-dir."""


def encode_window(window: np.ndarray) -> str:
    """One request instance as compact JSON: {"log_mel": [[...64 numbers] x 300]}."""
    values = np.round(np.asarray(window, dtype=np.float64), DECIMALS).tolist()
    return json.dumps({INPUT_NAME: values}, separators=(",", ":"))


def pack_requests(instances_json: Sequence[str], limit_bytes: int = PAYLOAD_LIMIT_BYTES) -> list[list[int]]:
    """Indices of instances per request, in order, each request's body under `limit_bytes`."""
    packs: list[list[int]] = []
    size = limit_bytes
    for index, instance in enumerate(instances_json):
        cost = len(instance) + 1
        if cost + _ENVELOPE_BYTES > limit_bytes:
            raise ValueError(f"one window encodes to {cost} bytes, more than a request may carry")
        if size + cost > limit_bytes - _ENVELOPE_BYTES:
            packs.append([])
            size = 0
        packs[-1].append(index)
        size += cost
    return packs


def decode_predictions(predictions: Sequence[Any], n_classes: int) -> np.ndarray:
    """(n, n_classes) probabilities from the serving container's `predictions`.

    A one-output signature answers one list per instance; a signature with several
    outputs answers a dict per instance, of which the probabilities are taken.
    """
    rows = []
    for prediction in predictions:
        if isinstance(prediction, dict):
            prediction = prediction["probabilities"] if "probabilities" in prediction else (
                next(iter(prediction.values())) if len(prediction) == 1 else prediction)
        rows.append(prediction)
    try:
        probabilities = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"predictions are not {n_classes} numbers per window: {str(rows)[:200]}") from exc
    if probabilities.shape != (len(predictions), n_classes) or not np.all(np.isfinite(probabilities)) or \
            not np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError(f"predictions are not {n_classes}-class probability rows: shape "
                         f"{probabilities.shape}, first {probabilities[:1].tolist()}")
    return probabilities


def serving_versions(endpoint_name: str, expected_version: str) -> frozenset[str]:
    """Deployed model IDs taking traffic on the endpoint, after checking they all serve `expected_version`."""
    from google.cloud import aiplatform

    endpoint = aiplatform.Endpoint(endpoint_name)
    traffic = {deployed_id: share for deployed_id, share in endpoint.traffic_split.items() if share > 0}
    serving = [deployed for deployed in endpoint.list_models() if deployed.id in traffic]
    if not serving:
        raise VertexEndpointError(f"Vertex AI endpoint {endpoint_name} has no deployed model taking traffic")
    wrong = []
    for deployed in serving:
        model = aiplatform.Model(deployed.model, version=deployed.model_version_id or None)
        version = (model.labels or {}).get(MODEL_VERSION_LABEL)
        if version != expected_version:
            wrong.append(f"deployed model {deployed.id} ({deployed.model}, {traffic[deployed.id]}% of traffic) "
                         f"is {version or f'not labelled {MODEL_VERSION_LABEL}'}")
    if wrong:
        raise VertexEndpointError(
            f"Vertex AI endpoint {endpoint_name} does not serve {expected_version}, the model in --model-dir: "
            + "; ".join(wrong) + ". Point --model-dir at the export of the deployed model, or deploy this one "
            "(callmood model upload ... --deploy-endpoint ...).")
    return frozenset(deployed.id for deployed in serving)


def _message(exc: Exception) -> str:
    """Beam raises ValueError(format, *args) logging-style; render it."""
    try:
        return str(exc.args[0] % tuple(exc.args[1:])) if len(exc.args) > 1 else str(exc)
    except TypeError:
        return str(exc)


class _RestPredictClient:
    """The endpoint plus an authorised HTTP session posting to its `:predict` URL."""

    def __init__(self, endpoint):
        from google.auth.transport.requests import AuthorizedSession
        from google.cloud.aiplatform import initializer

        host = initializer.global_config.get_client_options(
            location_override=endpoint.location, prediction_client=True).api_endpoint
        base = host if host.startswith(("http://", "https://")) else f"https://{host}"
        self.endpoint = endpoint
        self.url = f"{base}/v1/{endpoint.resource_name}:predict"
        self.session = AuthorizedSession(endpoint.credentials)


def _compact_json_handler_class():
    """Beam's VertexAIModelHandlerJSON with a compact request body (imported late: aiplatform is slow to import)."""
    import requests
    from apache_beam.ml.inference import utils
    from apache_beam.ml.inference.vertex_ai_inference import VertexAIModelHandlerJSON
    from google.api_core import exceptions

    class CompactJSONVertexHandler(VertexAIModelHandlerJSON):
        """Instances arrive already JSON-encoded; one request per batch, its body as small as JSON allows."""

        def create_client(self) -> _RestPredictClient:
            return _RestPredictClient(super().create_client())

        def request(self, batch: Sequence[str], model: _RestPredictClient,
                    inference_args: Optional[dict[str, Any]] = None) -> Iterable[PredictionResult]:
            body = '{"instances":[' + ",".join(batch) + "]}"
            try:
                response = model.session.post(model.url, data=body.encode(), timeout=REQUEST_TIMEOUT_S,
                                              headers={"Content-Type": "application/json"})
            except (requests.ConnectionError, requests.Timeout) as exc:
                # Transient by nature: retried by Beam's filter like a 503.
                raise exceptions.ServiceUnavailable(f"{model.url}: {exc}") from exc
            if response.status_code != 200:
                raise exceptions.from_http_response(response)
            payload = response.json()
            predictions = payload.get("predictions")
            if not isinstance(predictions, list) or len(predictions) != len(batch):
                raise ValueError(f"{model.url} answered {len(predictions or [])} predictions for {len(batch)} "
                                 "instances")
            return utils._convert_to_result(batch, predictions, payload.get("deployedModelId"))

    return CompactJSONVertexHandler


class TurnWindowsVertexHandler(TurnWindowsHandler[Any]):
    """Turn window stacks in, per-window class probabilities out, scored by a Vertex AI endpoint.

    Delegates each request to Beam's handler (retries, throttling) and catches what
    still fails, because RemoteModelHandler does not let a subclass replace
    run_inference and a failed batch must become error rows, not a failed night.
    """

    def __init__(self, endpoint_name: str, *, model_version: str, n_classes: int, api_endpoint: str = "",
                 min_batch_windows: int = 32, max_batch_windows: int = 256,
                 payload_limit_bytes: int = PAYLOAD_LIMIT_BYTES, num_retries: int = 5):
        super().__init__(min_batch_windows=min_batch_windows, max_batch_windows=max_batch_windows)
        _, project, _, region, _, _ = endpoint_name.split("/")
        self._endpoint_name, self._project, self._region = endpoint_name, project, region
        self._api_endpoint = api_endpoint
        self.model_version = model_version
        self._n_classes = n_classes
        self._payload_limit_bytes = payload_limit_bytes
        init_vertex(project, region, api_endpoint)
        # Construction checks the endpoint is live (Beam) and serves this model version (here),
        # so a wrong endpoint fails the run before anything is read.
        from google.api_core.exceptions import GoogleAPICallError

        try:
            self._remote = _compact_json_handler_class()(endpoint_name, project, region, num_retries=num_retries)
        except (ValueError, GoogleAPICallError) as exc:   # no such endpoint, unreachable, or nothing deployed
            raise VertexEndpointError(f"Vertex AI endpoint {endpoint_name} cannot be used: {_message(exc)}") from exc
        self._serving_ids = serving_versions(endpoint_name, model_version)
        self._requests = Metrics.counter("callmood", "vertex_requests")
        self._failed_turns = Metrics.counter("callmood", "vertex_failed_turns")

    def load_model(self):
        init_vertex(self._project, self._region, self._api_endpoint)    # a fresh worker has no aiplatform config
        return self._remote.load_model()

    def run_inference(self, batch: Sequence[np.ndarray], model,
                      inference_args: Optional[dict[str, Any]] = None) -> Iterable[PredictionResult]:
        started = time.perf_counter()
        windows = np.concatenate(batch)
        instances = [encode_window(window) for window in windows]
        probabilities = np.full((len(windows), self._n_classes), np.nan)
        failures = np.full(len(windows), None, dtype=object)   # per window: why its request failed
        for pack in pack_requests(instances, self._payload_limit_bytes):
            try:
                self._requests.inc()
                results = list(self._remote.run_inference([instances[i] for i in pack], model, inference_args))
                strangers = {r.model_id for r in results} - self._serving_ids
                if strangers:
                    raise VertexEndpointError(f"answered by deployed model {sorted(strangers)}, which was not "
                                              f"serving {self.model_version} when the run started")
                probabilities[pack] = decode_predictions([r.inference for r in results], self._n_classes)
            except Exception as exc:  # after Beam's retries: these windows' calls go to the errors table
                reason = f"Vertex AI endpoint {self._endpoint_name}: {type(exc).__name__}: {exc}"
                failures[pack] = reason[:_MAX_REASON_CHARS]
        self._score_ms.inc(int((time.perf_counter() - started) * 1000))
        results = []
        for stack, stack_probabilities, stack_failures in zip(batch, split_stacks(probabilities, batch),
                                                              split_stacks(failures, batch)):
            failed = next((reason for reason in stack_failures if reason), None)
            if failed:
                self._failed_turns.inc()
            results.append(PredictionResult(example=stack, inference=ScoringFailure(failed) if failed
                                            else stack_probabilities, model_id=self.model_version))
        return results



def keyed_vertex_handler(endpoint_name: str, model_version: str, n_classes: int, api_endpoint: str,
                         max_batch_windows: int) -> KeyedModelHandler:
    """The handler the pipeline uses with --scorer vertex: elements are (TurnRef, windows)."""
    return KeyedModelHandler(TurnWindowsVertexHandler(
        endpoint_name, model_version=model_version, n_classes=n_classes, api_endpoint=api_endpoint,
        max_batch_windows=max_batch_windows, min_batch_windows=min(32, max_batch_windows)))
