"""rlkit: Rainbow-style modular deep RL, every ingredient a registered, swappable part."""

__version__ = "0.1.0"
