"""Training-time perturbations that make studio clips sound like contact-centre calls.

The corpora are clean studio recordings; the product scores telephone calls. The
telephone channel (8 kHz, 300-3400 Hz band, G.711 companding, line noise) is the
largest mismatch, so it is applied to most training clips; gain, noise and speed
changes cover the rest of the variation between recordings. SpecAugment-style
masking acts on features: it is a layer of the model (`ser_model.model.SpecAugment`).
"""
from __future__ import annotations

import dataclasses
import io

import numpy as np
import scipy.signal
import soundfile
import soxr

TELEPHONE_RATE_HZ = 8000


def _mu_law(samples: np.ndarray, mu: float = 255.0) -> np.ndarray:
    """G.711 mu-law encode/decode at 8 bits: the quantisation noise is the point."""
    encoded = np.sign(samples) * np.log1p(mu * np.abs(samples)) / np.log1p(mu)
    quantised = np.round((encoded + 1.0) * 127.5) / 127.5 - 1.0
    return np.sign(quantised) * np.expm1(np.abs(quantised) * np.log1p(mu)) / mu


def _a_law(samples: np.ndarray, a: float = 87.6) -> np.ndarray:
    """G.711 A-law encode/decode at 8 bits."""
    x = np.abs(samples)
    small = x < 1.0 / a
    encoded = np.where(small, a * x / (1 + np.log(a)), (1 + np.log(np.maximum(a * x, 1e-12))) / (1 + np.log(a)))
    encoded = np.sign(samples) * encoded
    quantised = np.round((encoded + 1.0) * 127.5) / 127.5 - 1.0
    y = np.abs(quantised)
    small_y = y < 1.0 / (1 + np.log(a))
    decoded = np.where(small_y, y * (1 + np.log(a)) / a, np.exp(y * (1 + np.log(a)) - 1) / a)
    return np.sign(quantised) * decoded


# Low-bitrate archive codecs, as libsndfile writes them (no ffmpeg needed at training
# time). Contact centres often keep calls as 16 kbit/s MP3 or Ogg Vorbis: their
# artefacts (smeared transients, holes in the spectrum) are not G.711's. At such
# rates encoders also low-pass the audio (ffmpeg's LAME at 16 kbit/s and 8 kHz takes
# 7-9 dB off the 2.5-4 kHz bands of the demo calls), which libsndfile's encoder does
# not do on its own: `lowpass_hz` adds it, as a 4th-order Butterworth before encoding.
_ARCHIVE_CODECS = {
    "mp3": {"format": "MP3", "subtype": "MPEG_LAYER_III", "compression_level": 0.9, "bitrate_mode": "CONSTANT",
            "lowpass_hz": 2400.0},
    "vorbis": {"format": "OGG", "subtype": "VORBIS", "compression_level": 1.0, "lowpass_hz": 3000.0},
}


def _archive_codec(samples: np.ndarray, sample_rate_hz: int, codec: str) -> np.ndarray:
    """Encode and decode through a lossy archive codec; same length out (codec delay trimmed)."""
    settings = dict(_ARCHIVE_CODECS[codec])
    lowpass = scipy.signal.butter(4, settings.pop("lowpass_hz"), btype="lowpass", fs=sample_rate_hz, output="sos")
    buffer = io.BytesIO()
    soundfile.write(buffer, scipy.signal.sosfilt(lowpass, samples).astype(np.float32), sample_rate_hz, **settings)
    buffer.seek(0)
    decoded, _ = soundfile.read(buffer, dtype="float64")
    out = np.zeros(samples.size)
    # MP3 decoders return the encoder's priming delay first; align on the best lag.
    search = min(2048, max(decoded.size - samples.size, 0))
    lag = 0
    if search:
        scores = scipy.signal.correlate(decoded[: samples.size + search], samples, mode="valid")
        lag = int(np.argmax(scores))
    n = min(samples.size, decoded.size - lag)
    out[:n] = decoded[lag: lag + n]
    return out


