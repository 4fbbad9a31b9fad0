"""Import every built-in component module so their ``@register`` decorators run."""

from rlkit import agents, envs, exploration, logging, losses, networks, optim, replay, targets  # noqa: F401
