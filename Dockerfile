# The callmood image: the Dataflow Flex Template launcher AND the workers' SDK
# container (--sdk_container_image), so the launch and every worker run the same
# code and libraries, ffmpeg is on the workers (the decoder's fallback for m4a and
# odd codecs), and workers without public IPs install nothing at start-up.
#
#   docker build -t REGION-docker.pkg.dev/PROJECT/callmood/callmood:TAG .
#
# Both base images are pinned; the Beam SDK image's version must equal the
# apache-beam pin in setup.py (tests/test_infra_flex_template.py checks it).

# Only the launcher binary is taken from here.
FROM gcr.io/dataflow-templates-base/python311-template-launcher-base:20240812-rc01 AS launcher

FROM apache/beam_python3.11_sdk:2.77.0

RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

COPY --from=launcher /opt/google/dataflow/python_template_launcher /opt/google/dataflow/python_template_launcher

WORKDIR /template
COPY . /template
# The package from setup.py, with its pinned dependencies (tensorflow-cpu, keras, librosa, ...).
RUN pip install --no-cache-dir . && pip check

# What the launcher runs, with the template parameters as --name=value.
ENV FLEX_TEMPLATE_PYTHON_PY_FILE=/template/infra/flex_template/main.py
# FLEX_TEMPLATE_PYTHON_SETUP_FILE is deliberately not set: it would stage setup.py's
# sdist with every job and have each worker pip-install it at start-up, which this
# image (the workers' container) already holds, and which a worker without a public
# IP cannot do when pip needs to fetch a build backend. Launches always name this
# image as sdkContainerImage (infra/terraform/dataflow.tf).

# As an SDK container the image must start Beam's worker boot program; the
# launcher VM runs /opt/google/dataflow/python_template_launcher itself.
ENTRYPOINT ["/opt/apache/beam/boot"]
