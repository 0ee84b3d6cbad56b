"""DC offset and sub-audio rumble out of decoded channels, before any level is measured.

Every level in the job (the VAD's frame energies and noise floor, a turn's dBFS
and SNR, the "silent recording" check) is a mean square, and a constant offset
adds its square to every frame. A recorder or sound card with an offset of 0.05
of full scale (-26 dBFS) lifts the quietest frames of a line from -70 to -26
dBFS: speech at -20 dBFS is then less than the VAD's 12 dB above the floor, and
a call becomes "silent" (0.05) or loses most of its turns (0.03). Slow drift and
rumble below the voice band (handling noise, a fan, a cheap ADC's wandering
bias) do the same in a smaller way.

A 2nd-order Butterworth high-pass at 30 Hz removes both: DC entirely, 5 Hz by
31 dB, 15 Hz by 12 dB, while passing the voice (the lowest voice fundamental the
pitch tracker looks for, 60 Hz, loses 0.3 dB; the model's mel bands start at
60 Hz). It is causal, so it runs block by block with its state carried across
blocks: memory stays a block whatever the call's length. Its phase shift is
harmless here: every consumer (frame energies, log-mel features, YIN pitch) looks
at magnitudes or at one signal's own periodicity, never at the waveform against
another signal. It runs as one biquad in direct form through `scipy.signal.lfilter`
in float32: 0.21 ms of CPU per second of stereo call at 16 kHz, against 0.25 ms as
second-order sections through `sosfilt`. In float32 the coefficients still cancel
exactly at DC and move the poles (radius 0.9917 at 16 kHz) by 3e-6; the output
differs from the `sosfilt` one by 2e-5 of full scale at most (80 s of noise with an
offset and rumble). A cheaper first-order DC blocker does not do the job: at a 30 Hz
corner it takes 5 Hz down by 16 dB, not the 26 dB tests/test_dc_offset.py holds
this filter to. The decoder itself stays exact (tests/test_decode.py compares
samples); this is a separate step the job applies to what the decoder returns.
"""
from __future__ import annotations

import numpy as np
from scipy import signal

HIGH_PASS_HZ = 30.0
_ORDER = 2
_BLOCK_S = 10.0            # filtering block: a few MB per channel, whatever the call's length
_SETTLE_S = 0.1            # the filter starts as if this first stretch's mean had always been there


def remove_dc_in_place(channels: np.ndarray, sample_rate_hz: int, cutoff_hz: float = HIGH_PASS_HZ) -> None:
    """High-pass `channels` (float32, shape (n_channels, n_samples)) in place.

    The filter starts in the steady state for the mean of the first 0.1 s, so a
    recording that begins with an offset does not begin with the filter's step
    response (a 0.05 offset would otherwise be a click the VAD could call speech).
    Values stay in [-1, 1]: removing an offset can only push a sample past full
    scale by about the offset, and downstream maths assumes full scale is 1.
    """
    if channels.ndim != 2 or channels.dtype != np.float32:
        raise TypeError(f"channels must be float32 (n_channels, n_samples), got {channels.dtype} {channels.shape}")
    if channels.shape[1] == 0:
        return
    b, a = (coefficients.astype(np.float32)
            for coefficients in signal.butter(_ORDER, cutoff_hz, btype="highpass", fs=sample_rate_hz))
    settle = channels[:, : max(1, int(_SETTLE_S * sample_rate_hz))]
    start_level = settle.mean(axis=1, dtype=np.float64).astype(np.float32)
    # zi: (n_channels, 2), the state a constant input at start_level leaves behind
    state = signal.lfilter_zi(b, a).astype(np.float32)[None, :] * start_level[:, None]
    block = max(1, int(_BLOCK_S * sample_rate_hz))
    for start in range(0, channels.shape[1], block):
        piece = channels[:, start:start + block]
        filtered, state = signal.lfilter(b, a, piece, axis=1, zi=state)
        np.clip(filtered, -1.0, 1.0, out=piece)
