"""The emotion model behind Beam's RunInference.

Each example is one turn's stack of windows (n_windows, frames, mels); a batch of
turns becomes ONE model call on all their windows concatenated, and the result is
split back per turn. Beam's stock TensorFlow handler is not used because it loads
SavedModels through tensorflow_hub and handles Keras 3 files poorly (Beam issue
30616); this handler calls the project's own loader.

`scoring_handler` picks this handler (`--scorer local`, the default) or the Vertex AI
one (`--scorer vertex`, beam_pipeline/vertex_scoring.py); both take the same elements
and give the same per-window probabilities, so nothing else in the graph differs.
"""
from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any, Iterable, Optional, Sequence

import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, PredictionResult

from ser_model.inference import EmotionScorer, ModelInfo

if TYPE_CHECKING:
    from beam_pipeline.options import CallmoodOptions


@dataclasses.dataclass(frozen=True)
class ScoringFailure:
    """In place of a turn's probabilities when the model could not score it; its call becomes an error row."""

    reason: str


def windows_in(element: Any) -> int:
    """Batch weight of an element, keyed ((key, windows)) or not: its number of windows."""
    windows = element[1] if isinstance(element, tuple) else element
    return int(len(windows))


class TurnWindowsModelHandler(ModelHandler[np.ndarray, PredictionResult, EmotionScorer]):
    """Turn window stacks in, per-window class probabilities out (one array per turn)."""

    def __init__(self, model_dir: str, *, min_batch_windows: int = 32, max_batch_windows: int = 256):
        # With element_size_fn, BatchElements counts batch sizes in windows, not turns:
        # that is what the model's cost and memory scale with.
        super().__init__(min_batch_size=min_batch_windows, max_batch_size=max_batch_windows,
                         element_size_fn=windows_in)
        self._model_dir = model_dir
        self._score_ms = Metrics.counter("callmood", "stage_ms_score")

    def load_model(self) -> EmotionScorer:
        return EmotionScorer(ModelInfo.read(self._model_dir))

    def run_inference(self, batch: Sequence[np.ndarray], model: EmotionScorer,
                      inference_args: Optional[dict[str, Any]] = None) -> Iterable[PredictionResult]:
        started = time.perf_counter()
        per_turn = model.predict_stacks(batch)
        self._score_ms.inc(int((time.perf_counter() - started) * 1000))
        return [PredictionResult(example=windows, inference=probabilities, model_id=model.info.model_version)
                for windows, probabilities in zip(batch, per_turn)]

    def get_num_bytes(self, batch: Sequence[np.ndarray]) -> int:
        return int(sum(windows.nbytes for windows in batch))

    def get_metrics_namespace(self) -> str:
        return "callmood_scoring"


def keyed_handler(model_dir: str, max_batch_windows: int) -> KeyedModelHandler:
    """The handler the pipeline uses: elements are (TurnRef, windows), keyed by call and turn."""
    return KeyedModelHandler(TurnWindowsModelHandler(model_dir, max_batch_windows=max_batch_windows,
                                                     min_batch_windows=min(32, max_batch_windows)))


def scoring_handler(options: "CallmoodOptions", model_info: ModelInfo) -> KeyedModelHandler:
    """The keyed handler `--scorer` asks for; building the Vertex one checks the endpoint serves this model."""
    if options.scorer == "vertex":
        from beam_pipeline.vertex_scoring import keyed_vertex_handler

        return keyed_vertex_handler(options.vertex_endpoint_name, model_info.model_version, len(model_info.classes),
                                    options.vertex_api_endpoint, options.inference_batch_windows)
    return keyed_handler(options.model_dir, options.inference_batch_windows)
