"""Where the emotion model is called: `scoring_handler` gives the RunInference handler `--scorer` asks for.

`local` runs the bundled Keras model in the job's own workers (the default);
`vertex` sends the same windows to a Vertex AI endpoint. Both implement
`base.TurnWindowsHandler`, so the steps before and after scoring are the same.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from apache_beam.ml.inference.base import KeyedModelHandler

from beam_pipeline.scoring.local import keyed_local_handler
from ser_model.inference import ModelInfo

if TYPE_CHECKING:
    from beam_pipeline.options import CallmoodOptions


def scoring_handler(options: "CallmoodOptions", model_info: ModelInfo) -> KeyedModelHandler:
    """The keyed handler `--scorer` asks for; building the Vertex one checks the endpoint serves this model."""
    if options.scorer == "vertex":
        from beam_pipeline.scoring.vertex import keyed_vertex_handler   # aiplatform is slow to import

        return keyed_vertex_handler(options.vertex_endpoint_name, model_info.model_version, len(model_info.classes),
                                    options.vertex_api_endpoint, options.inference_batch_windows)
    return keyed_local_handler(options.model_dir, options.inference_batch_windows)
