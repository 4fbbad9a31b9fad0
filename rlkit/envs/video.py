"""Videos of evaluation episodes: the agent sees the usual preprocessed observations, the video
shows the game's RGB screen.

Written as H.264 mp4 (yuv420p, plays in browsers and common players) through ``imageio`` +
``imageio-ffmpeg``, whose wheel bundles an ffmpeg binary (no system ffmpeg needed).
One frame per agent step: with Atari's frame skip 4 the game runs at 60 / 4 = 15 agent steps per
second of play, so ``fps=15`` is real time and the default 30 is double speed.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np


def _single_env(env_maker: Any) -> gym.Env:
    """One rgb_array-rendering env with the maker's evaluation observations."""
    make_single = getattr(env_maker, "make_single", None)
    if make_single is not None:
        return make_single(render_mode="rgb_array")
    env_id = getattr(env_maker, "id", None)  # gymnasium makers (classic control)
    if env_id is None:
        raise TypeError(f"{type(env_maker).__name__} has neither make_single(render_mode=...) nor an id")
    kwargs = dict(getattr(env_maker, "kwargs", None) or {})
    max_steps = getattr(env_maker, "max_episode_steps", None)
    if max_steps is not None:
        kwargs["max_episode_steps"] = max_steps
    return gym.make(env_id, render_mode="rgb_array", **kwargs)


def _even(frame: np.ndarray) -> np.ndarray:
    """Pad height/width to even sizes (yuv420p needs them) by repeating the last row/column."""
    h, w = frame.shape[:2]
    if h % 2 or w % 2:
        frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return frame


def record_episodes(
    agent: Any,
    env_maker: Any,
    path: Path,
    *,
    episodes: int,
    epsilon: float,
    seed: int,
    fps: int = 30,
) -> list[float]:
    """Play ``episodes`` whole episodes with ``agent.act_eval(obs[None], epsilon)`` into one mp4 at ``path``.

    Episode ``k`` is reset with seed ``seed + k``. Returns the raw (unclipped) return of each episode.
    """
    import imageio.v2 as imageio

    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    env = _single_env(env_maker)
    writer = imageio.get_writer(
        str(path), fps=fps, codec="libx264", pixelformat="yuv420p", macro_block_size=1,
        ffmpeg_log_level="error", output_params=["-crf", "23"],
    )
    isolated = getattr(agent, "evaluating", None)  # the agent's training random numbers stay untouched
    try:
        with isolated(seed) if isolated is not None else contextlib.nullcontext():
            returns = _play(agent, env, writer, episodes=episodes, epsilon=epsilon, seed=seed)
    finally:
        writer.close()
        env.close()
    return returns


def _play(agent: Any, env: Any, writer: Any, *, episodes: int, epsilon: float, seed: int) -> list[float]:
    """Episode ``k`` reset with seed ``seed + k``, every frame written; the raw returns."""
    returns: list[float] = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        writer.append_data(_even(np.asarray(env.render())))
        total, done = 0.0, False
        while not done:
            action = int(np.asarray(agent.act_eval(np.asarray(obs)[None], epsilon))[0])
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = bool(terminated or truncated)
            writer.append_data(_even(np.asarray(env.render())))
        returns.append(total)
    return returns
