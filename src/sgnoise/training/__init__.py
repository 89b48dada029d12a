"""Training: one run or a bundle of runs, with checkpoints, noise dumps and resumable state."""
