"""Training loop, evaluation and the files a run writes."""
