"""Any codec and rate to float32 channels at the model's rate: the decode stage."""