def telephone_channel(
    samples: np.ndarray,
    sample_rate_hz: int,
    *,
    codec: str = "mulaw",
    noise_dbfs: float | None = -50.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Pass audio through a narrow-band telephone line and back to `sample_rate_hz`.

    Parameters
    ----------
    samples : mono float audio
    sample_rate_hz : its rate; the output has the same rate and length
    codec : "mulaw", "alaw" (G.711), "mp3", "vorbis" (low-bitrate archive codecs) or "none"
    noise_dbfs : level of white line noise added at 8 kHz, or None for none
    """
    rng = rng or np.random.default_rng(0)
    narrow = soxr.resample(samples.astype(np.float64), sample_rate_hz, TELEPHONE_RATE_HZ, quality="HQ")
    band = scipy.signal.butter(6, [300.0, 3400.0], btype="bandpass", fs=TELEPHONE_RATE_HZ, output="sos")
    narrow = scipy.signal.sosfilt(band, narrow)
    if noise_dbfs is not None:
        narrow = narrow + rng.normal(0.0, 10 ** (noise_dbfs / 20.0), narrow.shape)
    narrow = np.clip(narrow, -1.0, 1.0)
    if codec == "mulaw":
        narrow = _mu_law(narrow)
    elif codec == "alaw":
        narrow = _a_law(narrow)
    elif codec in _ARCHIVE_CODECS:
        narrow = _archive_codec(narrow, TELEPHONE_RATE_HZ, codec)
    elif codec != "none":
        raise ValueError(f"unknown codec {codec!r}")
    wide = soxr.resample(narrow, TELEPHONE_RATE_HZ, sample_rate_hz, quality="HQ")
    out = np.zeros_like(samples, dtype=np.float32)
    n = min(out.size, wide.size)
    out[:n] = wide[:n]
    return out


def speed_perturb(samples: np.ndarray, factor: float) -> np.ndarray:
    """Kaldi-style speed perturbation: resampling changes tempo and pitch together."""
    return soxr.resample(samples.astype(np.float64), 16000 * factor, 16000, quality="HQ").astype(np.float32)


def add_noise(samples: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """White noise at `snr_db` below the clip's RMS level."""
    rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)) + 1e-9)
    noise = rng.normal(0.0, rms * 10 ** (-snr_db / 20.0), samples.shape)
    return (samples + noise).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Variant:
    """One deterministic perturbation of a clip, named so feature caches can key on it."""

    name: str
    telephone_codec: str | None = None
    speed: float = 1.0
    gain_db: float = 0.0
    snr_db: float | None = None


# Clean, two G.711 telephone lines, a speed-perturbed noisy line, two archive codecs:
# each clip is seen as studio audio and as a call, which the evaluation also measures.
TRAINING_VARIANTS: tuple[Variant, ...] = (
    Variant("clean"),
    Variant("tel_mulaw", telephone_codec="mulaw", gain_db=-6.0),
    Variant("tel_alaw_noisy", telephone_codec="alaw", gain_db=-12.0, snr_db=25.0),
    Variant("tel_fast", telephone_codec="mulaw", speed=1.1, snr_db=30.0),
    Variant("slow_noisy", speed=0.9, gain_db=6.0, snr_db=20.0),
    Variant("tel_mp3_lowpass", telephone_codec="mp3", gain_db=-3.0, snr_db=35.0),
    Variant("tel_vorbis_lowpass_slow", telephone_codec="vorbis", speed=0.95, gain_db=-9.0),
)
EVALUATION_CHANNELS: dict[str, Variant] = {
    "clean": Variant("clean"),
    "telephone": Variant("telephone", telephone_codec="mulaw"),
}


def apply_variant(samples: np.ndarray, sample_rate_hz: int, variant: Variant, seed: int) -> np.ndarray:
    """Apply one variant; `seed` makes the random parts (noise) reproducible per clip."""
    rng = np.random.default_rng(seed)
    out = samples.astype(np.float32)
    if variant.speed != 1.0:
        out = speed_perturb(out, variant.speed)
    if variant.gain_db:
        out = np.clip(out * 10 ** (variant.gain_db / 20.0), -1.0, 1.0)
    if variant.snr_db is not None:
        out = add_noise(out, variant.snr_db, rng)
    if variant.telephone_codec is not None:
        out = telephone_channel(out, sample_rate_hz, codec=variant.telephone_codec, rng=rng)
    return out.astype(np.float32)
