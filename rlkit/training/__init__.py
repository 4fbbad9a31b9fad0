"""Training: build a run's parts, drive the loop, evaluate, checkpoint and resume, write the outputs."""
