"""Environment makers (registry group ``env``)."""

from rlkit.envs import classic  # noqa: F401  (registers "gym")
from rlkit.envs.spec import EnvMaker, EnvSpec

__all__ = ["EnvMaker", "EnvSpec"]
