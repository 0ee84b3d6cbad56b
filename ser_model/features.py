"""Log-mel features: the one definition shared by training, evaluation and the pipeline.

Training and scoring must see identical inputs, so every caller goes through
`window_features`. The mel band stops at 4 kHz on purpose: call recordings are
narrow-band telephone audio (nothing above ~3.4 kHz survives the channel), so a model
that learned cues from 4-8 kHz on studio clips would lose them on every real call.
Subtracting the window's mean level removes the recording's gain, which says
nothing about emotion. The spectral envelope is kept: its tilt is one of the
strongest cues to arousal (anger and joy push energy up the spectrum), and the
telephone channel's own colouring is taught by augmentation instead.
"""
from __future__ import annotations

import dataclasses
import functools

import librosa
import numpy as np
import scipy.fft
import scipy.signal
import scipy.sparse

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad")


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
    """How audio becomes model input; stored beside the model so scoring cannot drift."""

    sample_rate_hz: int = 16000
    n_fft: int = 512
    win_length: int = 400          # 25 ms
    hop_length: int = 160          # 10 ms
    n_mels: int = 64
    fmin_hz: float = 60.0
    fmax_hz: float = 4000.0
    window_frames: int = 300       # 3.0 s per model window
    min_window_frames: int = 50    # a tail shorter than 0.5 s is not scored on its own
    floor_db: float = -80.0
    revision: int = 2              # bump when the computation changes, so caches and models notice

    @property
    def window_s(self) -> float:
        return self.window_frames * self.hop_length / self.sample_rate_hz

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


DEFAULT_SPEC = FeatureSpec()


@functools.lru_cache(maxsize=4)
def _mel_basis(spec: FeatureSpec) -> scipy.sparse.csr_matrix:
    """(n_mels, n_bins) filterbank as a sparse matrix, built once per spec.

    Each triangular filter spans a handful of FFT bins, so a sparse product is a
    few per cent of the dense one, and it runs in scipy's own loop: a dense float32
    matmul this small goes to multi-threaded BLAS, whose thread hand-off costs far
    more CPU than the arithmetic. Bins above the highest filter (fmax is 4 kHz) are
    dropped: no power needs computing there.
    """
    basis = librosa.filters.mel(sr=spec.sample_rate_hz, n_fft=spec.n_fft, n_mels=spec.n_mels,
                                fmin=spec.fmin_hz, fmax=spec.fmax_hz)
    n_bins = int(np.flatnonzero(basis.any(axis=0))[-1]) + 1
    return scipy.sparse.csr_matrix(basis[:, :n_bins].astype(np.float32))


@functools.lru_cache(maxsize=4)
def _analysis_window(spec: FeatureSpec) -> np.ndarray:
    return scipy.signal.get_window("hann", spec.win_length, fftbins=True).astype(np.float32)


def log_mel(samples: np.ndarray, spec: FeatureSpec = DEFAULT_SPEC) -> np.ndarray:
    """Log-mel spectrogram of mono float audio at `spec.sample_rate_hz`.

    Numerically what `librosa.feature.melspectrogram(center=False)` computes (a test
    holds the two together), but framed with a strided view and one batched real FFT,
    which is several times faster on the short turns the pipeline feeds it.

    Returns
    -------
    np.ndarray, float32, shape (n_frames, n_mels), in dB re. full scale, floored at
    `spec.floor_db` so digital silence does not produce -inf.
    """
    samples = np.asarray(samples, dtype=np.float32)
    if samples.size < spec.n_fft:
        samples = np.pad(samples, (0, spec.n_fft - samples.size))
    # librosa centres a win_length window inside each n_fft frame; a frame's magnitude
    # spectrum does not depend on where the zero padding goes, only the start does.
    offset = (spec.n_fft - spec.win_length) // 2
    frames = np.lib.stride_tricks.sliding_window_view(samples, spec.n_fft)[::spec.hop_length,
                                                                            offset:offset + spec.win_length]
    basis = _mel_basis(spec)
    # Windowed straight into a zero-padded n_fft buffer: rfft(n=n_fft) would copy every frame again to pad it.
    windowed = np.zeros((frames.shape[0], spec.n_fft), dtype=np.float32)
    np.multiply(frames, _analysis_window(spec), out=windowed[:, : spec.win_length])
    spectrum = scipy.fft.rfft(windowed, axis=1, workers=1)[:, : basis.shape[1]]
    # Floor the power (at -140 dB, far below `floor_db`): near-silent bins of telephone
    # audio would otherwise be float32 denormals, which make every later operation on
    # them tens of times slower.
    power = np.maximum(spectrum.real ** 2 + spectrum.imag ** 2, 1e-14)
    mel_db = 10.0 * np.log10(np.maximum((basis @ power.T).T, 1e-10))
    return np.maximum(mel_db, spec.floor_db).astype(np.float32)


def normalise_window(mel_db: np.ndarray, spec: FeatureSpec = DEFAULT_SPEC) -> np.ndarray:
    """Subtract the window's mean level, scale, and zero-pad to a full window.

    Padding with zeros after normalisation makes a short turn look like "no
    information" rather than like loud silence, so its prediction is driven by the
    frames it actually has.
    """
    frames = mel_db[: spec.window_frames]
    centred = (frames - frames.mean()) / 20.0
    out = np.zeros((spec.window_frames, spec.n_mels), dtype=np.float32)
    out[: centred.shape[0]] = centred
    return out


def window_bounds(n_frames: int, spec: FeatureSpec = DEFAULT_SPEC) -> list[tuple[int, int]]:
    """Cut `n_frames` into non-overlapping model windows.

    Non-overlapping windows keep scoring cost at one window per 3 s of speech. A
    tail shorter than `min_window_frames` joins the previous window's decision by
    being dropped, unless it is all there is.
    """
    bounds = []
    for start in range(0, max(n_frames, 1), spec.window_frames):
        end = min(start + spec.window_frames, n_frames)
        if end - start >= spec.min_window_frames or not bounds:
            bounds.append((start, end))
    return bounds


def window_features(samples: np.ndarray, spec: FeatureSpec = DEFAULT_SPEC) -> tuple[np.ndarray, np.ndarray]:
    """Model windows for one stretch of speech (a turn, or a training clip).

    Returns
    -------
    windows : float32 array (n_windows, window_frames, n_mels)
    weights : float32 array (n_windows,), the share of real frames in each window,
        used to weight window probabilities when they are combined per turn.
    """
    mel_db = log_mel(samples, spec)
    bounds = window_bounds(mel_db.shape[0], spec)
    windows = np.stack([normalise_window(mel_db[a:b], spec) for a, b in bounds])
    weights = np.array([(b - a) / spec.window_frames for a, b in bounds], dtype=np.float32)
    return windows, weights


def combine_window_probabilities(probabilities: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """One distribution per turn: the frame-weighted mean of its windows' distributions.

    A mean of probabilities (not of logits) stays a distribution and lets one
    confident window move the turn without letting it decide alone.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    combined = (probabilities * weights[:, None]).sum(axis=0) / weights.sum()
    return combined / combined.sum()
