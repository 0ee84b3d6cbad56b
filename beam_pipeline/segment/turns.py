"""Speaker turns of a call recording: voice activity, turn cutting, and each turn's loudness and pitch.

Everything here is a vectorised pass over 20 ms frames, because segmentation runs
on every second of every call and the whole job has to run at >= 500x real time
per core (2 ms of CPU per second of stereo call, decoding and the neural net
included). Voice activity gets at most 0.2 ms of that, the whole stage about 0.4 ms;
see `benchmarks/turns_speed.py` and `benchmarks/speech_detection.py`.

Voice activity works on each channel's telephone band (250-3750 Hz) in 50 Hz bins,
one real FFT per frame at 8 kHz (16 kHz input is pair-summed to 8 kHz first, so both
rates see the same bins and find the same turns). Each bin is divided by the
channel's own noise spectrum (the mean spectrum of its quietest fifth of frames), so
a frame's SNR is judged where the noise is not: mains hum, pink noise and white
noise are all "1" after whitening, and a quiet talker at -50 dBFS is as visible as a
loud one at the same SNR. Speech starts on a confident frame and continues through
softer ones (hysteresis), with both thresholds raised with the noise's own measured
spread (babble of distant voices fluctuates, hiss does not) and never below fixed
floors; faint runs get their soft edges back as padding. A trained detector was
not tried: silero-vad's network at about 210x real time per channel would cost some
20 times this budget on every frame (docs/studies/speech_detection.md).

What is loud but not speech on a phone line (music on hold, DTMF, ringback and
busy tones, fax and modem signals, steady hiss) is rejected per speech run by three
cheap cues, spectral lines that stay put, one or two pure lines, and no syllabic
modulation (see `_non_speech`); those runs are no turns and are never scored.

What the spectrum alone gets wrong on real call recordings is crosstalk: the other
side's voice leaks into a channel (acoustic echo, hybrid echo, a headset's sidetone)
15-30 dB lower, loud enough to pass any threshold relative to a quiet line. The
stereo path therefore compares the two channels' in-band levels frame by frame
(see `_crosstalk_gate`).

Pitch is a YIN estimate on a sparse sample of each turn's speech frames, band
limited to 2 kHz and decimated to 8 kHz inside one batched FFT. A per-turn
*median* F0 does not need every 10 ms frame: a few dozen frames per turn give the
same median at a small fraction of the cost of `librosa.yin` over the whole signal
(measured on the benchmark call: soxr to 8 kHz plus `librosa.yin` with a 32 ms hop
on both channels takes 1.4 ms per second of audio, 3.5 times this stage's budget).

Levels are dBFS as RMS relative to a full-scale square wave (1.0): a full-scale
sine reads -3.0 dBFS, a sine of amplitude 0.1414 reads -20.0 dBFS. A turn's SNR is
its speech level over the channel's noise floor: the full-band level of its quietest
tenth of frames (the VAD's own noise estimate is the in-band spectrum above). It is
what the nightly monitoring watches for a line getting noisier
(a digitally silent channel's floor is -100 dBFS, so clean synthetic audio reads ~80 dB).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Mapping

import numpy as np
import scipy.fft

# --- voice activity
_NOISE_FLOOR_PERCENTILE = 10.0    # a call has pauses on each line; the quietest tenth of frames is line noise
_SILENCE_DBFS = -100.0            # frames of digital silence are clamped here so logs stay finite
_MIN_BURST_S = 0.06               # speech bursts shorter than this are clicks, not syllables
_HANGOVER_S = 0.2                 # gaps up to this long inside speech are stop closures / syllable gaps
_ANALYSIS_BAND_HZ = (250.0, 3750.0)   # the telephone band: the same 50 Hz bins at every rate >= 8 kHz
_ANALYSIS_FRAME = 160             # samples per 20 ms frame at 8 kHz, the rate the spectrum is taken at
_NOISE_FRAMES_SHARE = 0.2         # the quietest fifth of frames (in-band energy) give the channel's noise spectrum
_QUIET_STD_SHARE = 0.46           # the lowest fifth of a normal has 0.46 of its standard deviation ...
_QUIET_MEAN_OFFSET = 1.4          # ... and its mean 1.4 standard deviations below the centre
_START_SIGMAS = 0.6               # a frame starts speech this many noise spreads above the noise centre ...
_CONTINUE_SIGMAS = -0.8           # ... and continues it above this (or the TurnOptions dB, whichever is higher)
_SMOOTH_FRAMES = 3                # continuation reads the SNR averaged over 60 ms: one faint frame is no pause
_START_FRAMES = 3                 # confident frames a run needs to be speech
_PAD_FRAMES = 4                   # at most this many frames added at each end of a run ...
_PAD_FULL_DB = 30.0               # ... as its peak falls below this far over the noise ...
_PAD_DB_PER_FRAME = 5.0           # ... one frame per this many dB: a faint run has lost its soft edges to the noise

# --- non-speech (tones, music, modem): judged per speech run, see `_non_speech`
_STATIONARY_LAG = 5               # frames (100 ms) between the spectra compared for stationarity
_STATIONARY_SIMILARITY = 0.6      # fine-structure similarity above this: the same lines 100 ms on ...
_STATIONARY_SHARE = (0.3, 0.6)    # ... in more than this share of a run's frames: a tone or music ...
_SYLLABIC_MODULATION_DB = (12.0, 20.0)  # ... if its SNR spans (10th to 90th percentile) under the first of these,
                                  # or the second share of its frames and under the second: syllables span more
_TONAL_MIN_DB = 15.0              # frames this far over the noise centre are tested for tonality
_TONAL_REST = 10 ** (-25 / 10)    # nothing but two lines: every other bin 25 dB under the strongest ...
_TONAL_FRAMES_SHARE = 0.6         # ... in more than this share of the run's loud frames: DTMF, a tone, FSK
_MIN_MODULATION_DB = 6.0          # a run whose SNR spans less than this (10th to 90th percentile) is steady noise
_MIN_PEAK_DB = 6.5                # a run whose loud frames (95th percentile) stay this close to the noise centre
                                  # is the noise's own swell: babble of distant voices rises by 4-9 dB now and then

# --- crosstalk (stereo only)
_CROSSTALK_DB = 12.0              # a frame this far below the other channel is treated as leak of it ...
_LEAK_MARGIN_DB = 12.0            # ... unless it is this far above the typical leak measured in the call
_LEAK_PERCENTILE = 50.0           # "typical leak": the median of the leak-candidate level differences
_MIN_LEAK_FRAMES = 50             # fewer candidate frames than this (1 s): no leak estimate, plain gate only
_ECHO_LOOKBACK_FRAMES = 3         # echo arrives up to 60 ms after the speech it repeats

# --- pitch
_PITCH_FMIN_HZ = 60.0
_PITCH_FMAX_HZ = 400.0
_PITCH_RATE_HZ = 8000             # analysis rate: the telephone band up to 2 kHz, with lag steps fine enough for YIN
_PITCH_CUTOFF_HZ = 2000.0          # harmonics above this add little but lag-quantisation error
_PITCH_SEGMENT_S = 0.064          # analysis segment per pitch frame (1024 samples at 16 kHz)
_PITCH_WINDOW_S = 0.032           # YIN integration window (2 periods of 60 Hz)
_PITCH_HOP_FRAMES = 2             # at most one pitch frame per 2 VAD frames (40 ms)
_PITCH_FRAMES_PER_TURN = 48       # enough for a stable median; more only costs time
_YIN_THRESHOLD = 0.15             # CMNDF dip below this: periodic (de Cheveigne & Kawahara use 0.1-0.15)
_YIN_VOICED_MAX = 0.3             # best dip above this: not voiced
_MIN_VOICED_FRAMES = 3
_MIN_VOICED_SHARE = 0.2


@dataclasses.dataclass(frozen=True)
class TurnOptions:
    """How speech is found and cut into turns.

    The defaults suit telephone calls: a pause under 0.5 s is a breath or a comma
    within one side's turn, not a change of turn, and so is a pause up to 1.5 s
    in which the other side stays silent; runs under 0.3 s are clicks or
    lone backchannels too short to score; 30 s caps one turn's weight in the
    call's emotion statistics (a long monologue becomes several turns).
    """

    frame_s: float = 0.02            # VAD frame
    min_gap_s: float = 0.5           # pauses shorter than this inside one side's speech are merged into the turn
    max_pause_s: float = 1.5         # ... and pauses up to this long in which no other side speaks (see `_cut_turns`)
    min_turn_s: float = 0.3          # shorter speech runs are dropped
    max_turn_s: float = 30.0         # longer runs are split (so one turn never dominates scoring)
    threshold_db: float = 7.0        # in-band SNR (over the channel's noise spectrum) that starts speech
    continue_db: float = 1.5         # ... and that continues it
    floor_dbfs: float = -55.0        # absolute floor: quieter frames are never speech


@dataclasses.dataclass(frozen=True)
class Turn:
    """One side speaking, from its first to its last speech frame (pauses < min_gap_s included)."""

    speaker: str                     # "agent" | "customer" | "speaker_0" ...
    channel: int
    start_s: float
    end_s: float
    speech_ratio: float              # share of VAD frames inside [start_s, end_s] that are speech
    overlap_s: float                 # seconds in which another side is also speaking
    loudness_dbfs: float             # RMS level of the speech frames, dBFS
    pitch_median_hz: float | None    # median F0 over voiced frames, None if too little voicing
    snr_db: float | None = None      # loudness_dbfs minus the channel's noise floor (its quietest tenth of frames)

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


# --------------------------------------------------------------------------- frames and runs

def _frame_length(sample_rate_hz: int, options: TurnOptions) -> int:
    return max(1, int(round(options.frame_s * sample_rate_hz)))


def _frame_energy(channels: np.ndarray, frame_length: int) -> np.ndarray:
    """Mean square per non-overlapping frame, (n_channels, n_frames) float64.

    One `einsum` over a reshaped view: no copy of the signal and no temporary of
    its size, which makes it several times cheaper than `librosa.feature.rms`
    (centred, overlapping, padded frames) for the same information.
    """
    n_frames = channels.shape[-1] // frame_length
    framed = channels[..., : n_frames * frame_length].reshape(channels.shape[0], n_frames, frame_length)
    return np.einsum("cij,cij->ci", framed, framed, dtype=np.float64) / frame_length


def _level_dbfs(energy: np.ndarray | float) -> np.ndarray:
    return 10.0 * np.log10(np.maximum(energy, 10.0 ** (_SILENCE_DBFS / 10.0)))


def _noise_floor_dbfs(level_dbfs: np.ndarray) -> np.ndarray:
    """Per channel: the level of its quietest tenth of frames, the line noise that VAD and SNR are measured against."""
    if level_dbfs.shape[-1] == 0:
        return np.full(level_dbfs.shape[:-1], _SILENCE_DBFS)
    return np.percentile(level_dbfs, _NOISE_FLOOR_PERCENTILE, axis=-1)


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start (inclusive) and end (exclusive) frame indices of the True runs of a 1-D mask."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def _merge_gaps(starts: np.ndarray, ends: np.ndarray, max_gap: int,
                busy: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Joins runs separated by gaps of fewer than `max_gap` frames (and, given `busy`, with no busy frame in them)."""
    if starts.size < 2:
        return starts, ends
    keep_gap = (starts[1:] - ends[:-1]) >= max_gap
    if busy is not None:
        busy_count = np.concatenate(([0], np.cumsum(busy)))
        keep_gap |= busy_count[starts[1:]] > busy_count[ends[:-1]]
    return starts[np.concatenate(([True], keep_gap))], ends[np.concatenate((keep_gap, [True]))]


