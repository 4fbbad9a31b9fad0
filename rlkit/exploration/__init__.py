"""Exploration strategies (registry group ``exploration``) and their schedules."""

from rlkit.exploration.schedules import ExponentialSchedule, LinearSchedule, Schedule
from rlkit.exploration.strategies import EpsilonGreedy, NoisyExploration

__all__ = ["EpsilonGreedy", "ExponentialSchedule", "LinearSchedule", "NoisyExploration", "Schedule"]
