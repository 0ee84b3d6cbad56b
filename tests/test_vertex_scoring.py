"""`--scorer vertex`: the same rows as the bundled model, scored through a Vertex AI endpoint.

There is no local Vertex AI, so these tests start a stand-in for its REST API on
127.0.0.1 (tests/vertex_standin.py) that serves the REAL exported SavedModel the way
the prebuilt TensorFlow container does, and point the real google-cloud-aiplatform
client and Beam's real VertexAIModelHandlerJSON at it. What they can show: the
request carries what the exported signature takes, stays under the payload limit,
the response maps back to the same per-turn probabilities as the local scorer, an
endpoint error becomes an errors-table row, a dropped connection is retried, a stalled
request times out and a short answer fails its turns, and a wrong model version is refused.
What they cannot show: Vertex AI's own latency, quotas or serving-container quirks.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest

from beam_pipeline import options as opts
from beam_pipeline.prepare import prepare_call
from beam_pipeline.scoring.base import ScoringFailure
from beam_pipeline.sources.recordings import read_identity
from beam_pipeline.scoring.vertex import (INPUT_NAME, PAYLOAD_LIMIT_BYTES, TurnWindowsVertexHandler,
                                          VertexEndpointError, decode_predictions, encode_window, pack_requests)
from ser_model.features import combine_window_probabilities
from ser_model.inference import EmotionScorer, ModelInfo
from ser_model.vertex_upload import MODEL_VERSION_LABEL
from ser_model.vertex_upload import main as model_main
from tests import cli, vertex_standin

REPO = Path(__file__).resolve().parents[1]
DEMO_CALL = REPO / "examples" / "calls" / "call_0001.mp3"
PROJECT, REGION = "local-proj", "europe-west1"


@pytest.fixture(scope="module")
def info() -> ModelInfo:
    return ModelInfo.read()


@pytest.fixture(scope="module")
def gcs(tmp_path_factory, info) -> dict:
    """`callmood model export` of the bundled model into the stand-in's bucket folder, as a user would copy it."""
    root = tmp_path_factory.mktemp("gcs")
    prefix = f"models/callmood/{info.model_version}"
    assert model_main(["export", "--out", str(root / prefix)]) == 0
    assert (root / prefix / "model_metadata.json").read_text() == (info.model_dir / "model_metadata.json").read_text()
    return {"root": root, "uri": f"gs://{prefix}/saved_model"}


@pytest.fixture(scope="module")
def standin(gcs, tmp_path_factory):
    with vertex_standin.running(PROJECT, REGION, gcs["root"]) as running, \
            vertex_standin.aiplatform_pointed_at(running, tmp_path_factory.mktemp("adc")):
        yield running


@pytest.fixture
def endpoint(standin, gcs, info) -> str:
    """A fresh endpoint serving the exported model, labelled with its version as `callmood model upload` does."""
    standin.requests.clear()
    standin.fail.clear()
    standin.faults.clear()
    model = standin.add_model(gcs["uri"], {MODEL_VERSION_LABEL: info.model_version})
    name = standin.add_endpoint()
    standin.deploy(name, model)
    return name


@pytest.fixture(scope="module")
def demo_call(info):
    path = str(DEMO_CALL)
    return prepare_call(DEMO_CALL.read_bytes(), path, read_identity(path, os.path.getmtime(path)),
                        opts.CallmoodOptions(input=path), info.spec)


def _handler(standin, endpoint, info, **kwargs) -> TurnWindowsVertexHandler:
    return TurnWindowsVertexHandler(endpoint, model_version=info.model_version, n_classes=len(info.classes),
                                    api_endpoint=standin.url, **kwargs)


def test_requests_match_the_exported_signature(gcs):
    import tensorflow as tf

    signature = tf.saved_model.load(str(gcs["root"] / gcs["uri"].removeprefix("gs://"))).signatures["serving_default"]
    inputs = signature.structured_input_signature[1]
    assert list(inputs) == [INPUT_NAME]
    assert inputs[INPUT_NAME].shape.as_list() == [None, 300, 64]
    assert [spec.shape.as_list() for spec in signature.structured_outputs.values()] == [[None, 6]]