def _runs_to_mask(starts: np.ndarray, ends: np.ndarray, n_frames: int) -> np.ndarray:
    delta = np.zeros(n_frames + 1, dtype=np.int32)
    np.add.at(delta, starts, 1)
    np.add.at(delta, ends, -1)
    return np.cumsum(delta[:-1]) > 0


def _smooth(active: np.ndarray, frame_s: float) -> np.ndarray:
    """Drops click-length bursts, then bridges syllable-length gaps.

    In that order: a burst of leaked crosstalk or a click that got through must not
    be bridged into a run long enough to become a turn, while the gaps between
    syllables of real speech (each syllable well over 60 ms) must not split it.
    """
    starts, ends = _runs(active)
    long_enough = (ends - starts) >= max(1, int(round(_MIN_BURST_S / frame_s)))
    starts, ends = _merge_gaps(starts[long_enough], ends[long_enough], int(round(_HANGOVER_S / frame_s)) + 1)
    return _runs_to_mask(starts, ends, active.size)


# --------------------------------------------------------------------------- voice activity

def _hann(frame_length: int) -> np.ndarray:
    return np.hanning(frame_length + 2)[1:-1].astype(np.float32)


@dataclasses.dataclass(frozen=True)
class _Analysis:
    """What voice activity reads off a recording, per channel and 20 ms frame."""

    band_dbfs: np.ndarray        # (c, t) level within the analysis band, dBFS
    snr_db: np.ndarray           # (c, t) in-band power over the channel's noise spectrum, bin by bin, dB
    power: np.ndarray            # (c, t, k) in-band power spectrum (50 Hz bins)
    noise: np.ndarray            # (c, k) the channel's noise spectrum
    noise_centre_db: np.ndarray  # (c,) where the noise frames' `snr_db` centre ...
    noise_spread_db: np.ndarray  # (c,) ... and how widely it spreads (a standard deviation)


