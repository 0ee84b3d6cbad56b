"""The callmood package: what `pip install -e .` installs locally and Dataflow workers install via --setup_file."""
from setuptools import find_packages, setup

setup(
    name="callmood",
    version="0.1.0",
    description="Nightly speech-emotion analytics for recorded contact-centre calls (Apache Beam + Keras).",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["beam_pipeline", "beam_pipeline.*", "ser_model", "ser_model.*",
                                    "sql", "sql.*", "dashboards", "dashboards.*"]),
    package_data={
        "sql": ["tables/*.sql", "views/*.sql"],
        "beam_pipeline": ["segment/diarization_embedder.npz", "segment/speaker_models/campplus.onnx",
                          "segment/speaker_models/campplus.onnx.sha256", "segment/speaker_models/campplus_int8.onnx",
                          "segment/speaker_models/campplus_normalisation.npz", "segment/speaker_models/NOTICE.md",
                          "segment/speaker_models/LICENSE-Apache-2.0.txt"],
        "ser_model": ["train_config.json", "artifacts/callmood_ser.keras", "artifacts/callmood_ser.tflite",
                      "artifacts/model_metadata.json",
                      "artifacts/baseline_metrics.json", "artifacts/training_report.json"],
        "dashboards": ["looker/*.lkml", "looker/*.lookml", "looker/.lintconfig.yml"],
    },
    install_requires=[
        "apache-beam[gcp]==2.77.0",
        "tensorflow-cpu==2.21.0",
        "keras==3.15.1",
        "ai-edge-litert==2.3.0",              # LiteRT: the job scores the model's .tflite copy without importing TensorFlow
        "librosa==0.11.0",
        "soundfile==0.14.0",
        "soxr==1.1.0",
        "pydub==0.25.1",
        "numpy==2.4.6",
        "scipy==1.17.1",
        "scikit-learn==1.9.1",
        "onnxruntime==1.31.1",                # the CAM++ speaker embedding of mono diarization (no PyTorch)
        "duckdb==1.5.5",
        "pyarrow==25.0.1",
        "sqlglot==30.30.0",
        "optuna==5.0.0",
        "google-cloud-storage==3.17.1",
        "google-cloud-bigquery==3.47.0",
        "google-cloud-aiplatform==1.165.1",   # --scorer vertex and `callmood model upload`
        "plotly==7.1.0",
        "looker-sdk==26.22.0",
        "PyYAML==6.0.4",
    ],
    extras_require={"test": ["pytest==9.2.0", "lkml==1.3.7", "selenium==4.51.0", "pyannote-core==6.1.0",
                             "pyannote-metrics==4.2.0", "python-hcl2==8.1.4",
                             "wheel==0.48.0"]},      # setuptools' bdist_wheel, for tests/test_packaging.py (offline)
    entry_points={"console_scripts": ["callmood=beam_pipeline.cli.main:main"]},
)
