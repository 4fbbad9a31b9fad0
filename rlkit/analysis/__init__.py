"""Turning run outputs into answers: learning curves (and, elsewhere in this package, scores)."""

from rlkit.analysis.curves import plot_learning_curve

__all__ = ["plot_learning_curve"]
