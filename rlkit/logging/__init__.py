"""Metrics sinks: console progress, JSON lines, TensorBoard and wandb, built from the ``logger`` config.

Importing this package registers every logger under the ``logger`` registry group.
"""

from rlkit.logging import console, jsonl, tensorboard, wandb_logger
from rlkit.logging.base import Logger, LoggerGroup, build_loggers
from rlkit.logging.jsonl import read_metrics

__all__ = [
    "Logger",
    "LoggerGroup",
    "build_loggers",
    "console",
    "jsonl",
    "read_metrics",
    "tensorboard",
    "wandb_logger",
]
