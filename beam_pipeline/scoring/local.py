"""The bundled Keras emotion model behind Beam's RunInference (`--scorer local`, the default).

A batch of turns becomes ONE model call on all their windows concatenated, and
the result is split back per turn. Beam's stock TensorFlow handler is not used
because it loads SavedModels through tensorflow_hub and handles Keras 3 files
poorly (Beam issue 30616); this handler calls the project's own loader.
"""
from __future__ import annotations

import time
from typing import Any, Iterable, Optional, Sequence

import numpy as np
from apache_beam.ml.inference.base import KeyedModelHandler, PredictionResult

from beam_pipeline.scoring.base import TurnWindowsHandler
from ser_model.inference import EmotionScorer, ModelInfo


class TurnWindowsModelHandler(TurnWindowsHandler[EmotionScorer]):
    """Turn window stacks in, per-window class probabilities out (one array per turn), scored in process."""

    def __init__(self, model_dir: str, *, min_batch_windows: int = 32, max_batch_windows: int = 256):
        super().__init__(min_batch_windows=min_batch_windows, max_batch_windows=max_batch_windows)
        self._model_dir = model_dir

    def load_model(self) -> EmotionScorer:
        return EmotionScorer(ModelInfo.read(self._model_dir))

    def run_inference(self, batch: Sequence[np.ndarray], model: EmotionScorer,
                      inference_args: Optional[dict[str, Any]] = None) -> Iterable[PredictionResult]:
        started = time.perf_counter()
        per_turn = model.predict_stacks(batch)
        self._score_ms.inc(int((time.perf_counter() - started) * 1000))
        return [PredictionResult(example=windows, inference=probabilities, model_id=model.info.model_version)
                for windows, probabilities in zip(batch, per_turn)]


def keyed_local_handler(model_dir: str, max_batch_windows: int) -> KeyedModelHandler:
    """The handler the pipeline uses: elements are (TurnRef, windows), keyed by call and turn."""
    return KeyedModelHandler(TurnWindowsModelHandler(model_dir, max_batch_windows=max_batch_windows,
                                                     min_batch_windows=min(32, max_batch_windows)))
