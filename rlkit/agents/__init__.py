"""The DQN-family agent (registry group ``agent``): one class, every variant a swap of parts."""

from rlkit.agents.dqn import DQNAgent, NonFiniteLossError

__all__ = ["DQNAgent", "NonFiniteLossError"]
