"""Training infrastructure shared by the learned baselines (data, layers, checkpoints, samples, logs)."""
