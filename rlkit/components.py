"""Import every built-in component module so their ``@register`` decorators run."""

from rlkit import agents, augmentation, envs, exploration, logging, losses, networks, optim, replay, targets  # noqa: F401
from rlkit.envs import minatar  # noqa: F401  (registers env "minatar"; the minatar package is imported lazily)
