"""MinAtar (Young & Tian 2019, "MinAtar: An Atari-Inspired Testbed for Thorough and Reproducible
Reinforcement Learning Experiments", arXiv:1903.03176): five miniature Atari games on a 10x10 grid.

The games come from the PyPI ``minatar`` package (``minatar.Environment``). Its own gymnasium envs
(``minatar.gym``, ids ``MinAtar/<Game>-v0`` with all 6 actions and ``-v1`` with the minimal action set,
registered by ``minatar.gym.register_envs()``; kwargs ``sticky_action_prob``, ``difficulty_ramping``,
``use_minimal_action_set``, ``render_mode``) give boolean ``[10, 10, C]`` observations, seed a
``RandomState`` only from ``reset(seed=...)`` (values below 2^32) and render RGB through seaborn.
:class:`MinAtarEnv` wraps ``minatar.Environment`` instead:

* observations are the game's 0/1 planes channels-first, uint8 ``[C, 10, 10]`` (C: asterix 4,
  breakout 4, freeway 7, seaquest 10, space_invaders 6);
* MinAtar's knobs as they are: sticky actions (probability 0.1 of repeating the previous action),
  difficulty ramping (on), all 6 actions (as MinAtar's reference DQN and Revisiting Rainbow use them);
* raw rewards; episodes end where MinAtar says (``terminated``; Freeway ends itself after 2,500 steps);
  an optional ``max_episode_steps`` truncates;
* ``reset(seed=s)`` seeds the game (and its sticky-action draws) from any non-negative ``s``;
* ``render()`` (``render_mode="rgb_array"``) paints each channel in a fixed colour, no seaborn;
* ``state_dict()`` / ``load_state_dict()`` hold the whole game state and its ``RandomState``, so a
  resumed run continues its episodes exactly (see :mod:`rlkit.envs.state`).

:class:`MinAtarEnvMaker` is :class:`rlkit.envs.classic.GymEnvMaker` over this env (registered as
``rlkit/MinAtar-v0``, the game a kwarg): the same in-process vector envs with SAME_STEP autoreset.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any, ClassVar, Literal

import gymnasium as gym
import numpy as np

from rlkit.envs.classic import GymEnvMaker
from rlkit.registry import register
from rlkit.utils.atari_games import UnknownGameError, canonical_game, close_games, squash

Game = Literal["asterix", "breakout", "freeway", "seaquest", "space_invaders"]
GAMES: tuple[str, ...] = ("asterix", "breakout", "freeway", "seaquest", "space_invaders")
GYM_ID = "rlkit/MinAtar-v0"
NUM_ACTIONS = 6  # every MinAtar game: no-op, left, up, right, down, fire

# Channel colours (RGB), channel k gets PALETTE[k]; background black. Okabe & Ito's colour-blind-safe
# palette (2008) first, then white, grey and Tol's wine for the 8th-10th channels (Seaquest has 10).
PALETTE = np.array(
    [
        (230, 159, 0),  # orange
        (86, 180, 233),  # sky blue
        (0, 158, 115),  # bluish green
        (240, 228, 66),  # yellow
        (0, 114, 178),  # blue
        (213, 94, 0),  # vermillion
        (204, 121, 167),  # reddish purple
        (255, 255, 255),  # white
        (153, 153, 153),  # grey
        (136, 34, 85),  # wine
    ],
    dtype=np.uint8,
)
BACKGROUND = np.zeros(3, dtype=np.uint8)
RENDER_SCALE = 16  # pixels per grid cell: 10x10 cells -> 160x160 frames


def resolve_game(name: str) -> str:
    """MinAtar's game id for ``name`` in any common spelling (``SpaceInvaders``, ``MinAtar/Breakout-v1``)."""
    try:
        return canonical_game(name, GAMES, source="MinAtar games")
    except UnknownGameError:
        close = ", ".join(close_games(name, GAMES)) or "(none)"
        raise ValueError(f"MinAtar has no game {name!r}; closest: {close}; games: {', '.join(GAMES)}") from None


def planes_to_rgb(planes: np.ndarray, *, scale: int = RENDER_SCALE) -> np.ndarray:
    """0/1 planes ``[C, H, W]`` -> RGB ``[H * scale, W * scale, 3]`` uint8; where channels overlap the
    highest channel shows (as MinAtar's own display does)."""
    planes = np.asarray(planes)
    channels = planes.shape[0]
    if channels > len(PALETTE):
        raise ValueError(f"at most {len(PALETTE)} channels can be rendered, got {channels}")
    levels = np.arange(1, channels + 1).reshape(-1, 1, 1)
    index = (planes.astype(bool) * levels).max(axis=0)  # [H, W], 0 = background
    colours = np.concatenate([BACKGROUND[None], PALETTE[:channels]])
    frame = colours[index]  # [H, W, 3]
    return np.repeat(np.repeat(frame, scale, axis=0), scale, axis=1)


