"""What a turn scorer is, whichever model answers: the interface the local model and Vertex AI both implement.

A scorer is a Beam `ModelHandler` whose example is one turn's stack of log-mel
windows (n_windows, frames, mels) and whose inference is that turn's per-window
class probabilities (n_windows, n_classes), or a `ScoringFailure` when the model
could not answer (the call then becomes an errors row, never a failed night).
Batches are counted in windows, not turns, because that is what a forward pass
costs and what a request carries; everything after RunInference relies only on
this contract, so the graph does not change with `--scorer`.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Generic, Sequence, TypeVar

import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

ModelT = TypeVar("ModelT")


@dataclasses.dataclass(frozen=True)
class ScoringFailure:
    """In place of a turn's probabilities when the model could not score it; its call becomes an error row."""

    reason: str


def windows_in(element: Any) -> int:
    """Batch weight of an element, keyed ((key, windows)) or not: its number of windows."""
    windows = element[1] if isinstance(element, tuple) else element
    return int(len(windows))


class TurnWindowsHandler(ModelHandler[np.ndarray, PredictionResult, ModelT], Generic[ModelT]):
    """Turn window stacks in, per-window class probabilities (or a `ScoringFailure`) out, one result per turn.

    Subclasses load their model (`load_model`) and score a batch (`run_inference`),
    adding the time they spend to `self._score_ms`, the job's "score" stage.
    """

    def __init__(self, *, min_batch_windows: int = 32, max_batch_windows: int = 256):
        # With element_size_fn, BatchElements counts batch sizes in windows, not turns.
        super().__init__(min_batch_size=min_batch_windows, max_batch_size=max_batch_windows,
                         element_size_fn=windows_in)
        self._score_ms = Metrics.counter("callmood", "stage_ms_score")

    def get_num_bytes(self, batch: Sequence[np.ndarray]) -> int:
        return int(sum(windows.nbytes for windows in batch))

    def get_metrics_namespace(self) -> str:
        return "callmood_scoring"
