"""The nightly job, one folder per stage of the data flow.

sources/ -> audio/ -> segment/ -> scoring/ -> warehouse/, wired by `pipeline.py`
(its own Beam steps in `steps.py`; a recording's bytes to turns ready for scoring
in `prepare.py`). `options.py` carries the configuration to every stage and
`records.py` what any stage may raise or stamp; `cli/` is the command line and
`monitoring/` watches the warehouse for drift.
"""
