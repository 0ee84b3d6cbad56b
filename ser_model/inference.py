"""Loading the exported model and scoring windows with it, for the pipeline and `callmood evaluate`.

Scoring calls the Keras model through one traced `tf.function` instead of
`model.predict`: predict sets up a data pipeline per call, which costs more than
the forward pass for the batch sizes RunInference hands over.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from ser_model.export import KERAS_FILE, METADATA_FILE
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


class EmotionScorer:
    """The loaded Keras model: windows in, class probabilities out."""

    def __init__(self, info: ModelInfo, threads: int | None = 1):
        """`threads`: TensorFlow's intra-op threads. One is the cheapest per window; a
        runner gets parallelism from running bundles side by side, not from splitting
        one small batch across cores. None keeps TensorFlow's default."""
        import keras
        import tensorflow as tf

        import ser_model.model  # noqa: F401  (registers the custom layers for deserialisation)

        if threads is not None:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(threads)
            except RuntimeError:  # TensorFlow already started in this process: keep its setting
                pass
        self.info = info
        self._model = keras.saving.load_model(info.model_dir / KERAS_FILE, compile=False)
        self._forward = tf.function(lambda x: self._model(x, training=False), reduce_retracing=True)

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Probabilities, shape (n_windows, n_classes), for float windows (n_windows, frames, mels)."""
        if len(windows) == 0:
            return np.zeros((0, len(self.info.classes)), dtype=np.float32)
        return np.asarray(self._forward(np.asarray(windows, dtype=np.float32)))

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
