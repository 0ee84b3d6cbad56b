"""Diarization of mono call recordings: which stretches of speech belong to which speaker.

A stereo call has one side per channel; a mono recording has both voices in one
signal, so the segmentation stage must find the voices itself. Two diarizers, chosen
by `DiarizationOptions.method`, share the voice activity, the speech-edge padding,
the naming and the turn cutting:

``"campplus"`` (the default): a pretrained speaker embedding, CAM++ (3D-Speaker,
Apache-2.0, shipped as ONNX: `beam_pipeline.segment.speaker_embedding`, `speaker_models/`):

1. voice activity: `speech_frames`;
2. windows: each run of speech (runs under `merge_gap_s` apart joined) gets its own
   Kaldi fbank and windows of `window_s` every `hop_s`, flush with both ends; a run
   shorter than a window is one window of its own length down to `min_window_s`
   (`embed_speech_windows`). Only speech is embedded; windows of one length run in
   one batch; a call with more than `max_windows` has its hop stretched;
3. embeddings: CAM++ (192 values), unit length, then the shipped normalisation
   (`campplus_normalisation.npz`, `speaker_embedding.EmbeddingNormalisation`): minus the
   centre of the embedding space (the mean over telephone speech of the tuning voices),
   unit length, whitened against the within-speaker covariance of emotional telephone
   speech of other development voices (so one voice's moods spread less), unit length;
4. clustering of the windows of at least `min_cluster_window_s` (`speaker_centroids`,
   `cluster_windows`, `split_windows`): spherical k-means on cosine from three
   deterministic starts (average linkage, the first principal component, farthest
   points), the best kept, so a lone odd window is never a speaker of its own; the
   count is `num_speakers` when given, else read from how alike the split's centroids
   are (`two_speaker_similarity`, `three_speaker_similarity`, tuned on tuning voices only:
   `benchmarks/tune_campplus.py`); a cluster under `min_speaker_share` is folded;
5. frame labels (`window_frame_labels`): every speech frame scores each speaker by the
   mean cosine of the windows covering it to that speaker's centroid; a Viterbi pass
   per run of speech with `window_switch_penalty` per change places a change of
   speaker inside a run; speech no window covers takes its nearest neighbour's speaker;
6. speech edges (`pad_speech`), names, turns: as below.

Why a pretrained embedding: the project's own corpora hold too few voices to learn
one (see `docs/studies/diarization_cepstral.md`), and CAM++ tells voices apart where a
cepstral mean cannot. What was measured, against the cepstral diarizer on the same
held-out calls, is in `docs/studies/diarization_campplus.md`; in short, the count is
the weak part, so a deployment that knows its calls are two-party should pass it.

``"cepstral"`` (the older, ~20x cheaper one): kept for deployments whose CPU budget cannot afford an embedding
network; it confuses voices of the same sex far more often (see
`benchmarks/diarization_der.py` for both on the same calls). Its steps, all on
the 20 ms frame grid the voice-activity detector (`turns.speech_frames`) uses:

1. voice activity: `speech_frames`, the same detector the stereo path uses;
2. speaker features: 19 cepstral coefficients of each speech frame over 32 bands
   equally spaced in Hz across the telephone band (200-3600 Hz; `linear_filterbank`),
   minus the call's mean (which removes the line's colouring, common to both voices);
3. segments: each run of speech cut into pieces of at most `segment_s`; a speaker
   change inside a run (the next side starting without a pause) is left to step 6;
4. speaker embedding of each segment (`SpeakerEmbedder`, ~0.1 MB beside this module,
   `diarization_embedder.npz`, fitted by `beam_pipeline/segment/train_speaker_embedder.py` on
   development speakers only): the segment's cepstral mean whitened by the
   within-speaker covariance (WCCN: how one voice's segment means vary across all
   its moods, sentences, phone lines and codecs), and, to count only, a small
   network's embedding of its mel cepstra (trained to name the development
   speakers; on new voices it mostly tells a man from a woman);
5. clustering of the whitened means on cosine similarity, each split made two
   ways, by average-linkage agglomerative clustering and by spectral clustering
   with NME-SC's auto-tuned pruning (`spectral_partition`), keeping the better
   separated (`separation`; see `cluster_embeddings` for why). The count is `num_speakers` when known, else 2 when the
   call's whitened means spread more than one voice does (`spread_threshold`) or
   the network splits them clearly (`network_threshold`), 3 when two clusters
   still spread too far (`third_speaker_spread`), capped at `max_speakers`;
   thresholds tuned on development calls;
6. resegmentation: each speaker's cepstral frames modelled by one full-covariance
   Gaussian, frame log-likelihoods smoothed over `smoothing_s` and a Viterbi pass
   with a penalty per change of speaker, so boundaries land on frames rather than
   segment edges and a change inside a run of speech is found;
7. speech edges: every run of speech grown by up to `speech_padding_s` into the
   pause beside it (`pad_speech`), where the VAD misses quiet onsets and tails;
8. turns: each speaker's frames cut into turns by `turns.speaker_turns` (the same
   gap merging, minimum and maximum lengths, loudness and pitch as stereo).

Why the whitened mean, and why so small: on acted emotional speech a call's
sentences group by mood as readily as by voice, and no speaker network learnt
from the 15 development voices the data rule leaves generalised beyond sex;
whitening by the within-speaker covariance needs many segments per voice, not
many voices. Segmentation runs on every second of every call, so this stage is
held to about 0.4 ms of CPU per second of audio. The measurements behind each
step (DER tables, what was tried and not kept) are in
`docs/studies/diarization_cepstral.md`; `benchmarks/diarization_der.py` re-measures.

Speakers are named ``speaker_0``, ``speaker_1``, ... in order of first speech. With
`DiarizationOptions.first_speaker_role` the first speaker of a two-speaker call is
called ``agent`` and the other ``customer``: that holds for inbound queues where the
agent answers with a greeting, not for outbound calls (the customer answers "hello"
first), so it is off unless a deployment knows its calls are inbound.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from pathlib import Path

import librosa
import numpy as np
import scipy.cluster.hierarchy
import scipy.fft
import scipy.linalg

from beam_pipeline.segment.speaker_embedding import SpeakerEmbeddingModel
from beam_pipeline.segment.turns import Turn, TurnOptions, speaker_turns, speech_frames

DEFAULT_EMBEDDER_PATH = Path(__file__).resolve().with_name("diarization_embedder.npz")

# --- speaker features
_ANALYSIS_WINDOW_S = 0.032        # 512 samples at 16 kHz, centred on each 20 ms VAD frame
_BANDS = 32                       # filterbank bands: ~100 Hz apart (linear_filterbank), or mel for the network
_FMIN_HZ = 200.0                  # the telephone band: nothing below 300 Hz survives a phone line ...
_FMAX_HZ = 3600.0                 # ... nor above 3400 Hz
_N_CEPSTRA = 19                   # c1..c19; c0 (loudness) is left out: it follows the line's gain, not the voice
_LOG_FLOOR = 1e-10

# --- clustering
_MAX_LINKAGE_SEGMENTS = 2000      # ~50 min of speech in 1.5 s segments; longer calls are clustered on a sample
_MAX_SPECTRAL_SEGMENTS = 200      # ~7 min of speech in 2 s segments (each pruning tried costs an n x n
                                  # eigendecomposition); longer calls are split, both ways, on a sample
_MAX_PRUNING_TRIALS = 24          # pruning levels tried by `spectral_embedding` (all of them up to n = 48 segments)

# --- resegmentation
_RESEGMENT_BLOCK_S = 0.1          # speaker changes are placed to 100 ms (the collar of a DER is 250 ms)


@dataclasses.dataclass(frozen=True)
class DiarizationOptions:
    """How a mono recording is split into speakers.

    The defaults are the settings measured in `benchmarks/diarization_der.py`;
    `spread_threshold`, `segment_s`, `switch_penalty` and `speech_padding_s` were tuned, and `clustering`
    chosen, on development speakers only.
    """

    num_speakers: int | None = None      # the count when known (e.g. every call of a queue is two-party)
    max_speakers: int = 3                # estimated counts are capped here
    segment_s: float = 2.0               # longest piece of a speech run embedded as one unit
    min_segment_s: float = 0.3           # shorter pieces are not clustered, only resegmented
    spread_threshold: float = 0.14       # a call whose segments spread further (see residual_spread) has 2+ voices
    third_speaker_spread: float = 0.45   # ... and 3+ if its two clusters still spread further than this
    network_threshold: float = 0.4       # ... or as many as the network embeddings form at this cosine distance
    min_speaker_share: float = 0.05      # a cluster with less of the speech than this joins its nearest
    clustering: str = "both"             # how segments are split: "average" (average-linkage agglomerative
                                         # clustering), "spectral" (`spectral_partition`), or "both": each
                                         # split by both, the one that `separation` prefers kept
    smoothing_s: float = 0.5             # resegmentation: frame log-likelihoods averaged over this span
    switch_penalty: float = 10.0         # resegmentation: log-likelihood cost of a change of speaker
    resegment_iterations: int = 2
    speech_padding_s: float = 0.2        # each speech run is extended by up to this (the VAD misses quiet edges)
    first_speaker_role: bool = False     # two speakers: the first is "agent", the other "customer"
    # --- which diarizer: "campplus" (CAM++ embeddings of speech windows, `diarize_campplus`) or "cepstral"
    # (the whitened cepstral means above, steps 2-6 of the module docstring)
    method: str = "campplus"
    window_s: float = 1.5                # CAM++: length of an embedded window of speech
    hop_s: float = 0.75                  # ... and the step between windows inside a run of speech
    min_window_s: float = 0.25           # ... runs shorter than this are not embedded (nearest speaker)
    min_cluster_window_s: float = 1.0    # ... shorter windows are labelled by the clusters, not clustered
    merge_gap_s: float = 0.3             # ... runs of speech closer than this are windowed as one
    max_windows: int = 4000              # ... a longer call's windows are spaced out to this many
    two_speaker_similarity: float = 0.50   # ... 2+ voices when the 2-way split's centroids are less alike
    three_speaker_similarity: float = 0.44  # ... 3 when every pair of the 3-way split's centroids is less alike
    window_switch_penalty: float = 0.0   # ... Viterbi cost (cosine x frames) of a change of speaker in a run
                                         # (0-4 measured within 0.5 points on the tuning calls; 0 was lowest)


@dataclasses.dataclass(frozen=True)
class Diarization:
    """Speaker of every VAD frame of a recording."""

    frame_s: float
    labels: np.ndarray                   # int per frame: speaker index, -1 where nobody speaks
    speakers: tuple[str, ...]            # name of each speaker index

    @property
    def n_speakers(self) -> int:
        return len(self.speakers)

    def speech_by_speaker(self) -> np.ndarray:
        """bool (n_speakers, n_frames): the frames of each speaker."""
        return self.labels[np.newaxis, :] == np.arange(self.n_speakers)[:, np.newaxis]

    def segments(self) -> list[tuple[float, float, str]]:
        """(start_s, end_s, speaker) of each run of one speaker's frames, in time order (RTTM-ready)."""
        edges = np.flatnonzero(np.diff(self.labels)) + 1
        starts = np.concatenate(([0], edges))
        ends = np.concatenate((edges, [self.labels.size]))
        return [(round(float(s) * self.frame_s, 6), round(float(e) * self.frame_s, 6), self.speakers[self.labels[s]])
                for s, e in zip(starts, ends) if self.labels[s] >= 0]


