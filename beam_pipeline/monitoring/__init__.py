"""How drift is watched: `callmood monitor` against a baseline, and the baseline built from the training corpora."""
