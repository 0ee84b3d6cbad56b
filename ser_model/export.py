"""Writing the trained model in the forms the product serves it from.

- `callmood_ser.keras`: what the Beam pipeline loads (RunInference with the bundled model).
- a TensorFlow SavedModel whose `serving_default` signature takes `log_mel` windows
  (None, 300, 64) and returns one output, `output_0` (None, n_classes), the class
  probabilities: what a Vertex AI prebuilt TensorFlow container serves.
- `model_metadata.json`: classes, the feature spec and the model version. The version
  is a hash of the weights and the training config, so identical training gives an
  identical version and every output row can be traced to the exact model.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from ser_model.features import FeatureSpec

KERAS_FILE = "callmood_ser.keras"
METADATA_FILE = "model_metadata.json"
SAVED_MODEL_DIR = "saved_model"


def model_version(model, training_config: dict, spec: FeatureSpec, classes: Sequence[str]) -> str:
    """`ser-` plus 12 hex digits of SHA-256 over the weights, the feature spec, the classes and the config."""
    digest = hashlib.sha256()
    for weights in model.get_weights():
        digest.update(np.ascontiguousarray(weights).tobytes())
    digest.update(json.dumps({"config": training_config, "spec": spec.to_dict(), "classes": list(classes)},
                             sort_keys=True, default=str).encode())
    return "ser-" + digest.hexdigest()[:12]


def export_saved_model(model, out_dir: Path) -> Path:
    """SavedModel with a `serving_default` signature, for Vertex AI's prebuilt TF serving containers."""
    path = Path(out_dir) / SAVED_MODEL_DIR
    model.export(str(path), format="tf_saved_model", verbose=False)
    return path


def export_model(model, out_dir: Path, *, classes: Sequence[str], spec: FeatureSpec, training_config: dict,
                 saved_model: bool = True) -> dict:
    """Write the .keras file, metadata and (optionally) the SavedModel; return the metadata."""
    import keras

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # A fresh functional model over the same layers carries no optimizer state: a third
    # of the file size, and nothing the SavedModel exporter trips over.
    model = keras.Model(model.inputs, model.outputs, name=model.name)
    model.save(out_dir / KERAS_FILE)
    metadata = {
        "model_version": model_version(model, training_config, spec, classes),
        "classes": list(classes),
        "feature_spec": spec.to_dict(),
        "parameters": int(model.count_params()),
        "exported_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "training_config": training_config,
    }
    (out_dir / METADATA_FILE).write_text(json.dumps(metadata, indent=2, default=str))
    if saved_model:
        export_saved_model(model, out_dir)
    return metadata
