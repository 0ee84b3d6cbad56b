"""FLEX_TEMPLATE_PYTHON_PY_FILE: the Flex Template launcher runs this file as a script.

It is a shim outside the package on purpose: running a file that sits inside
beam_pipeline/ as a script would put that folder first on sys.path, where its
modules (options, pipeline, sources, ...) could shadow other top-level names.
The logic lives in the installed package, beam_pipeline.cli.flex_launcher.
"""
import sys

from beam_pipeline.cli.flex_launcher import main

if __name__ == "__main__":
    sys.exit(main())
