"""Writing the trained model in the forms the product serves it from.

- `callmood_ser.keras`: the trained Keras model, what training, fine-tuning and the
  SavedModel start from.
- `callmood_ser.tflite`: the same graph and weights converted by TensorFlow's own
  converter, what the Beam pipeline scores with (RunInference with the bundled model,
  through LiteRT's interpreter): a worker then starts in 0.2 s instead of the ~4 s of
  importing TensorFlow and loading Keras, at the same cost per window (outputs within 1e-6).
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
TFLITE_FILE = "callmood_ser.tflite"
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


def export_tflite(model, out_dir: Path) -> Path:
    """The model as a TensorFlow Lite flatbuffer (float32, no quantisation: the scores must match the Keras model's)."""
    import tensorflow as tf

    path = Path(out_dir) / TFLITE_FILE
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return path


def export_model(model, out_dir: Path, *, classes: Sequence[str], spec: FeatureSpec, training_config: dict,
                 saved_model: bool = True) -> dict:
    """Write the .keras and .tflite files, metadata and (optionally) the SavedModel; return the metadata."""
    import keras

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # A fresh functional model over the same layers carries no optimizer state: a third
    # of the file size, and nothing the SavedModel exporter trips over.
    model = keras.Model(model.inputs, model.outputs, name=model.name)
    model.save(out_dir / KERAS_FILE)
    export_tflite(model, out_dir)
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


def main(argv: Sequence[str] | None = None) -> None:
    """Re-derives the .tflite file of an exported model from its .keras file (the shipped one was made so)."""
    import argparse

    import keras

    import ser_model.model  # noqa: F401  (registers the custom layers for deserialisation)

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("model_dir", type=Path, nargs="?", default=Path(__file__).resolve().parent / "artifacts")
    args = parser.parse_args(argv)
    model = keras.saving.load_model(args.model_dir / KERAS_FILE, compile=False)
    print(f"wrote {export_tflite(model, args.model_dir)}")


if __name__ == "__main__":
    main()
