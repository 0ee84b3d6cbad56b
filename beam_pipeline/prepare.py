"""From a recording (its bytes, or a file object opened on it) to speaker turns ready for the model: decode, cut turns, make windows.

A pure function of its inputs (no Beam, no I/O) so `callmood score` and the
pipeline run exactly the same code, and tests can call it directly. Every way a
recording can be unusable raises `StageError` naming the stage and a reason a
supervisor can act on; the pipeline turns it into an errors-table row.
"""
from __future__ import annotations

import dataclasses
import time
from typing import BinaryIO, Callable, Mapping

import numpy as np

from beam_pipeline.audio.dc import HIGH_PASS_HZ
from beam_pipeline.audio.decode import AudioDecodeError, decode_audio
from beam_pipeline.options import CallmoodOptions
from beam_pipeline.records import StageError
from beam_pipeline.segment.conversation import ConversationStats, conversation_stats
from beam_pipeline.segment.diarization import DiarizationOptions, diarized_turns
from beam_pipeline.segment.turns import Turn, stereo_turns
from beam_pipeline.sources.recordings import CallIdentity
from beam_pipeline.sources.text import printable
from ser_model.features import FeatureSpec, window_features


@dataclasses.dataclass(frozen=True)
class CallContext:
    """What every turn of a call carries: the call's identity, its audio facts and its turn statistics.

    `recording_uri` is the path as the tables store it (phone-number-like runs
    pseudonymised, `CallIdentity.recording_uri`); `clear_uri` is the path as read,
    which only the `recording_paths` table keeps.
    """

    recording_uri: str
    identity: CallIdentity
    duration_s: float
    n_channels: int
    source_sample_rate_hz: int
    source_format: str
    n_turns: int
    stats: ConversationStats
    clear_uri: str = ""


@dataclasses.dataclass(frozen=True)
class TurnRef:
    """The key a turn travels under through RunInference: which call, which turn, and how to weigh its windows."""

    call: CallContext
    turn_index: int
    turn: Turn
    window_weights: np.ndarray

    def __hash__(self) -> int:
        return hash((self.call.recording_uri, self.turn_index))


@dataclasses.dataclass(frozen=True)
class PreparedCall:
    call: CallContext
    turns: tuple[TurnRef, ...]
    windows: tuple[np.ndarray, ...]     # per turn: float32 (n_windows, frames, mels)


_DUAL_MONO_BLOCK = 1 << 20        # samples per channel compared at a time: temporaries stay a few MB
_NOISE_NOT_SILENCE_DBFS = -45.0   # a recording with no turns this loud is noise, not silence


def _is_dual_mono(channels: np.ndarray) -> bool:
    """Both channels carry the same signal (a mono recording saved as stereo): not two sides of a call.

    Summed block by block, so a three-hour call costs no temporary of its own size.
    """
    difference = level = 0.0
    for start in range(0, channels.shape[1], _DUAL_MONO_BLOCK):
        left = channels[0, start:start + _DUAL_MONO_BLOCK]
        delta = left - channels[1, start:start + _DUAL_MONO_BLOCK]
        difference += float(np.dot(delta, delta))
        level += float(np.dot(left, left))
    return difference < 1e-4 * (level + 1e-12 * channels.shape[1])


def _no_speech_reason(channels: np.ndarray, duration_s: float) -> str:
    """Why a recording gave no turn: silence, or noise loud enough that it is not silence.

    The VAD finds speech as frames well above a line's own noise floor, so steady
    noise at any level (a line with no one on it, a hiss at full scale) has no
    speech; calling a full-scale noise "silent" sends whoever reads the errors
    table looking for the wrong fault.
    """
    peak = max(float(np.max(channels)), -float(np.min(channels)))
    peak_dbfs = 20 * np.log10(peak + 1e-12)
    mean_square = max(float(np.dot(row, row)) / max(1, row.size) for row in channels)
    level_dbfs = 10 * np.log10(mean_square + 1e-12)
    if level_dbfs > _NOISE_NOT_SILENCE_DBFS:
        return (f"no speech found in {duration_s:.1f} s of loud noise (level {level_dbfs:.0f} dBFS, "
                f"peak {peak_dbfs:.0f} dBFS): nothing rises above the noise, check the line or the recorder")
    return (f"no speech found in {duration_s:.1f} s (level {level_dbfs:.0f} dBFS, "
            f"peak level {peak_dbfs:.0f} dBFS): silent or empty recording")