def _restored(value: Any) -> Any:
    """A writable copy of a saved value (checkpoint arrays come back read-only, memory-mapped)."""
    if isinstance(value, np.ndarray):
        return np.array(value)
    if isinstance(value, list):
        return [_restored(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_restored(v) for v in value)
    if isinstance(value, dict):
        return {k: _restored(v) for k, v in value.items()}
    return value


INSTALL_HINT = "pip install 'rlkit[minatar]' (the minatar package: GPL-3.0, it also pulls seaborn)"


def import_minatar() -> Any:
    """The ``minatar`` package (imports matplotlib and seaborn, ~1 s: only when a MinAtar env is made)."""
    try:
        import minatar
    except ImportError as err:
        raise ImportError(f"env=minatar needs the minatar package, an optional extra: {INSTALL_HINT}") from err
    return minatar


class MinAtarEnv(gym.Env):
    """One MinAtar game as a gymnasium env: uint8 ``[C, 10, 10]`` observations, raw rewards."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 15}

    def __init__(
        self,
        *,
        game: Game,
        sticky_action_prob: float = 0.1,
        difficulty_ramping: bool = True,
        minimal_action_set: bool = False,
        render_mode: Literal["rgb_array"] | None = None,
    ) -> None:
        minatar = import_minatar()

        if not 0.0 <= float(sticky_action_prob) <= 1.0:
            raise ValueError(f"sticky_action_prob must be in [0, 1], got {sticky_action_prob}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.game_name = resolve_game(game)
        self.render_mode = render_mode
        self.game = minatar.Environment(
            self.game_name, sticky_action_prob=float(sticky_action_prob), difficulty_ramping=bool(difficulty_ramping)
        )
        self.game.env.random = self.game.random  # one generator for sticky actions and the game
        self.action_set = list(self.game.minimal_action_set()) if minimal_action_set else list(range(NUM_ACTIONS))
        height, width, channels = self.game.state_shape()
        self.action_space = gym.spaces.Discrete(len(self.action_set))
        self.observation_space = gym.spaces.Box(0, 1, (channels, height, width), np.uint8)

    def _obs(self) -> np.ndarray:
        return np.ascontiguousarray(self.game.state().transpose(2, 0, 1), dtype=np.uint8)  # [C, 10, 10]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        if seed is not None:  # any non-negative int (MinAtar's own seed() takes only < 2^32)
            self.game.random = np.random.RandomState(np.random.MT19937(int(seed)))
            self.game.env.random = self.game.random
        self.game.reset()
        return self._obs(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        reward, terminal = self.game.act(self.action_set[int(action)])
        return self._obs(), float(reward), bool(terminal), False, {}

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        return planes_to_rgb(self._obs())

    # ------------------------------------------------------------------ exact snapshots
    def state_dict(self) -> dict[str, Any]:
        """The game's state (its attributes, the last action for stickiness) and its RandomState."""
        attrs = {k: copy.deepcopy(v) for k, v in vars(self.game.env).items() if k != "random"}
        return {"game": attrs, "last_action": int(self.game.last_action),
                "random": self.game.random.get_state(legacy=False)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state["game"].items():
            setattr(self.game.env, key, _restored(value))
        self.game.last_action = int(state["last_action"])
        self.game.random.set_state(_restored(state["random"]))
        self.game.env.random = self.game.random


if GYM_ID not in gym.registry:
    gym.register(id=GYM_ID, entry_point="rlkit.envs.minatar:MinAtarEnv")


@register("env", "minatar")
class MinAtarEnvMaker(GymEnvMaker):
    """MinAtar games (Young & Tian 2019) as :class:`GymEnvMaker` vector envs (see conf/env/minatar.yaml).

    ``game`` is one of :data:`GAMES` in any spelling (``SpaceInvaders``, ``MinAtar/Breakout-v1``); ``id``
    names the run (``minatar_<game>``: run and sweep directories) and is kept as ``self.name``: ``self.id``
    stays the gymnasium id that :class:`GymEnvMaker` (and :mod:`rlkit.envs.video`) make. Units: agent
    steps = game steps.
    """

    def __init__(
        self,
        *,
        game: str,
        id: str | None = None,
        num_envs: int = 1,
        vectorization: Literal["sync", "async"] = "sync",
        frame_skip: int = 1,
        sticky_action_prob: float = 0.1,
        difficulty_ramping: bool = True,
        minimal_action_set: bool = False,
        max_episode_steps: int | None = None,
        reward_clip: float | None = None,
    ) -> None:
        self.game = resolve_game(game)
        self.name = id if id is not None else f"minatar_{self.game}"
        if not squash(self.name).endswith(squash(self.game)):
            raise ValueError(f"env.id {id!r} names another game than env.game {game!r}: use minatar_{self.game}")
        if int(frame_skip) != 1:
            raise ValueError(f"MinAtar has no frame skip: env.frame_skip must be 1, got {frame_skip}")
        if max_episode_steps is not None and int(max_episode_steps) < 1:
            raise ValueError(f"env.max_episode_steps must be >= 1 or null, got {max_episode_steps}")
        if reward_clip is not None and not float(reward_clip) > 0:
            raise ValueError(f"env.reward_clip must be > 0 or null, got {reward_clip}")
        kwargs = {"game": self.game, "sticky_action_prob": float(sticky_action_prob),
                  "difficulty_ramping": bool(difficulty_ramping), "minimal_action_set": bool(minimal_action_set)}
        super().__init__(id=GYM_ID, num_envs=num_envs, vectorization=vectorization, frame_skip=1,
                         max_episode_steps=max_episode_steps, kwargs=kwargs)
        self.spec = replace(self.spec, reward_clip=None if reward_clip is None else float(reward_clip))

    def __repr__(self) -> str:
        return f"MinAtarEnvMaker(game={self.game!r}, num_envs={self.num_envs}, kwargs={self.kwargs})"


__all__ = ["GAMES", "MinAtarEnv", "MinAtarEnvMaker", "planes_to_rgb", "resolve_game"]
