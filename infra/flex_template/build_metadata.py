"""Writes infra/flex_template/metadata.json from the `callmood run` parser.

Run it after adding or changing a `callmood run` option:

    .venv/bin/python infra/flex_template/build_metadata.py

tests/test_infra_flex_template.py fails until the checked-in file matches.
"""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from beam_pipeline.cli.flex_launcher import template_metadata  # noqa: E402

METADATA = Path(__file__).resolve().parent / "metadata.json"


def render() -> str:
    return json.dumps(template_metadata(), indent=2) + "\n"


if __name__ == "__main__":
    METADATA.write_text(render())
    print(f"wrote {METADATA.relative_to(ROOT)}")