class _StageTimer:
    def __init__(self, report: Callable[[str, float], None] | None):
        self._report = report
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        if self._report is not None:
            self._report(stage, now - self._last)
        self._last = now


def _roles(identity: CallIdentity, n_channels: int, default_map: Mapping[int, str]) -> dict[int, str]:
    mapping = dict(identity.channel_map if identity.channel_map is not None else default_map)
    if n_channels == 1:
        if identity.channel_map is not None and len(identity.channel_map) > 1:
            raise StageError("sidecar", f"sidecar maps {len(identity.channel_map)} channels but the recording is mono")
        return {}
    missing = sorted(set(range(n_channels)) - set(mapping))
    extra = sorted(set(mapping) - set(range(n_channels)))
    if missing or extra:
        raise StageError("sidecar", f"channel map {mapping} does not fit a {n_channels}-channel recording")
    return mapping


def prepare_call(data: bytes | BinaryIO, recording_uri: str, identity: CallIdentity, options: CallmoodOptions,
                 spec: FeatureSpec, stage_timer: Callable[[str, float], None] | None = None) -> PreparedCall:
    """Decode, cut into speaker turns and compute each turn's model windows.

    `data` is best a file object (Beam's `ReadableFile.open()`, or `open(path, "rb")`):
    the decoder then reads it in blocks and never holds the file's bytes, which for
    a long high-rate recording are larger than the decoded call (see decode.py).
    `stage_timer(stage, seconds)`, if given, is told how long each stage took: the
    pipeline feeds it to Beam metrics, which is how the benchmark splits time by stage.
    A StageError leaves carrying the recording's stored uri, so its errors row is
    keyed like the recording's calls row would be.
    """
    try:
        return _prepare_call(data, recording_uri, identity, options, spec, stage_timer)
    except StageError as exc:
        if exc.recording_uri is None:
            exc.recording_uri = identity.recording_uri or None
        raise


def _prepare_call(data: bytes, recording_uri: str, identity: CallIdentity, options: CallmoodOptions,
                  spec: FeatureSpec, stage_timer: Callable[[str, float], None] | None) -> PreparedCall:
    timer = _StageTimer(stage_timer)
    try:
        # high-passed while decoding, before any level is measured (audio/dc.py)
        audio = decode_audio(data, recording_uri, target_rate_hz=spec.sample_rate_hz,
                             max_duration_s=options.max_duration_s, high_pass_hz=HIGH_PASS_HZ)
    except AudioDecodeError as exc:
        raise StageError("decode", str(exc)) from exc
    if audio.duration_s < options.min_duration_s:
        raise StageError("decode", f"recording is {audio.duration_s:.2f} s long, under the "
                                   f"{options.min_duration_s:.1f} s minimum")
    timer.lap("decode")
    roles = _roles(identity, audio.n_channels, options.channel_map)
    channels = audio.channels
    if audio.n_channels == 2 and _is_dual_mono(channels):
        channels = channels[:1]
    if channels.shape[0] == 2:
        turns = stereo_turns(channels, audio.sample_rate_hz, roles, options.turns)
    else:
        turns = diarized_turns(channels[0], audio.sample_rate_hz, options.turns,
                               DiarizationOptions(num_speakers=options.mono_speakers,
                                                  first_speaker_role=options.mono_first_speaker_agent,
                                                  method=options.mono_diarizer))
    if not turns:
        raise StageError("segment", _no_speech_reason(audio.channels, audio.duration_s))
    stats = conversation_stats(turns, audio.duration_s)
    timer.lap("segment")
    call = CallContext(recording_uri=identity.recording_uri or printable(recording_uri), identity=identity,
                       duration_s=audio.duration_s, n_channels=audio.n_channels,
                       source_sample_rate_hz=audio.source_sample_rate_hz, source_format=audio.source_format,
                       n_turns=len(turns), stats=stats, clear_uri=printable(recording_uri))
    refs, windows = [], []
    for index, turn in enumerate(turns):
        start = int(round(turn.start_s * audio.sample_rate_hz))
        end = int(round(turn.end_s * audio.sample_rate_hz))
        turn_windows, weights = window_features(channels[turn.channel, start:end], spec)
        refs.append(TurnRef(call=call, turn_index=index, turn=turn, window_weights=weights))
        windows.append(turn_windows)
    timer.lap("features")
    return PreparedCall(call=call, turns=tuple(refs), windows=tuple(windows))