# --------------------------------------------------------------------------- features

def linear_filterbank(sample_rate_hz: int, n_fft: int) -> np.ndarray:
    """(n_fft // 2 + 1, _BANDS) triangular bands of unit peak, centres equally spaced over _FMIN_HZ.._FMAX_HZ.

    Equal spacing in Hz rather than mel: the mel scale spends its resolution
    below 1 kHz, on the first formant and the pitch harmonics, which move with
    mood; a voice's own resonances (vocal-tract length, the upper formants) sit
    at 2-3.5 kHz. On the tuning calls (count given, whitening refitted for each
    front end), segments of a call's two voices were clustered 97 % right in
    mixed-sex calls and 85 % in same-sex ones with these bands, against 91 % and
    86 % with 32 mel bands (with a whitening fitted on G.711 lines only: 98 % and
    88 % against 94 % and 87 %).
    """
    bin_hz = np.arange(n_fft // 2 + 1) * sample_rate_hz / n_fft
    edges_hz = np.linspace(_FMIN_HZ, min(_FMAX_HZ, sample_rate_hz / 2), _BANDS + 2)
    low, centre, high = edges_hz[:-2, np.newaxis], edges_hz[1:-1, np.newaxis], edges_hz[2:, np.newaxis]
    rising = (bin_hz - low) / (centre - low)
    falling = (high - bin_hz) / (high - centre)
    return np.maximum(np.minimum(rising, falling), 0.0).T


@functools.lru_cache(maxsize=4)
def _cepstral_basis(sample_rate_hz: int, n_fft: int, scale: str) -> tuple[int, np.ndarray, np.ndarray]:
    """(bins used, filterbank (bins, bands), DCT (bands, cepstra)) for one FFT size and band `scale`.

    The filterbank is cut to the bins it touches (below 3.6 kHz, under half of
    them at 16 kHz) and the DCT is a precomputed matrix, so a frame costs one
    short matrix product per step.
    """
    if scale not in ("linear", "mel"):
        raise ValueError(f"scale must be 'linear' or 'mel', got {scale!r}")
    if scale == "linear":
        bands = linear_filterbank(sample_rate_hz, n_fft).astype(np.float32)
    else:
        bands = librosa.filters.mel(sr=sample_rate_hz, n_fft=n_fft, n_mels=_BANDS, fmin=_FMIN_HZ,
                                    fmax=min(_FMAX_HZ, sample_rate_hz / 2)).T.astype(np.float32)
    used_bins = int(np.flatnonzero(bands.any(axis=1)).max()) + 1
    # row j is the DCT of a unit impulse in band j, so log_bands @ dct is the DCT of each row of log_bands
    dct = scipy.fft.dct(np.eye(_BANDS), type=2, norm="ortho", axis=1)[:, 1:_N_CEPSTRA + 1]
    return used_bins, bands[:used_bins], dct.astype(np.float32)


def _n_fft(sample_rate_hz: int) -> int:
    """The FFT size: the power of two that holds a 32 ms analysis window."""
    return 1 << int(math.ceil(math.log2(_ANALYSIS_WINDOW_S * sample_rate_hz)))


@functools.lru_cache(maxsize=4)
def _hann(n: int) -> np.ndarray:
    return np.hanning(n).astype(np.float32)


def frame_power(samples: np.ndarray, sample_rate_hz: int, frames: np.ndarray,
                frame_s: float = 0.02) -> np.ndarray:
    """Power spectra (n_frames, bins up to _FMAX_HZ) of the given frames: what `cepstra` projects.

    Parameters
    ----------
    samples : float 1-D audio.
    sample_rate_hz : its rate (>= 8 kHz).
    frames : indices of `frame_s` frames to analyse (the speech frames): only these
        are transformed, which is most of the cost saved on a call with pauses.
    frame_s : the frame grid (the VAD's).

    Each frame is analysed over a 32 ms Hann window centred on it (longer than the
    20 ms frame, for a spectral resolution of ~30 Hz), in one batched FFT. Kept
    apart from the band projection so that one FFT serves both band scales.
    """
    samples = np.asarray(samples, dtype=np.float32)
    frames = np.asarray(frames, dtype=np.int64)
    n_fft = _n_fft(sample_rate_hz)
    used_bins = max(_cepstral_basis(sample_rate_hz, n_fft, scale)[0] for scale in ("linear", "mel"))
    if frames.size == 0 or samples.size < n_fft:
        return np.zeros((0, used_bins), dtype=np.float32)
    frame_length = int(round(frame_s * sample_rate_hz))
    starts = np.clip(frames * frame_length + frame_length // 2 - n_fft // 2, 0, samples.size - n_fft)
    windows = np.lib.stride_tricks.sliding_window_view(samples, n_fft)[starts]
    windows *= _hann(n_fft)
    spectrum = scipy.fft.rfft(windows, axis=-1, workers=1)[:, :used_bins]
    return np.square(spectrum.real) + np.square(spectrum.imag)


def cepstra(power: np.ndarray, sample_rate_hz: int, scale: str = "linear") -> np.ndarray:
    """Cepstra c1..c19 of `frame_power` rows over `linear_filterbank` (or mel bands), float32 (n_frames, 19).

    scale : "linear" (what the whitened means and resegmentation use) or "mel"
        (32 mel bands over the same range: what the speaker network was trained on).
    """
    used_bins, bands, dct = _cepstral_basis(sample_rate_hz, _n_fft(sample_rate_hz), scale)
    if power.shape[0] == 0:
        return np.zeros((0, _N_CEPSTRA), dtype=np.float32)
    log_bands = np.log(power[:, :used_bins] @ bands + _LOG_FLOOR)
    return log_bands @ dct


def speaker_features(samples: np.ndarray, sample_rate_hz: int, frames: np.ndarray,
                     frame_s: float = 0.02, scale: str = "linear") -> np.ndarray:
    """`cepstra` of the `frame_power` of the given frames: the speaker features of one band scale."""
    return cepstra(frame_power(samples, sample_rate_hz, frames, frame_s), sample_rate_hz, scale)


def segment_statistics(features: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Mean and standard deviation of `features` rows over each [start, end) of `bounds` ((n, 2) ints).

    Cumulative sums, so the cost does not grow with the number of segments.
    """
    features = np.asarray(features, dtype=np.float64)
    bounds = np.asarray(bounds, dtype=np.int64).reshape(-1, 2)
    zero = np.zeros((1, features.shape[1]))
    first = np.concatenate((zero, np.cumsum(features, axis=0)))
    second = np.concatenate((zero, np.cumsum(features * features, axis=0)))
    count = (bounds[:, 1] - bounds[:, 0])[:, np.newaxis].astype(np.float64)
    mean = (first[bounds[:, 1]] - first[bounds[:, 0]]) / count
    variance = (second[bounds[:, 1]] - second[bounds[:, 0]]) / count - mean * mean
    return np.hstack((mean, np.sqrt(np.maximum(variance, 1e-8)))).astype(np.float32)


# --------------------------------------------------------------------------- embedding

@dataclasses.dataclass(frozen=True)
class SpeakerEmbedder:
    """Segment statistics -> speaker embeddings: the whitened cepstral mean, and a small network's embedding.

    ``embed`` returns ``(mean cepstrum - mean) @ transform``, where ``transform``
    (``transform.T @ W @ transform = I``) whitens W, the covariance of segment
    means *within* one speaker, estimated on the development speakers across
    all their emotions, sentences and phone lines. Directions in which one voice
    wanders (mood, what is being said, the line) are shrunk; directions in which
    it holds still are stretched. One unit of squared length per dimension is the
    spread of one speaker's segments, which is what `cluster_embeddings` measures
    a call's spread in when it decides how many speakers it has.

    ``network_embed`` is a two-layer network trained to name the development
    speakers (mean and spread of the *mel* cepstra in, unit-length ReLU features
    out). On voices it never heard it mostly tells a man from a woman; it is kept
    for that: a call whose segments it splits clearly has two voices even when
    they are calm and their whitened means spread little.
    """

    mean: np.ndarray                     # (n_dims,)
    transform: np.ndarray                # (n_dims, n_dims)
    net_mean: np.ndarray | None = None   # the network: input standardisation ...
    net_scale: np.ndarray | None = None
    net_weights: tuple[np.ndarray, ...] = ()   # ... and its ReLU layers
    net_biases: tuple[np.ndarray, ...] = ()

    @property
    def n_dims(self) -> int:
        return int(self.mean.shape[0])

    @property
    def has_network(self) -> bool:
        return bool(self.net_weights)

    @classmethod
    def load(cls, path: str | Path = DEFAULT_EMBEDDER_PATH) -> "SpeakerEmbedder":
        with np.load(path) as data:
            n_layers = int(data["n_layers"]) if "n_layers" in data else 0
            return cls(mean=data["whiten_mean"].astype(np.float32),
                       transform=data["whiten_transform"].astype(np.float32),
                       net_mean=data["mean"].astype(np.float32) if n_layers else None,
                       net_scale=data["scale"].astype(np.float32) if n_layers else None,
                       net_weights=tuple(data[f"w{k}"].astype(np.float32) for k in range(n_layers)),
                       net_biases=tuple(data[f"b{k}"].astype(np.float32) for k in range(n_layers)))

    def save(self, path: str | Path, **metadata: str) -> None:
        network = {}
        if self.has_network:
            network = {"mean": self.net_mean, "scale": self.net_scale, "n_layers": len(self.net_weights)}
            network |= {f"w{k}": w for k, w in enumerate(self.net_weights)}
            network |= {f"b{k}": b for k, b in enumerate(self.net_biases)}
        np.savez_compressed(path, whiten_mean=self.mean, whiten_transform=self.transform, **network,
                            **{k: np.asarray(v) for k, v in metadata.items()})

    def embed(self, statistics: np.ndarray) -> np.ndarray:
        """(n, n_dims) whitened means of `segment_statistics` rows (their first n_dims columns are the mean)."""
        means = np.asarray(statistics, dtype=np.float32)[:, :self.n_dims]
        return (means - self.mean) @ self.transform

    def network_embed(self, mel_statistics: np.ndarray) -> np.ndarray | None:
        """Unit-length network embedding of `segment_statistics` rows of mel cepstra, None without a network."""
        if not self.has_network:
            return None
        hidden = (np.asarray(mel_statistics, dtype=np.float32) - self.net_mean) / self.net_scale
        for weight, bias in zip(self.net_weights, self.net_biases):
            hidden = np.maximum(hidden @ weight + bias, 0.0)
        return _unit(hidden)


@functools.lru_cache(maxsize=2)
def default_embedder() -> SpeakerEmbedder:
    return SpeakerEmbedder.load(DEFAULT_EMBEDDER_PATH)


# --------------------------------------------------------------------------- segments and clustering

def speech_segments(speech_frame_indices: np.ndarray, max_frames: int) -> np.ndarray:
    """[start, end) positions in the speech-frame sequence of runs of consecutive frames, each cut into
    equal pieces of at most `max_frames`. int (n, 2)."""
    indices = np.asarray(speech_frame_indices)
    if indices.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    breaks = np.flatnonzero(np.diff(indices) > 1) + 1
    run_starts = np.concatenate(([0], breaks))
    run_ends = np.concatenate((breaks, [indices.size]))
    pieces = []
    for start, end in zip(run_starts.tolist(), run_ends.tolist()):
        n_pieces = max(1, math.ceil((end - start) / max_frames))
        cuts = np.linspace(start, end, n_pieces + 1).round().astype(np.int64)
        pieces.append(np.stack((cuts[:-1], cuts[1:]), axis=1))
    return np.concatenate(pieces)


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)


def residual_spread(embeddings: np.ndarray, labels: np.ndarray) -> float:
    """Median squared distance of the embeddings to their cluster's mean, per dimension.

    In the whitened space one speaker's segments spread about 1 per dimension
    around the speaker's mean across *all* moods and lines; within one call (one
    line, a few moods) about 0.1-0.3. Two voices in one cluster spread further.
    """
    n_clusters = int(labels.max()) + 1
    centres = np.stack([embeddings[labels == k].mean(axis=0) for k in range(n_clusters)])
    residual = embeddings - centres[labels]
    return float(np.median(np.einsum("ij,ij->i", residual, residual))) / embeddings.shape[1]


def _fold_small_clusters(unit: np.ndarray, labels: np.ndarray, weights: np.ndarray, keep_at_least: int,
                         min_share: float) -> np.ndarray:
    while True:
        present = np.unique(labels)
        shares = np.array([weights[labels == k].sum() for k in present]) / weights.sum()
        smallest = int(np.argmin(shares))
        if present.size <= keep_at_least or shares[smallest] >= min_share:
            return labels
        centroids = _unit(np.stack([unit[labels == k].mean(axis=0) for k in present]))
        similarity = centroids @ centroids[smallest]
        similarity[smallest] = -np.inf
        labels = np.where(labels == present[smallest], present[int(np.argmax(similarity))], labels)


def _kmeans(points: np.ndarray, k: int, iterations: int = 50) -> np.ndarray:
    """Deterministic k-means labels of `points` rows: farthest-point initialisation, then Lloyd steps.

    Seeded from the point farthest from the mean, then each next centre the point
    farthest from those chosen: no random restarts, so a call is always split the
    same way (k is 2 or 3 and the points are a few eigenvectors' rows).
    """
    n = points.shape[0]
    if k <= 1 or n <= k:
        return np.arange(n, dtype=np.int64) if n <= k else np.zeros(n, dtype=np.int64)
    chosen = [int(np.argmax(np.linalg.norm(points - points.mean(axis=0), axis=1)))]
    for _ in range(1, k):
        nearest = np.min(np.square(points[:, np.newaxis, :] - points[chosen][np.newaxis]).sum(axis=-1), axis=1)
        chosen.append(int(np.argmax(nearest)))
    centres = points[chosen].copy()
    labels = np.full(n, -1, dtype=np.int64)
    for _ in range(iterations):
        relabelled = np.argmin(np.square(points[:, np.newaxis, :] - centres[np.newaxis]).sum(axis=-1), axis=1)
        if np.array_equal(relabelled, labels):
            break
        labels = relabelled
        for j in range(k):
            if (labels == j).any():
                centres[j] = points[labels == j].mean(axis=0)
    return labels


def neighbour_ranks(similarity: np.ndarray) -> np.ndarray:
    """int (n, n): the rank of column j among row i's similarities, largest first (a row's own 1.0 is rank 0)."""
    n = similarity.shape[0]
    ranks = np.empty((n, n), dtype=np.int64)
    ranks[np.arange(n)[:, np.newaxis], np.argsort(-similarity, axis=1, kind="stable")] = np.arange(n)
    return ranks


def pruned_affinity(similarity: np.ndarray, ranks: np.ndarray, keep: int) -> np.ndarray:
    """Symmetric affinity keeping, in each row, the `keep` largest similarities besides the diagonal.

    `ranks` are `neighbour_ranks(similarity)`. The rest of the row is set to 0 (as
    are negative cosines), then the matrix is averaged with its transpose: a kNN
    graph weighted by cosine similarity, as in NME-SC (Park et al. 2019) but with
    the kept similarities rather than ones as weights.
    """
    affinity = np.where(ranks <= keep, np.maximum(similarity, 0.0), 0.0)
    return 0.5 * (affinity + affinity.T)


def spectral_embedding(unit: np.ndarray, max_clusters: int = 3) -> np.ndarray:
    """(n, n) eigenvectors, by ascending eigenvalue, of the Laplacian of unit-length embeddings' pruned affinity.

    Cosine similarities are pruned to each segment's p nearest (`pruned_affinity`);
    p is chosen per call as NME-SC does: the p that minimises p / g_p, where g_p is
    the largest of the first `max_clusters` gaps between the Laplacian's smallest
    eigenvalues, over its largest eigenvalue (a clear gap with few edges kept).
    The Laplacian is the unnormalised one. Nothing here depends on how many
    clusters are wanted, so a call's candidate splits share one embedding.
    """
    n = unit.shape[0]
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, 1.0)
    ranks = neighbour_ranks(similarity)
    top = max(2, min(n - 1, n // 2))
    trials = range(2, top + 1) if top - 1 <= _MAX_PRUNING_TRIALS else \
        np.unique(np.geomspace(2, top, _MAX_PRUNING_TRIALS).round().astype(int)).tolist()
    best_ratio, best_keep = math.inf, 2
    for keep in trials:
        affinity = pruned_affinity(similarity, ranks, keep)
        values = np.linalg.eigvalsh(np.diag(affinity.sum(axis=1)) - affinity)
        gap = np.diff(values[:max_clusters + 1]).max() / max(values[-1], 1e-10)
        ratio = keep / max(gap, 1e-10)
        if ratio < best_ratio:
            best_ratio, best_keep = ratio, keep
    affinity = pruned_affinity(similarity, ranks, best_keep)
    return np.linalg.eigh(np.diag(affinity.sum(axis=1)) - affinity)[1]


def spectral_partition(unit: np.ndarray, n_clusters: int, max_clusters: int = 3,
                       embedding: np.ndarray | None = None) -> np.ndarray:
    """Spectral clustering labels (0..n_clusters-1) of unit-length embeddings, with NME-SC's pruning.

    The segments are split by k-means on the `n_clusters` leading columns of
    `spectral_embedding(unit, max_clusters)` (pass it as `embedding` when several
    counts are tried on one call).

    What it adds to average linkage: in the whitened space a call's segments
    gather in clumps (one voice in one mood or sentence). Average linkage joins
    clumps bottom-up and its last split often peels off the one clump farthest
    from the rest, one mood of one voice; a graph cut weighs every segment's
    nearest neighbours and favours well-connected halves, which is right when
    the voices' moods differ and wrong when one voice says little (a caller's
    three sentences beside the agent's ten). Neither wins everywhere, so
    `cluster_embeddings` splits both ways and keeps the better `separation`.
    The eigengap is not used to count: it took 53 % of the two-speaker tuning
    calls for three (see the module docstring).
    """
    n = unit.shape[0]
    if n <= n_clusters:
        return np.arange(n, dtype=np.int64)
    vectors = spectral_embedding(unit, max_clusters) if embedding is None else embedding
    return _kmeans(vectors[:, :n_clusters], n_clusters)


def separation(unit: np.ndarray, labels: np.ndarray) -> float:
    """How well `labels` separate unit-length embeddings: the mean over segments of the mean cosine similarity
    to the other segments of its cluster minus the mean to the segments of other clusters.

    A segment alone in its cluster counts 1 for its own cluster. Neither average
    linkage nor `spectral_partition` maximises this, so it can referee between them.
    """
    similarity = unit @ unit.T
    same = labels[:, np.newaxis] == labels[np.newaxis, :]
    np.fill_diagonal(same, False)
    different = labels[:, np.newaxis] != labels[np.newaxis, :]
    n_same = same.sum(axis=1)
    within = np.where(n_same > 0, (similarity * same).sum(axis=1) / np.maximum(n_same, 1), 1.0)
    between = (similarity * different).sum(axis=1) / np.maximum(different.sum(axis=1), 1)
    return float(np.mean(within - between))


def cluster_embeddings(embeddings: np.ndarray, weights: np.ndarray, options: DiarizationOptions,
                       network_embeddings: np.ndarray | None = None) -> np.ndarray:
    """Cluster label per embedding row (whitened, see `SpeakerEmbedder`), 0..k-1.

    Each candidate split into k clusters is made twice, by average linkage on
    cosine distance and by `spectral_partition`, and the one with the larger
    `separation` is kept (`clustering="average"` or `"spectral"` uses one only):
    average linkage tends to peel off one mood of one voice, spectral clustering
    to halve a voice that says little, and the split that puts the voices apart
    is usually the better separated (measured in `docs/studies/diarization_cepstral.md`).
    The count is
    `num_speakers` when given, else the smallest k (up to `max_speakers`) whose
    clusters' `residual_spread` is at most `spread_threshold` (tuned on development
    calls): one voice's segments stay within a known spread of their mean, two
    voices in one cluster do not (`third_speaker_spread` for a third voice, as
    the residual spread of two clusters is smaller); or, if more, the number of
    clusters that `network_embeddings` (`SpeakerEmbedder.network_embed`, if given)
    fall into at cosine distance `network_threshold` (which finds a calm man and
    woman whose whitened means spread little). The network only counts: the
    splits themselves are the whitened means' (mixing its distance in made
    same-sex calls worse). A cluster holding less than `min_speaker_share`
    of the speech (`weights`: frames per row) is folded into the cluster whose
    centroid is nearest, so one odd sentence (a laugh, a shout) does not become a
    speaker.
    """
    n = embeddings.shape[0]
    if n < 2:
        return np.zeros(n, dtype=np.int64)
    embeddings = np.asarray(embeddings, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    unit = _unit(embeddings)
    if options.clustering not in ("average", "spectral", "both"):
        raise ValueError(f"clustering must be 'average', 'spectral' or 'both', got {options.clustering!r}")
    most = _MAX_LINKAGE_SEGMENTS if options.clustering == "average" else _MAX_SPECTRAL_SEGMENTS
    if n > most:
        # linkage needs all n^2/2 distances (a 4 h recording's ~10,000 segments would take 400 MB), and
        # spectral clustering an n x n eigendecomposition per pruning level tried.
        # Cluster an even sample through the call, then give every segment its nearest centroid.
        sample = np.linspace(0, n - 1, most).round().astype(np.int64)
        sample_labels = cluster_embeddings(embeddings[sample], weights[sample], options,
                                           None if network_embeddings is None else network_embeddings[sample])
        centroids = np.stack([unit[sample][sample_labels == k].mean(axis=0)
                              for k in range(int(sample_labels.max()) + 1)])
        return np.unique(np.argmax(unit @ centroids.T, axis=1), return_inverse=True)[1].astype(np.int64)
    tree = scipy.cluster.hierarchy.linkage(unit, method="average", metric="cosine") \
        if options.clustering != "spectral" else None
    most_clusters = max(options.max_speakers, options.num_speakers or 0)

    @functools.cache
    def embedding() -> np.ndarray:
        """The call's `spectral_embedding`: one pruning search and eigendecomposition for every count tried."""
        return spectral_embedding(unit, most_clusters)

    def split(count: int) -> np.ndarray:
        linkage = scipy.cluster.hierarchy.fcluster(tree, count, "maxclust") - 1 if tree is not None else None
        if options.clustering == "average":
            return linkage
        spectral = spectral_partition(unit, count, most_clusters, embedding() if n > count else None)
        if linkage is None or separation(unit, spectral) > separation(unit, linkage):
            return spectral
        return linkage
    if options.num_speakers is not None:
        keep_at_least = min(options.num_speakers, n)
        labels = split(keep_at_least)
    else:
        keep_at_least = 1
        labels = np.zeros(n, dtype=np.int64)
        thresholds = (options.spread_threshold, options.third_speaker_spread)
        count = 1
        while count < min(options.max_speakers, n) and \
                residual_spread(embeddings, labels) > thresholds[min(count - 1, 1)]:
            count += 1
            labels = split(count)
        if network_embeddings is not None:
            network_tree = scipy.cluster.hierarchy.linkage(network_embeddings, method="average", metric="cosine")
            network_count = int(scipy.cluster.hierarchy.fcluster(network_tree, options.network_threshold,
                                                                  "distance").max())
            if min(network_count, options.max_speakers, n) > count:
                labels = split(min(network_count, options.max_speakers, n))
    labels = _fold_small_clusters(unit, labels, weights, keep_at_least, options.min_speaker_share)
    return np.unique(labels, return_inverse=True)[1]