def test_vertex_gives_the_local_per_turn_probabilities_on_a_demo_call(standin, endpoint, info, demo_call):
    local = EmotionScorer(info).predict_stacks(demo_call.windows)
    handler = _handler(standin, endpoint, info)
    results = handler.run_inference(list(demo_call.windows), handler.load_model())

    for ref, local_windows, result in zip(demo_call.turns, local, results):
        assert result.inference.shape == local_windows.shape
        np.testing.assert_allclose(combine_window_probabilities(result.inference, ref.window_weights),
                                   combine_window_probabilities(local_windows, ref.window_weights), atol=1e-5)
    predicts = standin.predict_requests()
    n_windows = sum(len(w) for w in demo_call.windows)
    assert sum(len(r.body["instances"]) for r in predicts) == n_windows
    for request in predicts:
        assert request.body_bytes <= PAYLOAD_LIMIT_BYTES
        assert all(set(instance) == {INPUT_NAME} and np.shape(instance[INPUT_NAME]) == (300, 64)
                   for instance in request.body["instances"])
    # Packing by size fills requests: only the last may be less than half full.
    assert all(r.body_bytes > PAYLOAD_LIMIT_BYTES / 2 for r in predicts[:-1])
    print(f"{n_windows} windows in {len(predicts)} requests, "
          f"{max(len(r.body['instances']) for r in predicts)} instances at most, "
          f"{sum(r.body_bytes for r in predicts) / n_windows / 1000:.0f} KB per window")


def test_a_worst_case_window_still_packs_under_the_payload_limit():
    # Windows are (dB - window mean) / 20 with an 80 dB floor, so |value| < 4: every value negative with
    # six decimals is the largest a window can encode to, 10 bytes a number.
    worst = encode_window(np.full((300, 64), -2.123457, dtype=np.float32))
    assert len(worst) == 192_613
    packs = pack_requests([worst] * 20)
    assert all(len(pack) * (len(worst) + 1) + 64 <= PAYLOAD_LIMIT_BYTES for pack in packs)
    assert [len(p) for p in packs] == [7, 7, 6]


def test_a_window_survives_the_wire_to_within_float32_resolution():
    window = np.random.default_rng(7).normal(0, 1, (300, 64)).astype(np.float32)
    back = np.asarray(json.loads(encode_window(window))[INPUT_NAME], dtype=np.float32)
    assert np.abs(back - window).max() <= 5.1e-7


def test_prediction_rows_are_read_as_lists_or_as_dicts():
    rows = [[0.1, 0.1, 0.1, 0.1, 0.1, 0.5]] * 2
    np.testing.assert_allclose(decode_predictions(rows, 6), rows)
    np.testing.assert_allclose(decode_predictions([{"output_0": r} for r in rows], 6), rows)
    np.testing.assert_allclose(decode_predictions([{"probabilities": r, "logits": r} for r in rows], 6), rows)
    with pytest.raises(ValueError, match="probability rows"):
        decode_predictions([[1.0, 2.0, 3.0, 0.0, 0.0, 0.0]], 6)     # logits, not probabilities


def test_an_endpoint_error_fails_only_the_turns_it_touched(standin, endpoint, info, demo_call):
    handler = _handler(standin, endpoint, info)
    standin.fail["predict"] = [(400, "Instance 0 has the wrong shape")]     # a client error: not retried
    results = handler.run_inference(list(demo_call.windows), handler.load_model())
    failed = [r for r in results if isinstance(r.inference, ScoringFailure)]
    assert failed and len(failed) < len(results)
    assert "BadRequest" in failed[0].inference.reason and "Instance 0 has the wrong shape" in failed[0].inference.reason
    assert endpoint in failed[0].inference.reason


