"""Environment makers (registry group ``env``)."""

from rlkit.envs import atari, classic  # noqa: F401  (register "atari", "gym")
from rlkit.envs.spec import EnvMaker, EnvSpec

__all__ = ["EnvMaker", "EnvSpec"]
