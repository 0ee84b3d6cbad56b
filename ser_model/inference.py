"""Loading the exported model and scoring windows with it, for the pipeline and `callmood evaluate`.

Scoring runs the model's TensorFlow Lite copy (`callmood_ser.tflite`, written beside the
Keras file by `ser_model.export`) in LiteRT's interpreter, not Keras: importing TensorFlow
and loading the Keras model cost every worker process ~4 s of CPU before its first call
(the interpreter: 0.2 s), and the interpreter's cost per window is the same
(`benchmarks/ser_scoring_cost.py`). Batches go through in chunks of `_CHUNK_WINDOWS`, the
cheapest size measured, so the interpreter's working memory stays that of one chunk.
"""
from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from ser_model.export import METADATA_FILE, TFLITE_FILE
from ser_model.features import FeatureSpec

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "artifacts"


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What the pipeline needs to know about a model without loading TensorFlow."""

    model_dir: Path
    model_version: str
    classes: tuple[str, ...]
    spec: FeatureSpec

    @classmethod
    def read(cls, model_dir: Path | str = DEFAULT_MODEL_DIR) -> "ModelInfo":
        model_dir = Path(model_dir)
        metadata_path = model_dir / METADATA_FILE
        if not metadata_path.exists():
            raise FileNotFoundError(f"no model at {model_dir}: {METADATA_FILE} is missing")
        metadata = json.loads(metadata_path.read_text())
        return cls(model_dir=model_dir, model_version=metadata["model_version"],
                   classes=tuple(metadata["classes"]), spec=FeatureSpec(**metadata["feature_spec"]))


_CHUNK_WINDOWS = 32               # windows per interpreter call: 0.31 ms each, against 0.36 ms at 64


class EmotionScorer:
    """The exported model in a LiteRT interpreter: windows in, class probabilities out."""

    def __init__(self, info: ModelInfo, threads: int | None = 1):
        """`threads`: the interpreter's threads. One is the cheapest per window; a runner
        gets parallelism from running bundles side by side, not from splitting one small
        batch across cores. None keeps LiteRT's default."""
        from ai_edge_litert.interpreter import Interpreter

        path = info.model_dir / TFLITE_FILE
        if not path.exists():
            raise FileNotFoundError(f"no model at {info.model_dir}: {TFLITE_FILE} is missing "
                                    f"(python -m ser_model.export {info.model_dir} writes it from the .keras file)")
        self.info = info
        self._interpreter = Interpreter(model_path=str(path), num_threads=threads)
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._shape: tuple[int, ...] | None = None
        self._lock = threading.Lock()            # one interpreter, and RunInference may share it across threads

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Probabilities, shape (n_windows, n_classes), for float windows (n_windows, frames, mels)."""
        windows = np.ascontiguousarray(windows, dtype=np.float32)
        if len(windows) == 0:
            return np.zeros((0, len(self.info.classes)), dtype=np.float32)
        with self._lock:
            return np.concatenate([self._invoke(windows[i: i + _CHUNK_WINDOWS])
                                   for i in range(0, len(windows), _CHUNK_WINDOWS)])

    def _invoke(self, chunk: np.ndarray) -> np.ndarray:
        if chunk.shape != self._shape:
            self._interpreter.resize_tensor_input(self._input, chunk.shape)
            self._interpreter.allocate_tensors()
            self._shape = chunk.shape
        self._interpreter.set_tensor(self._input, chunk)
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output).copy()

    def predict_stacks(self, stacks: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Per-window probabilities for several turns' window stacks, in ONE model call.

        Batching whole turns together is what keeps the model's fixed cost per call
        small; the result is split back so each turn gets its own windows' rows.
        """
        return split_stacks(self.predict(np.concatenate(stacks)), stacks)


def split_stacks(rows: np.ndarray, stacks: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Per-window `rows` of `np.concatenate(stacks)`, split back into one block per stack."""
    offsets = np.cumsum([0] + [len(stack) for stack in stacks])
    return [rows[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