def test_a_transient_503_is_retried_by_beams_handler(standin, endpoint, info, demo_call):
    handler = _handler(standin, endpoint, info)
    standin.fail["predict"] = [(503, "The model is overloaded")]
    results = handler.run_inference(list(demo_call.windows[:2]), handler.load_model())
    assert not any(isinstance(r.inference, ScoringFailure) for r in results)
    assert len(standin.predict_requests()) == 2       # the failed one, then its retry


def test_a_dropped_connection_is_retried_like_a_503(standin, endpoint, info, demo_call):
    """A connection the endpoint closes without answering is transient: retried, and the turns are scored."""
    handler = _handler(standin, endpoint, info)
    standin.faults["predict"] = [vertex_standin.DROP]
    results = handler.run_inference(list(demo_call.windows[:2]), handler.load_model())
    assert not any(isinstance(r.inference, ScoringFailure) for r in results)
    assert len(standin.predict_requests()) == 2       # the dropped one, then its retry


def test_an_endpoint_that_never_answers_times_out_into_a_failure_naming_the_timeout(standin, endpoint, info,
                                                                                     demo_call, monkeypatch):
    """A stalled request ends at the client's timeout (shortened here), as a transient ServiceUnavailable.

    With no retries left, the turns fail with a reason that says the endpoint timed out;
    the stand-in holds the request until it stops, far longer than the timeout.
    """
    from beam_pipeline.scoring import vertex

    monkeypatch.setattr(vertex, "REQUEST_TIMEOUT_S", 0.5)
    handler = _handler(standin, endpoint, info, num_retries=0)
    standin.faults["predict"] = [vertex_standin.STALL]
    results = handler.run_inference(list(demo_call.windows[:1]), handler.load_model())
    reason = results[0].inference.reason
    assert "ServiceUnavailable" in reason and "timed out" in reason and endpoint in reason


def test_an_answer_with_the_wrong_number_of_predictions_fails_its_turns(standin, endpoint, info, demo_call):
    """One prediction short: no window can be matched to its row, so the turns fail, saying so."""
    handler = _handler(standin, endpoint, info)
    standin.faults["predict"] = [vertex_standin.SHORT]
    stacks = list(demo_call.windows[:2])
    n_windows = sum(len(stack) for stack in stacks)
    results = handler.run_inference(stacks, handler.load_model())
    assert all(isinstance(r.inference, ScoringFailure) for r in results)
    assert f"answered {n_windows - 1} predictions for {n_windows} instances" in results[0].inference.reason


def test_an_endpoint_serving_another_model_version_is_refused(standin, gcs, info):
    other = standin.add_model(gcs["uri"], {MODEL_VERSION_LABEL: "ser-000000000000"})
    name = standin.add_endpoint()
    standin.deploy(name, other)
    with pytest.raises(VertexEndpointError, match=f"does not serve {info.model_version}.*ser-000000000000"):
        _handler(standin, name, info)


def test_callmood_run_against_a_missing_endpoint_stops_before_reading_anything(standin, tmp_path, capsys):
    from beam_pipeline.cli.main import main

    db = tmp_path / "never.duckdb"
    code = main(["run", "--input", str(DEMO_CALL), "--output", str(db), "--scorer", "vertex",
                 "--vertex-endpoint", f"projects/{PROJECT}/locations/{REGION}/endpoints/999",
                 "--vertex-api-endpoint", standin.url])
    assert code == 2
    assert "endpoints/999 cannot be used" in capsys.readouterr().err
    assert not db.exists()


def test_a_redeploy_during_the_run_fails_calls_instead_of_mislabelling_them(standin, endpoint, gcs, info, demo_call):
    handler = _handler(standin, endpoint, info)
    model = handler.load_model()
    standin.deploy(endpoint, standin.add_model(gcs["uri"], {MODEL_VERSION_LABEL: "ser-111111111111"}))
    results = handler.run_inference(list(demo_call.windows[:1]), model)
    assert isinstance(results[0].inference, ScoringFailure)
    assert "was not serving" in results[0].inference.reason


