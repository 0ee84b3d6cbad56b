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
blocks: the decoder applies it to each block it decodes, at the recording's own
rate and before resampling (`decode_audio(high_pass_hz=...)`), so an 8 kHz call is
filtered on half the samples of the 16 kHz model rate (0.09 against 0.18 ms of CPU
per second of stereo call) and memory stays a block whatever the call's length. Its
phase shift is harmless here: every consumer (frame energies, log-mel features, YIN
pitch) looks at magnitudes or at one signal's own periodicity, never at the waveform
against another signal. It runs as one biquad in direct form through
`scipy.signal.lfilter` in float32, about 15 % cheaper than second-order sections
through `sosfilt`; in float32 the coefficients still cancel exactly at DC and move the
poles (radius 0.9917 at 16 kHz) by 3e-6, and the output differs from the `sosfilt` one
by 2e-5 of full scale at most. A cheaper first-order DC blocker does not do the job: at
a 30 Hz corner it takes 5 Hz down by 16 dB, not the 26 dB tests/test_dc_offset.py holds
this filter to. Without `high_pass_hz` the decoder stays exact (tests/test_decode.py
compares samples).
"""
from __future__ import annotations

import numpy as np
from scipy import signal

HIGH_PASS_HZ = 30.0
_ORDER = 2
_SETTLE_S = 0.1            # the filter starts as if its first block's first 0.1 s mean had always been there


class HighPass:
    """The high-pass over a stream of blocks (n_frames, n_channels) float32, its state carried from one to the next.

    The filter starts in the steady state for the mean of the first 0.1 s of the
    first block, so a recording that begins with an offset does not begin with the
    filter's step response (a 0.05 offset would otherwise be a click the VAD could
    call speech). Values stay in [-1, 1]: removing an offset can only push a sample
    past full scale by about the offset, and downstream maths assumes full scale is 1.
    """

    def __init__(self, n_channels: int, sample_rate_hz: int, cutoff_hz: float = HIGH_PASS_HZ):
        self.sample_rate_hz = sample_rate_hz
        self._b, self._a = (coefficients.astype(np.float32)
                            for coefficients in signal.butter(_ORDER, cutoff_hz, btype="highpass", fs=sample_rate_hz))
        self._n_channels = n_channels
        self._state: np.ndarray | None = None            # (2, n_channels), lfilter's zi along axis 0

    def __call__(self, block: np.ndarray) -> np.ndarray:
        if block.ndim != 2 or block.shape[1] != self._n_channels or block.dtype != np.float32:
            raise TypeError(f"blocks must be float32 (n_frames, {self._n_channels}), got {block.dtype} {block.shape}")
        if block.shape[0] == 0:
            return block
        if self._state is None:
            settle = block[: max(1, int(_SETTLE_S * self.sample_rate_hz))]
            start_level = settle.mean(axis=0, dtype=np.float64).astype(np.float32)
            self._state = signal.lfilter_zi(self._b, self._a).astype(np.float32)[:, None] * start_level[None, :]
        filtered, self._state = signal.lfilter(self._b, self._a, block, axis=0, zi=self._state)
        return np.clip(filtered, -1.0, 1.0, out=filtered)
