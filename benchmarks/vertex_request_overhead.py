"""What a window costs to score through the Vertex AI request path, against the local stand-in.

Not Vertex AI's performance (there is none here to measure): the client-side cost of
building requests, their size against the 1.5 MB limit, and the round trip to a
server on 127.0.0.1 that runs the same SavedModel, compared with scoring the same
windows in-process. Three ways:

- local:   EmotionScorer.predict, the bundled model in the job (--scorer local)
- compact: callmood's request (beam_pipeline/scoring/vertex.py): compact JSON, packed by size
- stock:   Beam's VertexAIModelHandlerJSON.request as shipped (aiplatform Endpoint.predict, GAPIC REST),
           given the same 6-decimal numbers

The stand-in runs in this process, so "server" time (JSON parse + model + response
building, measured inside the stand-in) is subtracted to give the request overhead.

    .venv/bin/python benchmarks/vertex_request_overhead.py
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from beam_pipeline.options import CallmoodOptions  # noqa: E402
from beam_pipeline.prepare import prepare_call  # noqa: E402
from beam_pipeline.sources.recordings import read_identity  # noqa: E402
from ser_model.inference import EmotionScorer, ModelInfo  # noqa: E402
from ser_model.vertex_upload import MODEL_VERSION_LABEL  # noqa: E402
from tests import vertex_standin  # noqa: E402

STOCK_INSTANCES_PER_REQUEST = 3     # what fits 1.5 MB in the stock client's pretty-printed JSON


def demo_windows(info: ModelInfo) -> np.ndarray:
    windows = []
    for path in sorted((REPO / "examples" / "calls").glob("call_000*")):
        if path.suffix == ".json":
            continue
        uri = str(path)
        prepared = prepare_call(path.read_bytes(), uri, read_identity(uri, os.path.getmtime(uri)),
                                CallmoodOptions(input=uri), info.spec)
        windows.extend(np.concatenate(prepared.windows))
    return np.stack(windows)


def row(name: str, n_windows: int, wall_s: float, server_s: float, requests: int, body_bytes: int) -> str:
    per = 1000.0 / n_windows
    return (f"| {name} | {n_windows} | {requests} | {body_bytes / max(n_windows, 1) / 1000:.0f} | "
            f"{wall_s * per:.1f} | {server_s * per:.1f} | {(wall_s - server_s) * per:.1f} |")


def main() -> None:
    from apache_beam.ml.inference.vertex_ai_inference import VertexAIModelHandlerJSON

    from beam_pipeline.scoring.vertex import TurnWindowsVertexHandler, encode_window

    info = ModelInfo.read()
    windows = demo_windows(info)
    scorer = EmotionScorer(info)
    scorer.predict(windows[:8])                            # trace once
    started = time.perf_counter()
    for a in range(0, len(windows), 64):
        scorer.predict(windows[a:a + 64])
    local_s = time.perf_counter() - started

    tmp = Path(tempfile.mkdtemp(prefix="callmood-vertex-bench-"))
    uri = vertex_standin.export_to_bucket(tmp / "gcs", "models/callmood/bench", info.model_dir)
    with vertex_standin.running("bench", "europe-west1", tmp / "gcs") as standin, \
            vertex_standin.aiplatform_pointed_at(standin, tmp):
        endpoint = standin.add_endpoint()
        standin.deploy(endpoint, standin.add_model(uri, {MODEL_VERSION_LABEL: info.model_version}))

        handler = TurnWindowsVertexHandler(endpoint, model_version=info.model_version, n_classes=6,
                                           api_endpoint=standin.url)
        client = handler.load_model()
        handler.run_inference([windows[:2]], client)        # warm the stand-in's model
        standin.requests.clear()
        started = time.perf_counter()
        handler.run_inference([windows], client)
        compact_s = time.perf_counter() - started
        compact = standin.predict_requests()

        stock = VertexAIModelHandlerJSON(endpoint, "bench", "europe-west1")
        stock_client = stock.load_model()
        instances = [json.loads(encode_window(w)) for w in windows]     # the same numbers as the compact path
        standin.requests.clear()
        started = time.perf_counter()
        for a in range(0, len(instances), STOCK_INSTANCES_PER_REQUEST):
            stock.request(instances[a:a + STOCK_INSTANCES_PER_REQUEST], stock_client)
        stock_s = time.perf_counter() - started
        stocked = standin.predict_requests()

    print("| path | windows | requests | KB per window | ms per window | of which server | request overhead |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(row("local (in-process model)", len(windows), local_s, local_s, 0, 0))
    print(row("compact (callmood)", len(windows), compact_s, sum(r.server_s for r in compact), len(compact),
              sum(r.body_bytes for r in compact)))
    print(row("stock (Beam handler as shipped)", len(windows), stock_s, sum(r.server_s for r in stocked),
              len(stocked), sum(r.body_bytes for r in stocked)))
    print(f"largest request: compact {max(r.body_bytes for r in compact):,} B "
          f"({max(len(r.body['instances']) for r in compact)} windows), stock "
          f"{max(r.body_bytes for r in stocked):,} B ({STOCK_INSTANCES_PER_REQUEST} windows)")


if __name__ == "__main__":
    main()