def _rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_callmood_run_scorer_vertex_writes_the_local_rows(standin, endpoint, info, tmp_path):
    """The real CLI in a subprocess, talking to the stand-in: same turns, same probabilities, same version."""
    from beam_pipeline.cli.score_file import score_file

    calls = tmp_path / "calls"
    calls.mkdir()
    for name in ("call_0001.mp3", "call_0001.json"):
        shutil.copy(DEMO_CALL.parent / name, calls / name)
    db = tmp_path / "vertex.duckdb"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = cli.run("run", "--input", str(calls), "--output", str(db), "--scorer", "vertex",
                   "--vertex-endpoint", endpoint.rsplit("/", 1)[1], "--vertex-project", PROJECT,
                   "--vertex-region", REGION, "--vertex-api-endpoint", standin.url, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "calls ok 1, skipped 0, failed 0" in done.stdout

    local = score_file(str(calls / "call_0001.mp3"))
    columns = [c for c in local.segment_rows[0] if c.startswith("prob_")]
    written = _rows(db, f"SELECT turn_index, speaker, start_s, model_version, {', '.join(columns)} FROM segments "
                        "ORDER BY turn_index")
    assert len(written) == len(local.segment_rows)
    for row, expected in zip(written, local.segment_rows):
        assert row[:4] == (expected["turn_index"], expected["speaker"], pytest.approx(expected["start_s"]),
                           info.model_version)
        np.testing.assert_allclose(row[4:], [expected[c] for c in columns], atol=1e-5)
    (options_json,) = _rows(db, "SELECT options_json FROM runs")[0]
    assert json.loads(options_json)["scorer"] == "vertex"


def test_an_endpoint_error_becomes_an_errors_row_and_the_run_finishes(standin, endpoint, info, tmp_path):
    from beam_pipeline.pipeline import run

    standin.fail["predict"] = [(400, "Request contains an invalid argument.")] * 50
    db = tmp_path / "errors.duckdb"
    summary = run(opts.CallmoodOptions(input=str(DEMO_CALL), output=str(db), scorer="vertex",
                                       vertex_endpoint=endpoint, vertex_api_endpoint=standin.url))
    assert (summary.calls_ok, summary.calls_failed) == (0, 1)
    ((stage, reason, version),) = _rows(db, "SELECT stage, reason, model_version FROM errors")
    assert stage == "score" and version == info.model_version
    assert "BadRequest" in reason and "invalid argument" in reason
    assert _rows(db, "SELECT count(*) FROM segments") == [(0,)]


@pytest.mark.parametrize("argv, message", [
    (["--scorer", "vertex"], "needs --vertex-endpoint"),
    (["--scorer", "vertex", "--vertex-endpoint", "123"], "needs --vertex-project and --vertex-region"),
    (["--scorer", "vertex", "--vertex-endpoint", "projects/p/locations/us-central1/endpoints/1",
      "--vertex-region", "europe-west1"], "contradicts"),
    (["--scorer", "vertex", "--vertex-endpoint", "my-endpoint"], "neither an endpoint ID"),
    (["--vertex-endpoint", "123"], "only used with --scorer vertex"),
])
def test_vertex_flags_are_checked_before_anything_runs(argv, message, capsys):
    with pytest.raises(SystemExit) as exited:
        opts.parse(["--input", "calls/", *argv])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_an_endpoint_id_becomes_its_resource_name():
    parsed, _ = opts.parse(["--input", "calls/", "--scorer", "vertex", "--vertex-endpoint", "123",
                            "--vertex-project", "p", "--vertex-region", "europe-west1"])
    assert parsed.vertex_endpoint_name == "projects/p/locations/europe-west1/endpoints/123"
    assert opts.parse(["--input", "calls/"])[0].scorer == "local"