# --------------------------------------------------------------------------- resegmentation

def _gaussian_log_likelihoods(features: np.ndarray, labels: np.ndarray, n_speakers: int) -> np.ndarray:
    """(n_frames, n_speakers) log-likelihood of each frame under each speaker's full-covariance Gaussian."""
    n_dims = features.shape[1]
    scores = np.full((features.shape[0], n_speakers), -np.inf)
    for k in range(n_speakers):
        own = features[labels == k]
        if own.shape[0] <= n_dims:
            continue
        mean = own.mean(axis=0)
        covariance = np.cov(own, rowvar=False) + 1e-3 * np.eye(n_dims)
        cholesky = np.linalg.cholesky(covariance)
        whitened = scipy.linalg.solve_triangular(cholesky, (features - mean).T, lower=True)
        scores[:, k] = -0.5 * np.einsum("ij,ij->j", whitened, whitened) - np.log(np.diag(cholesky)).sum()
    return scores


def _run_average(values: np.ndarray, run_ids: np.ndarray, width: int) -> np.ndarray:
    """Centred running mean along axis 0 over `width` rows, never reaching across a change of `run_ids`.

    Rows are speech frames in time order and a run is a stretch of consecutive
    frames: smoothing across a pause would smear the next speaker's first words
    into this one's last.
    """
    n = values.shape[0]
    if width <= 1 or n == 0:
        return values
    run_start = np.flatnonzero(np.concatenate(([True], run_ids[1:] != run_ids[:-1])))
    run_end = np.append(run_start[1:], n)
    run_of_row = np.repeat(np.arange(run_start.size), run_end - run_start)
    cumulative = np.concatenate((np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)))
    rows = np.arange(n)
    lo = np.maximum(rows - width // 2, run_start[run_of_row])
    hi = np.minimum(rows + width - width // 2, run_end[run_of_row])
    return (cumulative[hi] - cumulative[lo]) / (hi - lo)[:, np.newaxis]


def _speech_blocks(frame_indices: np.ndarray, frame_s: float
                   ) -> tuple[np.ndarray, int, np.ndarray, np.ndarray, np.ndarray]:
    """Speech frames grouped into Viterbi blocks of `_RESEGMENT_BLOCK_S`, never across a pause.

    Returns each frame's run of speech, the block length in frames, each frame's block id, each block's first
    frame, and whether a block starts a new run of speech (where a change of
    speaker costs nothing).
    """
    run_ids = np.cumsum(np.concatenate(([0], np.diff(frame_indices) > 1)))
    block = max(1, int(round(_RESEGMENT_BLOCK_S / frame_s)))
    position_in_run = np.arange(run_ids.size) - np.flatnonzero(
        np.concatenate(([True], run_ids[1:] != run_ids[:-1])))[run_ids]
    block_ids = np.cumsum(np.concatenate(([0], (run_ids[1:] != run_ids[:-1])
                                          | (position_in_run[1:] % block == 0))))
    block_starts = np.flatnonzero(np.concatenate(([True], block_ids[1:] != block_ids[:-1])))
    new_run = np.concatenate(([True], run_ids[block_starts[1:]] != run_ids[block_starts[1:] - 1]))
    return run_ids, block, block_ids, block_starts, new_run


def _viterbi(scores: np.ndarray, switch_penalties: np.ndarray) -> np.ndarray:
    """Best state path through per-step `scores` (n, k), paying `switch_penalties[t]` to change state at step t.

    "Stay or switch" needs no transition matrix: the best way into state j is
    either from j itself or from the best state overall minus the penalty. With
    k <= 3 states a loop over plain Python floats is several times faster than
    numpy calls on arrays of three; callers still pass blocks of frames, not frames.
    """
    rows = scores.tolist()
    penalties = np.broadcast_to(switch_penalties, (len(rows),)).tolist()
    k = scores.shape[1]
    states = range(k)
    total = list(rows[0])
    back: list[list[int]] = [list(states)]
    for row, penalty in zip(rows[1:], penalties[1:]):
        best = max(states, key=total.__getitem__)
        switch = total[best] - penalty
        came_from = [j if total[j] >= switch else best for j in states]
        total = [max(total[j], switch) + row[j] for j in states]
        back.append(came_from)
    path = np.empty(len(rows), dtype=np.int64)
    state = max(states, key=total.__getitem__)
    for t in range(len(rows) - 1, -1, -1):
        path[t] = state
        state = back[t][state]
    return path


def resegment(features: np.ndarray, frame_indices: np.ndarray, labels: np.ndarray, n_speakers: int,
              options: DiarizationOptions, frame_s: float) -> np.ndarray:
    """Speech-frame labels re-estimated from the speakers' own frame distributions.

    Each of `resegment_iterations` passes: a full-covariance Gaussian per speaker
    from the frames it has now, every speech frame's log-likelihood under each,
    averaged over `smoothing_s` within its run of speech, summed over blocks of
    `_RESEGMENT_BLOCK_S` (the resolution of a boundary, and what keeps the Viterbi
    loop short; blocks never straddle a pause), then the best path, paying
    `switch_penalty` per frame of a block to change speaker inside a run and
    nothing at a pause. A pass that would leave a speaker without frames is not
    taken: the clustering's evidence for that speaker beats a Gaussian fitted to a
    handful of frames.
    """
    if n_speakers < 2 or features.shape[0] == 0:
        return labels
    run_ids, block, block_ids, block_starts, new_run = _speech_blocks(frame_indices, frame_s)
    penalties = np.where(new_run, 0.0, options.switch_penalty * block)
    width = max(1, int(round(options.smoothing_s / frame_s)))
    for _ in range(options.resegment_iterations):
        scores = _gaussian_log_likelihoods(features.astype(np.float64), labels, n_speakers)
        if not np.isfinite(scores).any(axis=0).all():
            break
        block_scores = np.add.reduceat(_run_average(scores, run_ids, width), block_starts, axis=0)
        relabelled = _viterbi(block_scores, penalties)[block_ids]
        if np.unique(relabelled).size < n_speakers:
            break
        labels = relabelled
    return labels


# --------------------------------------------------------------------------- speech edges

def pad_speech(labels: np.ndarray, max_frames: int) -> np.ndarray:
    """Labels grown from each run of speech into up to `max_frames` of the non-speech frames beside it.

    The shared VAD wants a frame 12 dB above the line noise (a stereo side needs
    that to reject the other side's leak). What it leaves out of a mono call is
    the onsets and tails of sentences: on development calls ~5 % of the speech lay
    within 0.3 s of a detected run, at a median level of 1 dB above the line noise,
    where no level threshold can find it. A hangover finds most of it. Growth is
    one frame a step from both sides, so a short pause between two speakers is
    split between them rather than given to the first.
    """
    labels = labels.copy()
    for _ in range(max_frames):
        before = np.concatenate(([-1], labels[:-1]))
        after = np.concatenate((labels[1:], [-1]))
        grow = (labels < 0) & ((before >= 0) | (after >= 0))
        if not grow.any():
            break
        labels[grow] = np.where(before[grow] >= 0, before[grow], after[grow])
    return labels


# --------------------------------------------------------------------------- CAM++ windows

def speech_runs(speech: np.ndarray, merge_gap_frames: int) -> np.ndarray:
    """[start, end) VAD-frame bounds of runs of speech, runs closer than `merge_gap_frames` joined. int (n, 2)."""
    padded = np.concatenate(([False], np.asarray(speech, dtype=bool), [False]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    runs = edges.reshape(-1, 2)
    if runs.shape[0] <= 1 or merge_gap_frames <= 0:
        return runs.astype(np.int64)
    keep_gap = runs[1:, 0] - runs[:-1, 1] > merge_gap_frames
    starts = np.concatenate(([runs[0, 0]], runs[1:, 0][keep_gap]))
    ends = np.concatenate((runs[:-1, 1][keep_gap], [runs[-1, 1]]))
    return np.stack((starts, ends), axis=1).astype(np.int64)


@dataclasses.dataclass(frozen=True)
class EmbeddedWindows:
    """CAM++ embeddings of windows of speech, and the VAD frames each window covers."""

    unit: np.ndarray                     # (n, 192) float32, unit length
    spans: np.ndarray                    # (n, 2) int: [start, end) VAD frames
    lengths: np.ndarray                  # (n,) int: fbank frames (10 ms) embedded


def embed_speech_windows(samples: np.ndarray, sample_rate_hz: int, speech: np.ndarray, frame_s: float,
                         options: DiarizationOptions, model: SpeakerEmbeddingModel) -> EmbeddedWindows:
    """Windows of `window_s` every `hop_s` over each run of speech, embedded by CAM++ in batches of one length.

    Only speech is embedded: each run (runs under `merge_gap_s` apart joined) gets
    its own fbank (so memory follows the longest run, not the call), windows flush
    with its start and end; a run shorter than a window is one window of its own
    length, cut down to a whole 0.05 s so that short windows batch together; runs
    under `min_window_s` get none. A call with more than `max_windows` windows has
    its hop stretched to keep that many.
    """
    from beam_pipeline.segment import speaker_embedding as se

    audio = se.to_model_rate(samples, sample_rate_hz)
    vad_step = int(round(frame_s * se.SAMPLE_RATE_HZ))          # model-rate samples per VAD frame
    runs = speech_runs(speech, int(round(options.merge_gap_s / frame_s)))
    window = int(round(options.window_s * 100))                  # fbank frames (10 ms)
    shortest = int(round(options.min_window_s * 100))
    hop = max(1, int(round(options.hop_s * 100)))
    run_frames = (runs[:, 1] - runs[:, 0]) * vad_step // se.FRAME_SHIFT if runs.size else np.zeros(0, np.int64)
    expected = np.where(run_frames > window, (run_frames - window) // hop + 2, run_frames >= shortest).sum() \
        if runs.size else 0
    if expected > options.max_windows:
        hop = int(math.ceil(hop * expected / options.max_windows))
    by_length: dict[int, list[tuple[np.ndarray, int]]] = {}
    spans: dict[int, list[tuple[int, int]]] = {}
    for start, end in runs.tolist():
        first = start * vad_step
        fbank = se.kaldi_fbank(audio[first: min(audio.size, end * vad_step + se.FRAME_LENGTH - se.FRAME_SHIFT)])
        n = fbank.shape[0]
        if n < shortest:
            continue
        length = window if n >= window else n - n % 5
        starts = se.window_starts(n, length, hop)
        by_length.setdefault(length, []).append((se.normalised_windows(fbank, starts, length), first))
        for offset in starts.tolist():
            lo = (first + offset * se.FRAME_SHIFT) // vad_step
            hi = (first + (offset + length) * se.FRAME_SHIFT) // vad_step
            spans.setdefault(length, []).append((lo, max(lo + 1, min(hi, end))))
    if not by_length:
        return EmbeddedWindows(np.zeros((0, se.EMBEDDING_SIZE), np.float32), np.zeros((0, 2), np.int64),
                               np.zeros(0, np.int64))
    embeddings, all_spans, lengths = [], [], []
    for length in sorted(by_length):
        embeddings.append(model.unit_embeddings(np.concatenate([w for w, _ in by_length[length]])))
        all_spans.extend(spans[length])
        lengths.extend([length] * len(spans[length]))
    spans_array = np.array(all_spans, dtype=np.int64)
    order = np.argsort(spans_array[:, 0], kind="stable")
    return EmbeddedWindows(np.concatenate(embeddings)[order], spans_array[order], np.array(lengths)[order])


def _spherical_kmeans(unit: np.ndarray, labels: np.ndarray, k: int, iterations: int = 30) -> tuple[np.ndarray, float]:
    """Lloyd steps on cosine similarity from `labels`; the labels and the mean similarity to the own centroid."""
    labels = labels.copy()
    centroids = np.zeros((k, unit.shape[1]))
    for _ in range(iterations):
        for j in range(k):
            members = unit[labels == j]
            if members.shape[0]:
                centroids[j] = members.mean(axis=0)
        centroids = _unit(centroids)
        similarity = unit @ centroids.T
        relabelled = np.argmax(similarity, axis=1)
        if np.array_equal(relabelled, labels):
            break
        labels = relabelled
    return labels, float(np.mean(similarity[np.arange(unit.shape[0]), labels]))


def split_windows(unit: np.ndarray, k: int) -> np.ndarray:
    """k clusters of unit-length embeddings that do not peel off outliers: spherical k-means, best of several starts.

    Starts: average-linkage agglomerative clustering (which on its own tends to make
    a cluster of one odd window), the sign of the first principal component(s)
    (k-means on them for k = 3), and farthest-point seeding; each refined by
    spherical k-means, the one with the highest mean cosine to its own centroid kept.
    Deterministic: no random restarts.
    """
    n = unit.shape[0]
    if k <= 1 or n <= k:
        return np.zeros(n, dtype=np.int64) if k <= 1 else np.arange(n, dtype=np.int64)
    starts = []
    tree = scipy.cluster.hierarchy.linkage(unit, method="average", metric="cosine")
    starts.append(scipy.cluster.hierarchy.fcluster(tree, k, "maxclust") - 1)
    centred = unit - unit.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    components = centred @ vt[: k - 1].T
    starts.append((components[:, 0] > 0).astype(np.int64) if k == 2 else _kmeans(components, k))
    starts.append(_kmeans(unit, k))
    best, best_score = None, -np.inf
    for start in starts:
        labels, score = _spherical_kmeans(unit, np.asarray(start, dtype=np.int64), k)
        if score > best_score + 1e-9:
            best, best_score = labels, score
    return np.unique(best, return_inverse=True)[1].astype(np.int64)


def _centroid_similarities(unit: np.ndarray, labels: np.ndarray) -> np.ndarray:
    present = np.unique(labels)
    centroids = _unit(np.stack([unit[labels == k].mean(axis=0) for k in present]))
    similarity = centroids @ centroids.T
    return similarity[np.triu_indices(present.size, 1)]


_MAX_CLUSTERED_WINDOWS = 2000     # longer calls: clustered on an even sample, every window then given its centroid


def cluster_windows(unit: np.ndarray, options: DiarizationOptions) -> np.ndarray:
    """Speaker label per window embedding (0..k-1): the count, given or estimated, then `split_windows`.

    The count when not given: 1 unless the 2-way split's centroids have a cosine
    under `two_speaker_similarity`; 3 if the 3-way split's most alike pair of
    centroids is still under `three_speaker_similarity`; capped at `max_speakers`.
    A cluster with under `min_speaker_share` of the windows is folded into its nearest.
    """
    n = unit.shape[0]
    if n > _MAX_CLUSTERED_WINDOWS:
        sample = np.linspace(0, n - 1, _MAX_CLUSTERED_WINDOWS).round().astype(np.int64)
        sample_labels = cluster_windows(unit[sample], options)
        k = int(sample_labels.max()) + 1
        centroids = _unit(np.stack([unit[sample][sample_labels == j].mean(axis=0) for j in range(k)]))
        labels, _ = _spherical_kmeans(unit, np.argmax(unit @ centroids.T, axis=1), k, iterations=3)
        return np.unique(labels, return_inverse=True)[1].astype(np.int64)
    weights = np.ones(n)
    if options.num_speakers is not None:
        count = min(options.num_speakers, n)
        labels = split_windows(unit, count)
        keep = count
    else:
        keep = 1
        labels = np.zeros(n, dtype=np.int64)
        if options.max_speakers >= 2 and n >= 2:
            two = _fold_small_clusters(unit, split_windows(unit, 2), weights, 1, options.min_speaker_share)
            if np.unique(two).size == 2 and _centroid_similarities(unit, two).max() < options.two_speaker_similarity:
                labels = two
                if options.max_speakers >= 3 and n >= 3:
                    three = _fold_small_clusters(unit, split_windows(unit, 3), weights, 1, options.min_speaker_share)
                    if np.unique(three).size == 3 and \
                            _centroid_similarities(unit, three).max() < options.three_speaker_similarity:
                        labels = three
    labels = _fold_small_clusters(unit, labels, weights, keep, options.min_speaker_share)
    return np.unique(labels, return_inverse=True)[1].astype(np.int64)


def speaker_centroids(windows: EmbeddedWindows, options: DiarizationOptions) -> np.ndarray:
    """(k, 192) unit centroids of the speakers: `cluster_windows` on the windows of at least
    `min_cluster_window_s` (all windows when fewer than two are that long)."""
    long_enough = windows.lengths >= int(round(options.min_cluster_window_s * 100))
    if long_enough.sum() < 2:
        long_enough = np.ones(windows.lengths.size, dtype=bool)
    unit = windows.unit[long_enough]
    labels = cluster_windows(unit, options)
    return _unit(np.stack([unit[labels == j].mean(axis=0) for j in range(int(labels.max()) + 1)]))


def window_frame_labels(windows: EmbeddedWindows, centroids: np.ndarray, speech: np.ndarray,
                        options: DiarizationOptions, frame_s: float) -> np.ndarray:
    """Speaker of every VAD frame (-1 for non-speech) from the windows' clusters.

    Each speech frame scores each speaker by the mean cosine, over the windows that
    cover it, of those windows to the speaker's centroid (`speaker_centroids`); a Viterbi pass over each
    run of speech (blocks of 0.1 s) pays `window_switch_penalty` per frame of a block
    to change speaker inside a run, nothing across a pause, so a change of speaker
    without a pause lands where the windows' evidence turns. Speech no window
    covers (runs under `min_window_s`) takes the speaker of the nearest covered frame.
    """
    n_frames = speech.size
    k = centroids.shape[0]
    out = np.full(n_frames, -1, dtype=np.int64)
    indices = np.flatnonzero(speech)
    if indices.size == 0:
        return out
    if k == 1:
        out[indices] = 0
        return out
    scores = windows.unit @ centroids.T                           # (n_windows, k)
    total = np.zeros((n_frames + 1, k))
    count = np.zeros(n_frames + 1)
    np.add.at(total, windows.spans[:, 0], scores)
    np.add.at(total, windows.spans[:, 1], -scores)
    np.add.at(count, windows.spans[:, 0], 1.0)
    np.add.at(count, windows.spans[:, 1], -1.0)
    total = np.cumsum(total, axis=0)[:n_frames]
    count = np.cumsum(count)[:n_frames]
    covered = indices[count[indices] > 0.5]
    if covered.size == 0:
        out[indices] = 0
        return out
    frame_scores = total[covered] / count[covered][:, np.newaxis]
    _, block, block_ids, block_starts, new_run = _speech_blocks(covered, frame_s)
    penalties = np.where(new_run, 0.0, options.window_switch_penalty * block)
    block_scores = np.add.reduceat(frame_scores, block_starts, axis=0)
    out[covered] = _viterbi(block_scores, penalties)[block_ids]
    uncovered = indices[count[indices] <= 0.5]
    if uncovered.size:
        right = np.clip(np.searchsorted(covered, uncovered), 0, covered.size - 1)
        left = np.clip(right - 1, 0, covered.size - 1)
        nearest = np.where(uncovered - covered[left] <= covered[right] - uncovered, covered[left], covered[right])
        out[uncovered] = out[nearest]
    return out


def diarize_campplus(samples: np.ndarray, sample_rate_hz: int, speech: np.ndarray, frame_s: float,
                     options: DiarizationOptions, model: SpeakerEmbeddingModel) -> Diarization:
    """`diarize` with CAM++: embed windows of speech, cluster them, label frames, pad speech edges, name."""
    windows = embed_speech_windows(samples, sample_rate_hz, speech, frame_s, options, model)
    if windows.unit.shape[0] == 0:
        if not speech.any():
            return Diarization(frame_s, np.full(speech.size, -1, dtype=np.int64), ())
        labels = np.where(speech, 0, -1).astype(np.int64)        # a little speech, too short to embed: one voice
        n_speakers = 1
    else:
        centroids = speaker_centroids(windows, options)
        n_speakers = centroids.shape[0]
        labels = window_frame_labels(windows, centroids, speech, options, frame_s)
    labels = pad_speech(labels, int(round(options.speech_padding_s / frame_s)))
    labels, names = _name_speakers(labels, n_speakers, options)
    return Diarization(frame_s, labels, names)


@functools.cache
def default_speaker_model() -> SpeakerEmbeddingModel:
    """The shipped CAM++ model, one per process (its onnxruntime session opens on first use)."""
    return SpeakerEmbeddingModel()


# --------------------------------------------------------------------------- the stage

def _name_speakers(labels: np.ndarray, n_speakers: int,
                   options: DiarizationOptions) -> tuple[np.ndarray, tuple[str, ...]]:
    """Renumbers speakers by first speech and names them."""
    order = list(dict.fromkeys(labels[labels >= 0].tolist()))
    order += [k for k in range(n_speakers) if k not in order]
    renumber = np.full(n_speakers + 1, -1, dtype=np.int64)
    renumber[np.array(order, dtype=np.int64)] = np.arange(len(order))
    labels = np.where(labels >= 0, renumber[labels], -1)
    present = int(labels.max()) + 1 if (labels >= 0).any() else 0
    if options.first_speaker_role and present == 2:
        return labels, ("agent", "customer")
    return labels, tuple(f"speaker_{k}" for k in range(present))


def diarize(samples: np.ndarray, sample_rate_hz: int, turn_options: TurnOptions = TurnOptions(),
            options: DiarizationOptions = DiarizationOptions(),
            embedder: SpeakerEmbedder | SpeakerEmbeddingModel | None = None,
            speech: np.ndarray | None = None) -> Diarization:
    """Who speaks when in a mono recording.

    Parameters
    ----------
    samples : float 1-D audio.
    sample_rate_hz : its rate (16 kHz in the pipeline; >= 8 kHz works).
    turn_options : the VAD settings (frame length, thresholds) shared with turn cutting.
    options : diarization settings.
    embedder : the speaker embedding: a `SpeakerEmbeddingModel` (CAM++, for `method="campplus"`; the
        process's shipped one, `default_speaker_model()`, by default) or a `SpeakerEmbedder`
        (the cepstral whitening, for `method="cepstral"`; the bundled one by default).
    speech : the VAD frames if already computed (`speech_frames(samples, ...)`).

    Returns
    -------
    Diarization: a speaker index per VAD frame (-1 for non-speech), speakers named
    in order of first speech.
    """
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"diarize needs 1-D audio, got shape {samples.shape}")
    if options.method not in ("campplus", "cepstral"):
        raise ValueError(f"method must be 'campplus' or 'cepstral', got {options.method!r}")
    if speech is None:
        speech = speech_frames(samples, sample_rate_hz, turn_options)
    frame_s = int(round(turn_options.frame_s * sample_rate_hz)) / sample_rate_hz
    if options.method == "campplus":
        model = embedder if isinstance(embedder, SpeakerEmbeddingModel) else default_speaker_model()
        return diarize_campplus(samples, sample_rate_hz, speech, frame_s, options, model)
    embedder = embedder if isinstance(embedder, SpeakerEmbedder) else default_embedder()
    labels = np.full(speech.size, -1, dtype=np.int64)
    indices = np.flatnonzero(speech)
    power = frame_power(samples, sample_rate_hz, indices, frame_s)
    features = cepstra(power, sample_rate_hz)
    if features.shape[0] == 0:
        return Diarization(frame_s, labels, ())
    features -= features.mean(axis=0)
    bounds = speech_segments(indices, max(1, int(round(options.segment_s / frame_s))))
    lengths = bounds[:, 1] - bounds[:, 0]
    clustered = lengths >= max(1, int(round(options.min_segment_s / frame_s)))
    if not clustered.any():
        clustered = lengths == lengths.max()
    statistics = segment_statistics(features, bounds[clustered])
    network_embeddings = None
    if options.num_speakers is None and embedder.has_network:   # the network only helps to count
        mel = cepstra(power, sample_rate_hz, scale="mel")
        network_embeddings = embedder.network_embed(segment_statistics(mel - mel.mean(axis=0), bounds[clustered]))
    segment_labels = cluster_embeddings(embedder.embed(statistics), lengths[clustered], options, network_embeddings)
    n_speakers = int(segment_labels.max()) + 1
    frame_labels = np.full(indices.size, -1, dtype=np.int64)
    for (start, end), label in zip(bounds[clustered].tolist(), segment_labels.tolist()):
        frame_labels[start:end] = label
    unlabelled = np.flatnonzero(frame_labels < 0)
    if unlabelled.size:                       # short pieces: the speaker of the nearest clustered frame
        known = np.flatnonzero(frame_labels >= 0)
        right = np.clip(np.searchsorted(known, unlabelled), 0, known.size - 1)
        left = np.clip(right - 1, 0, known.size - 1)
        nearest = np.where(unlabelled - known[left] <= known[right] - unlabelled, known[left], known[right])
        frame_labels[unlabelled] = frame_labels[nearest]
    frame_labels = resegment(features, indices, frame_labels, n_speakers, options, frame_s)
    labels[indices] = frame_labels
    labels = pad_speech(labels, int(round(options.speech_padding_s / frame_s)))
    labels, names = _name_speakers(labels, n_speakers, options)
    return Diarization(frame_s, labels, names)


def diarized_turns(samples: np.ndarray, sample_rate_hz: int, turn_options: TurnOptions = TurnOptions(),
                   options: DiarizationOptions = DiarizationOptions(),
                   embedder: SpeakerEmbedder | SpeakerEmbeddingModel | None = None) -> list[Turn]:
    """Speaker turns of a mono recording: `diarize`, then each speaker's frames cut into turns.

    The mono counterpart of `turns.stereo_turns`, returning the same `Turn` rows with
    speakers named ``speaker_N`` (or agent/customer, see
    `DiarizationOptions.first_speaker_role`), all on channel 0.
    """
    samples = np.asarray(samples, dtype=np.float32)
    speech = speech_frames(samples, sample_rate_hz, turn_options)
    diarization = diarize(samples, sample_rate_hz, turn_options, options, embedder, speech)
    if diarization.n_speakers == 0:
        return []
    return speaker_turns(samples, sample_rate_hz, diarization.speech_by_speaker(), list(diarization.speakers),
                         turn_options)
