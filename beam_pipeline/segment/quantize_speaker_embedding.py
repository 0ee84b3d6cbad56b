"""An int8 copy of the CAM++ ONNX model (its convolutions only), calibrated on telephone speech of tuning voices.

    .venv/bin/pip install onnx        # for this script only; the product needs onnxruntime alone
    .venv/bin/python beam_pipeline/segment/quantize_speaker_embedding.py [--data-root ../shared/data] [--out PATH]

Static QDQ quantization by onnxruntime: Conv weights int8 per output channel, their
inputs uint8 with ranges from calibration (min-max); batch norms, the context masks'
sigmoids, pooling and the last layer stay float. Calibration windows are 1.5 s of
clips of `benchmarks.simulated_calls.CAMPPLUS_TUNING_SPEAKERS` (never a held-out voice)
through `ser_model.augment.telephone_channel` (G.711, line noise), featurised by
`beam_pipeline.segment.speaker_embedding.kaldi_fbank` as the diarizer does. It prints the
cosine between the float and int8 embeddings of held-back calibration windows and the
CPU time of each per second of input.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from beam_pipeline.segment import speaker_embedding as se  # noqa: E402
from benchmarks.simulated_calls import (CAMPPLUS_TUNING_SPEAKERS, DEFAULT_DATA_ROOT, read_manifest,  # noqa: E402
                                        trimmed_speech)
from ser_model.augment import telephone_channel  # noqa: E402

DEFAULT_OUT = se.INT8_MODEL_PATH


def calibration_windows(data_root: Path, per_speaker: int = 6, seed: int = 16) -> np.ndarray:
    clips = read_manifest(data_root)
    rng = np.random.default_rng(seed)
    windows = []
    for speaker in CAMPPLUS_TUNING_SPEAKERS:
        chosen = rng.permutation(len(clips[speaker]))
        speech = np.concatenate([trimmed_speech(clips[speaker][i].path) for i in chosen[:12]])
        line = telephone_channel(speech, 16000, codec=("mulaw", "alaw")[len(windows) % 2],
                                 noise_dbfs=float(rng.uniform(-60, -45)), rng=rng)
        fbank = se.kaldi_fbank(line)
        if fbank.shape[0] < 150:
            continue
        starts = np.linspace(0, fbank.shape[0] - 150, per_speaker).round().astype(np.int64)
        windows.append(se.normalised_windows(fbank, starts, 150))
    return np.concatenate(windows).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=se.FLOAT_MODEL_PATH)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    args = parser.parse_args()

    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    windows = calibration_windows(args.data_root)
    rng = np.random.default_rng(0)
    order = rng.permutation(windows.shape[0])
    held_back, calibration = windows[order[:24]], windows[order[24:]]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.position = 0

        def get_next(self):
            if self.position >= calibration.shape[0]:
                return None
            self.position += 4
            return {"features": calibration[self.position - 4: self.position]}

    with tempfile.TemporaryDirectory() as folder:
        prepared = Path(folder) / "prepared.onnx"
        quant_pre_process(str(args.source), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(args.out), Reader(), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=["Conv"], per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8)
    full, small = se.SpeakerEmbeddingModel(args.source), se.SpeakerEmbeddingModel(args.out)
    a, b = full.embed(held_back), small.embed(held_back)
    cosine = np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    print(f"calibration windows {calibration.shape[0]}, held back {held_back.shape[0]}: cosine float / int8 "
          f"min {cosine.min():.4f}, mean {cosine.mean():.4f}")
    for name, model in (("float", full), ("int8", small)):
        model.embed(held_back[:8])
        started = time.process_time()
        model.embed(held_back)
        seconds = time.process_time() - started
        print(f"{name}: {1000 * seconds / (held_back.shape[0] * 1.5):.2f} ms CPU per second of input")
    print(f"wrote {args.out} ({args.out.stat().st_size / 2 ** 20:.1f} MiB)")


if __name__ == "__main__":
    main()