def _analyse(channels: np.ndarray, sample_rate_hz: int, frame_length: int) -> _Analysis:
    """In-band power spectra, the channel's noise spectrum and statistics, and each frame's whitened SNR.

    The noise spectrum is the mean of the quietest fifth of frames by in-band
    energy: one call-wide estimate per channel, cheap and unaffected by how the
    talk is spread over the call (a call's lines carry speech well under 80 % of the
    time). How far the noise frames' SNR spreads is read off the same frames: the
    lowest fifth of a distribution is narrow for hiss and wide for babble, and the
    centre and spread of the whole are extrapolated as for a normal.
    """
    n_channels = channels.shape[0]
    n_frames = channels.shape[-1] // frame_length
    framed = channels[..., : n_frames * frame_length].reshape(n_channels, n_frames, frame_length)
    # Rates that are a multiple of 8 kHz (16 kHz in the pipeline) are brought to 8 kHz by summing neighbouring
    # samples: half the FFT, and the bins are the same 50 Hz bins as at 8 kHz. The boxcar's droop (-2.6 dB at
    # 3.75 kHz) scales signal and noise alike, so nothing read off the whitened spectrum changes.
    step = frame_length // _ANALYSIS_FRAME if frame_length % _ANALYSIS_FRAME == 0 else 1
    if step > 1:
        framed = framed.reshape(n_channels, n_frames, _ANALYSIS_FRAME, step).sum(axis=-1) if step != 2 else \
            framed[..., 0::2] + framed[..., 1::2]
    length = framed.shape[-1]
    window = _hann(length)
    rate_hz = sample_rate_hz / step
    lo = int(math.ceil(_ANALYSIS_BAND_HZ[0] * length / rate_hz))
    hi = min(length // 2, int(_ANALYSIS_BAND_HZ[1] * length / rate_hz)) + 1
    spectrum = scipy.fft.rfft(framed * window, axis=-1, workers=1)
    scale = np.float32(2.0 / (length * float(np.sum(window.astype(np.float64) ** 2)) * step * step))
    power = (np.square(spectrum.real) + np.square(spectrum.imag))[..., lo:hi] * scale
    band = power.sum(axis=-1, dtype=np.float64)
    floor = 10.0 ** (_SILENCE_DBFS / 10.0)
    if n_frames == 0:
        noise = np.full((n_channels, power.shape[-1]), floor / max(power.shape[-1], 1), dtype=np.float32)
    else:
        k = max(1, int(_NOISE_FRAMES_SHARE * n_frames))
        quiet = np.argpartition(band, k - 1, axis=-1)[:, :k]
        noise = np.take_along_axis(power, quiet[..., np.newaxis], axis=1).mean(axis=1)
        noise = np.maximum(noise, floor / power.shape[-1])
    whitened = np.einsum("ctk,ck->ct", power, (1.0 / noise).astype(np.float32), dtype=np.float64)
    snr_db = 10.0 * np.log10(np.maximum(whitened / power.shape[-1], 1e-10))
    if n_frames == 0:
        centre_db, spread_db = np.zeros(n_channels), np.zeros(n_channels)
    else:
        quiet_db = np.take_along_axis(snr_db, quiet, axis=1)
        spread_db = quiet_db.std(axis=1) / _QUIET_STD_SHARE
        centre_db = quiet_db.mean(axis=1) + _QUIET_MEAN_OFFSET * spread_db
    return _Analysis(band_dbfs=_level_dbfs(band), snr_db=snr_db, power=power, noise=noise,
                     noise_centre_db=centre_db, noise_spread_db=spread_db)


def _hysteresis(candidate: np.ndarray, confident: np.ndarray, min_confident: int) -> np.ndarray:
    """Runs of `candidate` frames that hold at least `min_confident` `confident` ones, per row."""
    out = np.zeros_like(candidate)
    for row in range(candidate.shape[0]):
        starts, ends = _runs(candidate[row])
        if starts.size == 0:
            continue
        counts = np.concatenate(([0], np.cumsum(confident[row] & candidate[row])))
        keep = (counts[ends] - counts[starts]) >= min_confident
        out[row] = _runs_to_mask(starts[keep], ends[keep], candidate.shape[1])
    return out


def _crosstalk_gate(level_dbfs: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Frames of each channel that are not just the other side's voice leaking in.

    A frame on channel c can be leak when the other channel is far louder in it
    (or was, up to 60 ms earlier: echo arrives late). Two rules let it through:

    * it is within `_CROSSTALK_DB` of the other channel: leak is 15-30 dB down on
      real recordings, so a frame that close is this side's own voice;
    * it is `_LEAK_MARGIN_DB` above the typical leak this call shows: both sides
      talking at once, with this side quieter on the line than the other (per-side
      gains differ by 10-20 dB) but clearly louder than what leak explains. The leak
      level is measured per call and channel as the median level difference over the
      frames where the other side is active and this one far below it; on a line
      without leak those frames are plain noise, the measured "leak" is very low and
      any active frame passes. The median, not a high percentile, because real
      overlap lands in the same candidate frames and can be a third of them in an
      argumentative call; the 12 dB margin covers the frame-to-frame spread of leak
      (a fixed echo path passes vowels and fricatives at different levels). Should
      overlap ever be the majority of the candidates, the estimate is too high and
      only the plain rule applies, which errs towards rejecting, never towards
      turning leak into turns.
    """
    n_channels = level_dbfs.shape[0]
    if n_channels < 2:
        return np.ones_like(active)
    gate = np.empty_like(active)
    for channel in range(n_channels):
        others = np.delete(np.arange(n_channels), channel)
        other_dbfs = level_dbfs[others].max(axis=0)
        other_active = active[others].any(axis=0)
        lagged = other_dbfs.copy()
        for lag in range(1, _ECHO_LOOKBACK_FRAMES + 1):
            np.maximum(lagged[lag:], other_dbfs[:-lag], out=lagged[lag:])
        difference_db = level_dbfs[channel] - lagged
        candidates = difference_db[other_active & (difference_db < -_CROSSTALK_DB)]
        limit_db = -_CROSSTALK_DB
        if candidates.size >= _MIN_LEAK_FRAMES:
            limit_db = min(limit_db, float(np.percentile(candidates, _LEAK_PERCENTILE)) + _LEAK_MARGIN_DB)
        gate[channel] = difference_db >= limit_db
    return gate


def _tonal(power: np.ndarray) -> np.ndarray:
    """Per row of `power` (frames, bins): nothing but one or two spectral lines.

    True when every bin more than 3 bins (150 Hz) from the two strongest peaks is
    `_TONAL_REST` under the strongest: DTMF digits, call-progress tones, fax tones
    and FSK through a Hann window. Voiced speech fails it even when its first
    formant's harmonics carry most of the power: the second and third formants sit
    10-25 dB under them, not 25 dB.
    """
    bins = np.arange(power.shape[-1])
    first = power.argmax(axis=-1)[:, np.newaxis]
    distance = np.abs(bins - first)
    second = np.where(distance <= 3, 0.0, power).argmax(axis=-1)[:, np.newaxis]
    rest = np.where((distance > 3) & (np.abs(bins - second) > 3), power, 0.0).max(axis=-1)
    return rest < _TONAL_REST * np.maximum(power.max(axis=-1), 1e-30)


def _stationary(power: np.ndarray, noise: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Per frame index in `frames` (each with a partner `_STATIONARY_LAG` on): the same fine structure 100 ms on.

    Fine structure is the log spectrum (noise added, so bins at the noise floor
    stay flat) minus its 250 Hz moving average: the lines of tones and notes and
    the harmonics of a voice, not the spectral envelope. A held note or tone keeps
    its lines; speech moves its pitch and formants within 100 ms.
    """
    both = np.concatenate((frames, frames + _STATIONARY_LAG))
    logs = np.log(power[both] + noise)
    cumulative = np.cumsum(np.pad(logs, ((0, 0), (3, 2)), mode="edge"), axis=-1)
    fine = logs - (cumulative[:, 5:] - cumulative[:, :-5]) / 5.0
    first, second = fine[: frames.size], fine[frames.size:]
    similarity = np.einsum("ij,ij->i", first, second) / np.maximum(
        np.sqrt(np.einsum("ij,ij->i", first, first) * np.einsum("ij,ij->i", second, second)), 1e-12)
    return similarity > _STATIONARY_SIMILARITY


def _non_speech(analysis: _Analysis, speech: np.ndarray) -> np.ndarray:
    """Frames of the speech runs that are tones, music or steady noise rather than speech, per row.

    Each run (a stretch of speech frames with gaps of at most `_HANGOVER_S`
    bridged) is judged as a whole, by four cheap cues:

    * steady: its in-band SNR spans under `_MIN_MODULATION_DB` between its 10th
      and 90th percentile. Speech rises and falls by 15-30 dB with its syllables;
      modem hiss, dial tone and a fax answer tone hold their level;
    * faint: its loudest frames (95th percentile) stay under `_MIN_PEAK_DB` over
      the noise centre. On a line whose noise is the babble of distant voices the
      babble itself swells by 4-9 dB when a few of its voices coincide, which the
      start threshold (raised with the noise's spread) cannot always tell from a
      talker; a talker on the line, even at 10 dB SNR over babble, peaks higher in
      all but a few per cent of turns. On hiss, hum and pink noise speech that
      reaches the start threshold peaks far above this;
    * stationary and unmodulated: more than 30 % of its frames keep their spectral
      lines 100 ms on and its SNR spans under 12 dB, or more than 60 % and under
      20 dB (`_STATIONARY_SHARE`, `_SYLLABIC_MODULATION_DB`). Music on hold (held
      notes and chords, a beat), ringback and busy tones; in speech, pitch and
      formants move, so few frames keep their lines, and a steady-pitched buzz
      chopped into syllables (30 dB and more of modulation) is still speech;
    * tonal: more than `_TONAL_FRAMES_SHARE` of its frames at least `_TONAL_MIN_DB`
      over the noise are one or two pure lines (`_tonal`): DTMF strings, whose
      digits change every 150 ms and so are neither steady nor stationary.

    A run, not a frame, because every cue needs a few hundred ms to tell a held
    vowel from a held note, and because one sound on one channel is either an
    utterance or a tone, not an alternation of both. The stationarity cue is the
    costly one and is only computed on runs modulated less than syllables are.
    """
    out = np.zeros_like(speech)
    lag = _STATIONARY_LAG
    n_frames = speech.shape[1]
    for row in range(speech.shape[0]):
        starts, ends = _runs(speech[row])
        if starts.size == 0:
            continue
        snr_db = analysis.snr_db[row]
        loud = snr_db > analysis.noise_centre_db[row] + _TONAL_MIN_DB
        loud_frames = np.flatnonzero(loud & speech[row])
        tonal = np.zeros(n_frames, dtype=bool)
        if loud_frames.size:
            tonal[loud_frames] = _tonal(analysis.power[row, loud_frames])
        tonal_count = np.concatenate(([0], np.cumsum(tonal)))
        loud_count = np.concatenate(([0], np.cumsum(loud & speech[row])))
        unmodulated = []
        for index, (start, end) in enumerate(zip(starts.tolist(), ends.tolist())):
            level = np.sort(snr_db[start:end])
            modulation_db = float(level[int(0.9 * (level.size - 1))] - level[int(0.1 * (level.size - 1))])
            peak_db = float(level[int(0.95 * (level.size - 1))]) - analysis.noise_centre_db[row]
            n_loud = loud_count[end] - loud_count[start]
            if modulation_db < _MIN_MODULATION_DB or peak_db < _MIN_PEAK_DB or \
                    (n_loud and (tonal_count[end] - tonal_count[start]) > _TONAL_FRAMES_SHARE * n_loud):
                out[row, start:end] = True
            elif modulation_db < _SYLLABIC_MODULATION_DB[-1] and end - start > lag:
                unmodulated.append((index, _STATIONARY_SHARE[int(modulation_db >= _SYLLABIC_MODULATION_DB[0])]))
        if unmodulated:
            frames = np.concatenate([np.arange(starts[i], min(ends[i], n_frames - lag)) for i, _ in unmodulated])
            stationary = np.zeros(n_frames, dtype=bool)
            stationary[frames] = _stationary(analysis.power[row], analysis.noise[row], frames)
            count = np.concatenate(([0], np.cumsum(stationary)))
            for i, share in unmodulated:
                if count[ends[i] - lag] - count[starts[i]] > share * (ends[i] - lag - starts[i]):
                    out[row, starts[i]:ends[i]] = True
    return out


def _speech(analysis: _Analysis, options: TurnOptions) -> np.ndarray:
    """Speech frames per channel: hysteresis on the whitened SNR, crosstalk gate, smoothing, padding, non-speech out.

    Continuation reads the SNR averaged over `_SMOOTH_FRAMES` (one faint frame in
    a vowel is no pause); the start needs `_START_FRAMES` confident frames above
    `options.floor_dbfs` in-band, so a click (one or two frames) or faint hiss on a
    digitally silent line never starts a run.
    """
    snr_db, band_dbfs = analysis.snr_db, analysis.band_dbfs
    if snr_db.shape[1] == 0:
        return np.zeros(snr_db.shape, dtype=bool)
    centre, spread = analysis.noise_centre_db[:, np.newaxis], analysis.noise_spread_db[:, np.newaxis]
    smoothed = snr_db
    if _SMOOTH_FRAMES > 1 and snr_db.shape[1] >= _SMOOTH_FRAMES:
        linear = 10.0 ** (snr_db / 10.0)
        smoothed = snr_db.copy()
        kernel = np.ones(_SMOOTH_FRAMES) / _SMOOTH_FRAMES
        for row in range(linear.shape[0]):
            smoothed[row] = 10.0 * np.log10(np.convolve(linear[row], kernel, mode="same"))
    candidate = smoothed > np.maximum(options.continue_db, centre + _CONTINUE_SIGMAS * spread)
    confident = (snr_db > np.maximum(options.threshold_db, centre + _START_SIGMAS * spread)) & \
        (band_dbfs > options.floor_dbfs)
    if snr_db.shape[0] > 1:
        gate = _crosstalk_gate(band_dbfs, candidate)
        candidate &= gate
        confident &= gate
    active = _hysteresis(candidate, confident, _START_FRAMES)
    speech = np.stack([_smooth(row, options.frame_s) for row in active])
    if _PAD_FRAMES:
        for row in range(speech.shape[0]):
            starts, ends = _runs(speech[row])
            if starts.size == 0:
                continue
            peak_db = np.maximum.reduceat(smoothed[row], starts) if starts.size else starts
            # reduceat over [start, next start): the run and the gap after it; the gap is quieter
            pad = np.clip(np.round((_PAD_FULL_DB - (peak_db - centre[row, 0])) / _PAD_DB_PER_FRAME), 0,
                          _PAD_FRAMES).astype(int)
            speech[row] = _runs_to_mask(np.maximum(starts - pad, 0),
                                        np.minimum(ends + pad, speech.shape[1]), speech.shape[1])
    speech &= ~_non_speech(analysis, speech)
    return speech


def speech_frames(samples: np.ndarray, sample_rate_hz: int, options: TurnOptions) -> np.ndarray:
    """Voice activity per `options.frame_s` frame.

    Parameters
    ----------
    samples : float audio, either 1-D (one channel) or (n_channels, n_samples), one
        side of the call per channel. With several channels each frame is also
        checked against the other channels for crosstalk (see `_crosstalk_gate`).
    sample_rate_hz : the samples' rate.
    options : thresholds and frame length.

    Returns
    -------
    bool array, shape (n_frames,) or (n_channels, n_frames), n_frames =
    n_samples // frame length (a trailing partial frame is ignored). True where the
    frame is speech, after click removal and syllable-gap bridging.
    """
    samples = np.asarray(samples, dtype=np.float32)
    channels = samples[np.newaxis] if samples.ndim == 1 else samples
    speech = _speech(_analyse(channels, sample_rate_hz, _frame_length(sample_rate_hz, options)), options)
    return speech[0] if samples.ndim == 1 else speech


# --------------------------------------------------------------------------- turn cutting

def _split_long(start: int, end: int, speech: np.ndarray, max_frames: int) -> list[tuple[int, int]]:
    """Cuts a run longer than `max_frames` into equal pieces, each cut moved to the nearest pause.

    Equal pieces rather than max-length ones, so no piece is a stub; cutting in a
    pause (within a small window that keeps every piece under the limit) so no word
    is cut in two where the speaker breathed nearby.
    """
    length = end - start
    n_pieces = math.ceil(length / max_frames)
    piece = length / n_pieces
    window = int(min(50, (max_frames - piece) / 2, piece / 4))
    cuts = [start]
    for k in range(1, n_pieces):
        target = int(round(start + k * piece))
        lo, hi = max(cuts[-1] + 1, target - window), min(end - 1, target + window + 1)
        pauses = np.flatnonzero(~speech[lo:hi]) + lo
        cuts.append(int(pauses[np.argmin(np.abs(pauses - target))]) if pauses.size else target)
    cuts.append(end)
    pieces = []
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        inside = np.flatnonzero(speech[lo:hi])
        if inside.size:
            pieces.append((lo + int(inside[0]), lo + int(inside[-1]) + 1))
    return pieces


def _cut_turns(speech: np.ndarray, options: TurnOptions, others: np.ndarray | None = None) -> list[tuple[int, int]]:
    """(start, end) frame ranges of one channel's turns.

    A turn ends when its side pauses for `min_gap_s`, unless `others` (the frames
    where any other side speaks, when there is another side to know of) says the
    pause was not a change of turn: nobody else spoke in it and it lasted under
    `max_pause_s`. The mid-sentence pauses of a slow or hesitant talker run to a
    second; on a noisy line the soft syllables around them vanish too, and a
    sentence used to come out as two short turns, each scored on half its words.
    A turn changes when another side takes the floor, and that is what the rule
    asks (the benchmark's simulated calls at 10 dB SNR: turn recall on the
    development voices 0.909 -> 0.978, see docs/studies/speech_detection.md).
    """
    def frames(seconds: float) -> int:
        return int(math.ceil(seconds / options.frame_s - 1e-9))

    starts, ends = _merge_gaps(*_runs(speech), frames(options.min_gap_s))
    if others is not None:
        starts, ends = _merge_gaps(starts, ends, frames(options.max_pause_s), busy=others)
    keep = (ends - starts) >= frames(options.min_turn_s)
    max_frames = max(1, int(options.max_turn_s / options.frame_s + 1e-9))
    ranges: list[tuple[int, int]] = []
    for start, end in zip(starts[keep].tolist(), ends[keep].tolist()):
        ranges.extend(_split_long(start, end, speech, max_frames) if end - start > max_frames else [(start, end)])
    return ranges


# --------------------------------------------------------------------------- pitch

def _pitch_frame_centres(speech: np.ndarray, start: int, end: int) -> np.ndarray:
    """VAD frame indices of one turn to estimate pitch on: its speech frames, evenly thinned."""
    frames = np.flatnonzero(speech[start:end]) + start
    step = max(_PITCH_HOP_FRAMES, math.ceil(frames.size / _PITCH_FRAMES_PER_TURN))
    offset = (frames.size - 1) % step // 2          # centre the sample in the turn
    return frames[offset::step]


def _yin_f0_hz(segments: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """F0 per row of `segments` (float32, (n, segment samples)), NaN where not voiced.

    Each segment is band-limited to `_PITCH_CUTOFF_HZ` and decimated to
    `_PITCH_RATE_HZ` in the frequency domain (one real FFT, the low bins kept, a
    shorter inverse FFT): an ideal anti-alias filter at no extra cost, where a
    time-domain decimator over the whole call would cost more than the pitch
    estimate itself. YIN (de Cheveigne & Kawahara 2002) then runs on the decimated
    rows: difference function from one batched cross-correlation, cumulative-mean
    normalisation, first dip under the threshold (which avoids octave-down errors),
    parabolic refinement of both the lag and the dip's depth.

    Why 8 kHz and 2 kHz: at 4 kHz the true period falls up to half a lag step
    from a sampled lag, which for 1-2 kHz harmonics is a large phase error, and
    clearly voiced telephone speech then reads as aperiodic; harmonics above 2 kHz
    add the same error and little periodicity. On the demo calls, frame F0s from
    this setting agree with `librosa.pyin` within 5 % on 93 % of the frames both
    call voiced (90 % at 4 kHz); per-turn medians agree within 10 % on 87 % of turns.
    """
    n, length = segments.shape
    length_low = int(round(length * _PITCH_RATE_HZ / sample_rate_hz))
    rate_hz = length_low * sample_rate_hz / length    # _PITCH_RATE_HZ up to rounding
    keep_bins = min(length_low // 2, int(_PITCH_CUTOFF_HZ * length / sample_rate_hz))
    spectrum = scipy.fft.rfft(segments, axis=-1, workers=1)[:, :keep_bins]
    decimated = scipy.fft.irfft(spectrum, n=length_low, axis=-1, workers=1)
    window = int(round(_PITCH_WINDOW_S * rate_hz))
    tau_min = int(math.floor(rate_hz / _PITCH_FMAX_HZ))
    tau_max = int(math.ceil(rate_hz / _PITCH_FMIN_HZ)) + 1
    margin = (length_low - window - tau_max) // 2      # ends of the segment carry the brick-wall filter's ringing
    signal = decimated[:, margin: margin + window + tau_max]
    n_fft = 1 << int(math.ceil(math.log2(signal.shape[1])))
    cross = scipy.fft.irfft(np.conj(scipy.fft.rfft(signal[:, :window], n=n_fft, axis=-1))
                            * scipy.fft.rfft(signal, n=n_fft, axis=-1), n=n_fft, axis=-1)[:, : tau_max]
    squares = np.concatenate((np.zeros((n, 1)), np.cumsum(signal * signal, axis=-1)), axis=-1)
    shifted_energy = squares[:, window: window + tau_max] - squares[:, :tau_max]
    difference = np.maximum(cross[:, :1] + shifted_energy - 2.0 * cross, 0.0)
    lags = np.arange(tau_max)
    cumulative = np.cumsum(difference[:, 1:], axis=-1)
    cmndf = np.ones_like(difference)
    cmndf[:, 1:] = difference[:, 1:] * lags[1:] / np.maximum(cumulative, 1e-12)
    search = cmndf[:, tau_min: tau_max - 1]           # last lag kept for the parabola
    below = search < _YIN_THRESHOLD
    rising = np.diff(cmndf[:, tau_min: tau_max], axis=-1) > 0
    first_below = np.where(below.any(axis=-1), below.argmax(axis=-1), search.shape[1])
    # the local minimum that ends the first dip: first rising step at or after the crossing
    after = (np.arange(search.shape[1]) >= first_below[:, None]) & rising
    dip = np.where(after.any(axis=-1), after.argmax(axis=-1), search.argmin(axis=-1))
    dip = np.where(below.any(axis=-1), dip, search.argmin(axis=-1))
    tau = dip + tau_min
    rows = np.arange(n)
    left, centre, right = cmndf[rows, tau - 1], cmndf[rows, tau], cmndf[rows, np.minimum(tau + 1, tau_max - 1)]
    curvature = left - 2.0 * centre + right
    shift = np.clip(np.where(curvature > 0, 0.5 * (left - right) / np.where(curvature > 0, curvature, 1.0), 0.0),
                    -0.5, 0.5)
    # the dip's depth between lag samples: at a coarse analysis rate the true period falls between two
    # lags, and the sampled minimum of a clearly periodic frame can read 0.3-0.5
    depth = centre - 0.25 * (left - right) * shift
    voiced = (depth < _YIN_VOICED_MAX) & (tau > tau_min) & (tau < tau_max - 1)
    f0_hz = rate_hz / (tau + shift)
    return np.where(voiced, f0_hz, np.nan)


def _turn_pitches_hz(channels: np.ndarray, sample_rate_hz: int, frame_length: int,
                     turns: list[tuple[int, int, int]], speech: np.ndarray) -> list[float | None]:
    """Median F0 of each (channel, start frame, end frame) turn, all turns in one batch."""
    segment = scipy.fft.next_fast_len(int(round(_PITCH_SEGMENT_S * sample_rate_hz)), real=True)
    n_samples = channels.shape[1]
    if n_samples < segment or not turns:
        return [None] * len(turns)
    centres = [_pitch_frame_centres(speech[channel], start, end) for channel, start, end in turns]
    counts = [c.size for c in centres]
    sample_starts = np.clip(np.concatenate(centres) * frame_length + frame_length // 2 - segment // 2,
                            0, n_samples - segment)
    turn_channels = np.repeat([channel for channel, _, _ in turns], counts)
    windows = np.lib.stride_tricks.sliding_window_view(channels, segment, axis=-1)
    f0_hz = _yin_f0_hz(windows[turn_channels, sample_starts], sample_rate_hz)
    medians: list[float | None] = []
    for part in np.split(f0_hz, np.cumsum(counts)[:-1]):
        voiced = part[~np.isnan(part)]
        enough = voiced.size >= max(_MIN_VOICED_FRAMES, _MIN_VOICED_SHARE * part.size)
        medians.append(float(np.median(voiced)) if enough else None)
    return medians


# --------------------------------------------------------------------------- turns

def _turn(speaker: str, channel: int, start: int, end: int, own: np.ndarray, others: np.ndarray,
          energy: np.ndarray, floor_dbfs: float, frame_s: float, pitch_hz: float | None) -> Turn:
    """One turn's row from its frame range: stereo sides and diarized speakers measure turns alike.

    `own` and `others` are the turn's frames where this speaker, and where anyone
    else, speaks; `energy` is the frame energy of the turn's channel.
    """
    loudness_dbfs = round(float(_level_dbfs(energy[start:end][own].mean())), 2)
    return Turn(
        speaker=speaker,
        channel=channel,
        start_s=round(start * frame_s, 6),
        end_s=round(end * frame_s, 6),
        speech_ratio=round(float(own.mean()), 4),
        overlap_s=round(float(np.count_nonzero(own & others)) * frame_s, 6),
        loudness_dbfs=loudness_dbfs,
        pitch_median_hz=None if pitch_hz is None else round(pitch_hz, 1),
        snr_db=round(loudness_dbfs - floor_dbfs, 2),
    )

def _turns(channels: np.ndarray, sample_rate_hz: int, speakers: Mapping[int, str],
           options: TurnOptions) -> list[Turn]:
    channels = np.asarray(channels, dtype=np.float32)
    frame_length = _frame_length(sample_rate_hz, options)
    energy = _frame_energy(channels, frame_length)
    levels_dbfs = _level_dbfs(energy)
    speech = _speech(_analyse(channels, sample_rate_hz, frame_length), options)
    floors_dbfs = _noise_floor_dbfs(levels_dbfs)
    frame_s = frame_length / sample_rate_hz
    other_speech = np.zeros_like(speech)
    for channel in range(channels.shape[0]):
        other_speech[channel] = np.delete(speech, channel, axis=0).any(axis=0)
    several = channels.shape[0] > 1        # one channel alone cannot tell a pause from a change of turn
    ranges = [(channel, start, end) for channel in range(channels.shape[0])
              for start, end in _cut_turns(speech[channel], options, other_speech[channel] if several else None)]
    pitches = _turn_pitches_hz(channels, sample_rate_hz, frame_length, ranges, speech)
    turns = [_turn(speakers.get(channel, f"speaker_{channel}"), channel, start, end, speech[channel, start:end],
                   other_speech[channel, start:end], energy[channel], float(floors_dbfs[channel]), frame_s, pitch_hz)
             for (channel, start, end), pitch_hz in zip(ranges, pitches)]
    turns.sort(key=lambda t: (t.start_s, t.channel))
    return turns


def stereo_turns(channels: np.ndarray, sample_rate_hz: int, roles: Mapping[int, str],
                 options: TurnOptions) -> list[Turn]:
    """Turns of a stereo call recording with one side per channel.

    Parameters
    ----------
    channels : float32 (2, n_samples), values in [-1, 1].
    sample_rate_hz : 16000 in the pipeline; any rate >= 8 kHz works.
    roles : channel index -> "agent" / "customer"; a channel missing from it is
        named "speaker_<index>".
    options : VAD and turn-cutting settings.

    Returns
    -------
    Turns of both channels sorted by start time. `overlap_s` counts the frames of a
    turn in which both its own side and the other side are speaking (VAD frames,
    not turn spans, so the other side's pauses do not count as overlap).
    """
    channels = np.asarray(channels)
    if channels.ndim != 2:
        raise ValueError(f"stereo_turns needs (n_channels, n_samples) audio, got shape {channels.shape}")
    return _turns(channels, sample_rate_hz, roles, options)


def mono_turns(samples: np.ndarray, sample_rate_hz: int, options: TurnOptions,
               speaker: str = "speaker_0") -> list[Turn]:
    """Speech turns of a single-channel recording, all credited to `speaker`.

    Without a second channel there is no crosstalk to reject and no overlap to
    measure (`overlap_s` is 0); separating the voices of a mono recording is
    diarization's job, which can relabel these turns.
    """
    samples = np.asarray(samples)
    if samples.ndim != 1:
        raise ValueError(f"mono_turns needs 1-D audio, got shape {samples.shape}")
    return _turns(samples[np.newaxis], sample_rate_hz, {0: speaker}, options)


def speaker_turns(samples: np.ndarray, sample_rate_hz: int, speech_by_speaker: np.ndarray,
                  speakers: list[str], options: TurnOptions) -> list[Turn]:
    """Turns of a single-channel recording whose speech frames are already attributed to speakers.

    The mono counterpart of `stereo_turns` for a diarized recording: the same turn
    cutting, loudness and pitch, each speaker's turns cut from that speaker's own
    frames of the one channel (so every turn has `channel` 0).

    Parameters
    ----------
    samples : float 1-D audio.
    sample_rate_hz : its rate.
    speech_by_speaker : bool (n_speakers, n_frames) on the `options.frame_s` grid
        (as `speech_frames` returns it): True where that speaker is speaking.
    speakers : the name of each row ("speaker_0", "agent", ...).
    options : turn-cutting settings.

    Returns
    -------
    Turns of all speakers sorted by start time. `overlap_s` counts the frames of a
    turn in which another speaker's row is also True (0 when each frame has at
    most one speaker, as a single-label diarization gives).
    """
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"speaker_turns needs 1-D audio, got shape {samples.shape}")
    speech = np.asarray(speech_by_speaker, dtype=bool)
    if speech.ndim != 2 or speech.shape[0] != len(speakers):
        raise ValueError(f"speech_by_speaker has shape {speech.shape} for {len(speakers)} speakers")
    frame_length = _frame_length(sample_rate_hz, options)
    energy = _frame_energy(samples[np.newaxis], frame_length)[0]
    n_frames = min(energy.size, speech.shape[1])
    energy, speech = energy[:n_frames], speech[:, :n_frames]
    floor_dbfs = float(_noise_floor_dbfs(_level_dbfs(energy)))
    frame_s = frame_length / sample_rate_hz
    ranges = [(row, start, end) for row in range(speech.shape[0]) for start, end in _cut_turns(speech[row], options)]
    # every row reads the same channel: a broadcast view, not copies of the signal
    channels = np.broadcast_to(samples, (speech.shape[0], samples.size))
    pitches = _turn_pitches_hz(channels, sample_rate_hz, frame_length, ranges, speech)
    speaking = speech.sum(axis=0)
    turns = []
    for (row, start, end), pitch_hz in zip(ranges, pitches):
        own = speech[row, start:end]
        others = (speaking[start:end] - own) > 0
        turns.append(_turn(speakers[row], 0, start, end, own, others, energy, floor_dbfs, frame_s, pitch_hz))
    turns.sort(key=lambda t: (t.start_s, t.speaker))
    return turns
