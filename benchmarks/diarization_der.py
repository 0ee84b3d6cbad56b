"""Diarization error rate of the mono diarizer on simulated calls, and its CPU cost.

Builds mono calls from real speakers of ``../shared/data`` (`benchmarks/simulated_calls.py`:
alternating turns, pauses of 0.2-1.5 s, some overlap, each side through
`ser_model.augment.telephone_channel`, mixed to one 16 kHz channel), writes each
call's reference RTTM, runs the diarizer (`beam_pipeline.segment.diarization.diarized_turns`,
i.e. the Turn rows the pipeline stores) and scores them with pyannote.metrics:

* DER = (missed speech + false alarm + speaker confusion) / reference speech;
* a 0.25 s collar either side of every reference boundary (NIST md-eval's
  ``-c 0.25``; pyannote's ``collar=0.5`` is the collar's total width);
* overlapping speech is scored (a single-label diarizer misses the second voice
  there, which shows up as missed speech).

Speakers: calls are built from the *evaluation* speakers by default (RAVDESS
actors 11-20, EmoDB speakers 12-16), which no parameter of the diarizer was
trained or tuned on; the speaker list is printed with every run. The speaker
embedding (whitening and network) was fitted on RAVDESS 01-06, EmoDB 03, 08, 09
and TurEV; the thresholds (`spread_threshold`, `third_speaker_spread`,
`segment_s`, `switch_penalty`, `smoothing_s`, `speech_padding_s`) and the choice of
`clustering` were tuned on calls of RAVDESS 07-10 and EmoDB 10, 11 (`simulated_calls.TUNING_SPEAKERS`,
``--speakers tuning``, with ``--seed`` 7 to 12 for more calls) and on two folds of
the development speakers with the whitening refitted without each fold's voices. ``--speakers development`` builds
calls from all development speakers instead (the embedding has heard most of
them, so those figures flatter it). The demo calls mix speakers of both sets.

Cases: two-speaker calls with a persistent mood per speaker (the headline
figure), two-speaker calls where every sentence has a fresh random emotion
(a stress test), one-speaker recordings and three-speaker calls; and, with
``--demo-calls``, the project's stereo demo calls (examples/calls, RAVDESS actors
of both sets) summed to mono and scored against their truth turns.

CPU cost is process time on one thread per second of audio, split into voice
activity, diarization proper (features, embedding, clustering, resegmentation)
and turn building; the whole product's budget is 2 ms per second of audio.

    .venv/bin/python benchmarks/diarization_der.py [--calls 20] [--rttm-dir /tmp/der]
        [--speakers evaluation|tuning|development] [--options '{"num_speakers": 2}']
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Sequence

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks.simulated_calls import (DEFAULT_DATA_ROOT, EVALUATION_SPEAKERS, SAMPLE_RATE_HZ,  # noqa: E402
                                        TUNING_SPEAKERS, CallPlan, SimulatedCall, call_set, development_speakers,
                                        read_manifest, rttm_lines)
from beam_pipeline.segment.diarization import (DEFAULT_EMBEDDER_PATH, DiarizationOptions, SpeakerEmbedder,  # noqa: E402
                                       diarize)
from beam_pipeline.segment.turns import Turn, TurnOptions, speaker_turns, speech_frames  # noqa: E402

COLLAR_S = 0.25                     # each side of a reference boundary


@dataclasses.dataclass(frozen=True)
class CallScore:
    name: str
    speakers: tuple[str, ...]
    n_reference_speakers: int
    n_found_speakers: int
    der: float
    missed: float                   # shares of the reference speech
    false_alarm: float
    confusion: float


def score(reference: Sequence[tuple[float, float, str]], hypothesis: Sequence[tuple[float, float, str]],
          uri: str = "call", collar_s: float = COLLAR_S) -> dict[str, float]:
    """DER and its parts (seconds, and 'diarization error rate' as a share) of one recording.

    `reference` and `hypothesis` are (start_s, end_s, speaker) segments; segments of
    one speaker may overlap each other (pyannote counts the union). The scored
    region is the union of both (no UEM), with `collar_s` removed either side of each
    reference boundary.
    """
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    def annotation(segments: Sequence[tuple[float, float, str]]) -> Annotation:
        result = Annotation(uri=uri)
        for track, (start_s, end_s, speaker) in enumerate(segments):
            if end_s > start_s:
                result[Segment(start_s, end_s), track] = speaker
        return result

    metric = DiarizationErrorRate(collar=2 * collar_s, skip_overlap=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")            # "uem was approximated": intended, see above
        return dict(metric(annotation(reference), annotation(hypothesis), detailed=True))


def turns_as_segments(turns: Sequence[Turn]) -> list[tuple[float, float, str]]:
    return [(t.start_s, t.end_s, t.speaker) for t in turns]


@dataclasses.dataclass
class Timing:
    audio_s: float = 0.0
    vad_s: float = 0.0
    diarize_s: float = 0.0
    turns_s: float = 0.0

    def per_audio_second_ms(self, seconds: float) -> float:
        return 1000.0 * seconds / max(self.audio_s, 1e-9)


def diarize_call(call: SimulatedCall, options: DiarizationOptions, embedder: SpeakerEmbedder,
                 timing: Timing) -> tuple[list[Turn], int]:
    """The Turn rows of one call, with CPU time per stage added to `timing`."""
    turn_options = TurnOptions()
    started = time.process_time()
    speech = speech_frames(call.samples, SAMPLE_RATE_HZ, turn_options)
    vad_done = time.process_time()
    diarization = diarize(call.samples, SAMPLE_RATE_HZ, turn_options, options, embedder, speech)
    diarize_done = time.process_time()
    turns = speaker_turns(call.samples, SAMPLE_RATE_HZ, diarization.speech_by_speaker(),
                          list(diarization.speakers), turn_options) if diarization.n_speakers else []
    timing.vad_s += vad_done - started
    timing.diarize_s += diarize_done - vad_done
    timing.turns_s += time.process_time() - diarize_done
    timing.audio_s += call.duration_s
    return turns, diarization.n_speakers


def evaluate(calls: Sequence[SimulatedCall], options: DiarizationOptions, embedder: SpeakerEmbedder,
             rttm_dir: Path | None = None, timing: Timing | None = None) -> list[CallScore]:
    timing = timing if timing is not None else Timing()
    scores = []
    for call in calls:
        turns, n_found = diarize_call(call, options, embedder, timing)
        hypothesis = turns_as_segments(turns)
        if rttm_dir is not None:
            rttm_dir.mkdir(parents=True, exist_ok=True)
            (rttm_dir / f"{call.name}.ref.rttm").write_text("\n".join(rttm_lines(call.name, call.reference)) + "\n")
            (rttm_dir / f"{call.name}.hyp.rttm").write_text("\n".join(rttm_lines(call.name, hypothesis)) + "\n")
        parts = score(call.reference, hypothesis, call.name)
        total = parts["total"]
        scores.append(CallScore(name=call.name, speakers=call.speakers, n_reference_speakers=len(call.speakers),
                                n_found_speakers=n_found,
                                der=parts["diarization error rate"], missed=parts["missed detection"] / total,
                                false_alarm=parts["false alarm"] / total, confusion=parts["confusion"] / total))
    return scores


def summary(name: str, scores: Sequence[CallScore]) -> dict:
    if not scores:
        return {"case": name, "calls": 0}
    der = np.array([s.der for s in scores])
    found = np.array([s.n_found_speakers for s in scores])
    return {
        "case": name, "calls": len(scores),
        "der_mean": round(float(der.mean()), 4), "der_std": round(float(der.std()), 4),
        "der_median": round(float(np.median(der)), 4), "der_max": round(float(der.max()), 4),
        "missed": round(float(np.mean([s.missed for s in scores])), 4),
        "false_alarm": round(float(np.mean([s.false_alarm for s in scores])), 4),
        "confusion": round(float(np.mean([s.confusion for s in scores])), 4),
        "speaker_count_correct": round(float(np.mean(found == np.array([s.n_reference_speakers for s in scores]))), 3),
        "found_speakers": {int(k): int(v) for k, v in zip(*np.unique(found, return_counts=True))},
    }


def build_cases(speakers: Sequence[str], n_calls: int, n_small: int, data_root: Path, seed: int,
                duration_s: float) -> dict[str, list[SimulatedCall]]:
    clips = read_manifest(data_root)
    plan = CallPlan(duration_s=duration_s)
    stress = dataclasses.replace(plan, mood_persistence=0.0, neutral_share=0.0)
    return {
        "2 speakers": call_set(n_calls, 2, speakers, clips, seed, plan, prefix="two"),
        "2 speakers, every sentence a random emotion": call_set(n_small, 2, speakers, clips, seed + 1, stress,
                                                                prefix="stress"),
        "1 speaker": call_set(n_small, 1, speakers, clips, seed + 2, plan, prefix="one"),
        "3 speakers": call_set(n_small, 3, speakers, clips, seed + 3, plan, prefix="three"),
    }


def demo_calls(folder: Path) -> list[SimulatedCall]:
    """The stereo demo calls summed to mono, with their truth turns as the reference (agent / customer)."""
    from beam_pipeline.audio.decode import decode_audio

    truth = json.loads((folder.parent / "calls_truth.json").read_text())["recordings"]
    calls = []
    for name, entry in sorted(truth.items()):
        if not entry.get("turns"):
            continue
        audio = decode_audio((folder / name).read_bytes(), name, target_rate_hz=SAMPLE_RATE_HZ)
        reference = tuple((t["start_s"], t["end_s"], t["speaker"]) for t in entry["turns"])
        order = tuple(dict.fromkeys(speaker for _, _, speaker in sorted(reference)))
        calls.append(SimulatedCall(name=Path(name).stem, samples=audio.channels.sum(axis=0).clip(-1, 1),
                                   reference=reference, speakers=order))
    return calls


def print_row(row: dict) -> None:
    if not row["calls"]:
        return
    print(f"{row['case']:46s} {row['calls']:3d} calls  DER {100 * row['der_mean']:5.1f} % +- "
          f"{100 * row['der_std']:4.1f} (median {100 * row['der_median']:4.1f}, max {100 * row['der_max']:4.1f})  "
          f"missed {100 * row['missed']:4.1f}  false alarm {100 * row['false_alarm']:4.1f}  "
          f"confusion {100 * row['confusion']:4.1f}  speaker count right "
          f"{100 * row['speaker_count_correct']:3.0f} % {row['found_speakers']}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20, help="two-speaker calls (headline case)")
    parser.add_argument("--small-calls", type=int, default=8, help="calls of each other case")
    parser.add_argument("--duration-s", type=float, default=60.0)
    parser.add_argument("--speakers", choices=("evaluation", "tuning", "development"), default="evaluation",
                        help="evaluation: held-out voices (the figures to quote); tuning: the voices the "
                             "thresholds were tuned on (never heard by the embedding); development: all voices "
                             "any part was fitted or tuned on")
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    parser.add_argument("--embedder", type=Path, default=DEFAULT_EMBEDDER_PATH)
    parser.add_argument("--options", default="{}", help="JSON overrides of DiarizationOptions")
    parser.add_argument("--rttm-dir", type=Path, default=None, help="write reference and hypothesis RTTM here")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None, help="write the summary as JSON here")
    parser.add_argument("--demo-calls", type=Path, default=None,
                        help="also score these stereo demo calls summed to mono (e.g. examples/calls)")
    args = parser.parse_args()

    options = dataclasses.replace(DiarizationOptions(), **json.loads(args.options))
    embedder = SpeakerEmbedder.load(args.embedder)
    clips = read_manifest(args.data_root)
    speakers = {"evaluation": list(EVALUATION_SPEAKERS), "tuning": list(TUNING_SPEAKERS),
                "development": [s for s in development_speakers(clips) if not s.startswith("turev")]}[args.speakers]
    cases = build_cases(speakers, args.calls, args.small_calls, args.data_root, args.seed, args.duration_s)
    if args.demo_calls is not None:
        cases["demo calls summed to mono"] = demo_calls(args.demo_calls)
    sex = {speaker: clip_list[0].sex for speaker, clip_list in clips.items()}
    timing = Timing()
    results = []
    print(f"{args.speakers} speakers: {', '.join(speakers)}")
    print(f"options: {options}")
    for name, calls in cases.items():
        scores = evaluate(calls, options, embedder, args.rttm_dir, timing)
        rows = [summary(name, scores)]
        if name.startswith("2 speakers"):
            for pairing, same in (("a man and a woman", False), ("same sex", True)):
                subset = [s for s in scores if all(k in sex for k in s.speakers)
                          and (len({sex[k] for k in s.speakers}) == 1) == same]
                if subset:
                    rows.append(summary(f"  of which {pairing}", subset))
        for row in rows:
            results.append(row)
            print_row(row)
    cost = {"audio_s": round(timing.audio_s, 1),
            "vad_ms_per_s": round(timing.per_audio_second_ms(timing.vad_s), 3),
            "diarize_ms_per_s": round(timing.per_audio_second_ms(timing.diarize_s), 3),
            "turns_ms_per_s": round(timing.per_audio_second_ms(timing.turns_s), 3)}
    print(f"CPU per second of audio over {cost['audio_s']:.0f} s: VAD {cost['vad_ms_per_s']:.3f} ms, "
          f"diarization {cost['diarize_ms_per_s']:.3f} ms "
          f"({1000 / max(cost['diarize_ms_per_s'], 1e-9):.0f}x real time per core), "
          f"turns {cost['turns_ms_per_s']:.3f} ms")
    if args.json is not None:
        args.json.write_text(json.dumps({"speakers": speakers, "options": dataclasses.asdict(options),
                                         "cases": results, "cpu": cost}, indent=1))


if __name__ == "__main__":
    main()
