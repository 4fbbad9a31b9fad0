"""Turning run outputs into answers: learning curves (and, elsewhere in this package, scores)."""

from rlkit.analysis.curves import plot_learning_curve
from rlkit.analysis.hns import human_normalized_score

__all__ = ["human_normalized_score", "plot_learning_curve"]
