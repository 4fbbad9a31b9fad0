"""Environments and the tuning that sizes a preset for them."""

from __future__ import annotations

import difflib
import importlib
from importlib import resources
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rlkit.validation.checker import ABSENT, Checker, one_line


def check_env(c: Checker) -> None:
    name = c.value("env.name")
    c.at_least("env.num_envs", 1, fix="set env.num_envs=1 or more")
    c.at_least("env.frame_skip", 1, fix="set env.frame_skip=1 or more (4 for Atari)")
    if name in ("gym", "minatar"):
        c.at_least("env.max_episode_steps", 1, nullable=True, fix="set env.max_episode_steps=null (the env's own cap)")
    if name == "gym":
        check_gym_id(c)
    if name == "minatar":
        check_minatar_game(c)
    if name == "atari":
        check_atari_game(c)
        for key, low in (("stack", 1), ("screen_size", 1), ("noop_max", 0), ("max_episode_frames", 1),
                         ("eval_num_envs", 1)):
            c.at_least(f"env.{key}", low, fix=f"set env.{key} to {low} or more (see conf/env/atari.yaml)")
        c.at_least("env.num_threads", 1, nullable=True, fix="set env.num_threads=null (one per env, up to the cores)")
    if name not in ("atari", "minatar"):
        return
    c.in_unit_interval("env.sticky_action_prob", "the sticky-action (repeat) probability")
    clip = c.number("env.reward_clip", integer=False, nullable=True, fix="set env.reward_clip=1.0, or null")
    if clip is not None and not clip > 0:
        c.add("env.reward_clip", f"must be > 0 or null (raw rewards), got {clip}", "set env.reward_clip=1.0, or null")


def check_tuning(c: Checker) -> None:
    """A small env runs an agent preset only with a tuning file that resizes it (``conf/tuning/<env>_<agent>.yaml``).

    The env's family (``conf/env/family/``) sets ``sizing.needs_tuning``; ``sizing.tuning`` is the tuning option
    chosen. The presets hold their papers' Atari-scale values (1M replay, a 50K-80K-step warm-up), and
    ``optional tuning: ${env}_${agent}`` applies nothing when the file is missing: refuse, unless ``tuning=none``
    asks for the paper values on purpose."""

    from hydra.core.hydra_config import HydraConfig

    if c.value("sizing.needs_tuning", required=False) is not True:
        return  # a paper-scale family (Atari, MinAtar), debug=tiny, or a run saved before this rule
    tuning = c.value("sizing.tuning", required=False)
    sources = [{"schema": "pkg", "path": "rlkit.conf"}]
    choices: dict[str, Any] = {}
    if HydraConfig.initialized():  # the search path (hydra.searchpath adds users' conf dirs) and group choices
        sources += list(HydraConfig.get().runtime.config_sources)
        choices = dict(HydraConfig.get().runtime.choices)
    options: dict[str, set[str]] = {"tuning": set(), "env": set()}
    for source in sources:
        for group, found in options.items():
            try:
                root = resources.files(source["path"]) if source["schema"] == "pkg" else Path(source["path"])
                if source["schema"] in ("pkg", "file") and root.joinpath(group).is_dir():
                    found |= {f.name[:-5] for f in root.joinpath(group).iterdir() if f.name.endswith(".yaml")}
            except (ImportError, TypeError, OSError):
                continue
    if tuning is ABSENT or tuning in options["tuning"]:
        return
    env, agent = choices.get("env") or "<env>", choices.get("agent") or "<agent>"
    default = f"{env}_{agent}"
    if tuning is None:  # ~tuning or tuning=null
        why = "the tuning was removed: ~tuning or tuning=null"
        fix = f"drop ~tuning (conf/tuning/{default}.yaml applies)" if default in options["tuning"] else \
            f"add conf/tuning/{default}.yaml"
    else:
        why, default = f"conf/tuning/{tuning}.yaml does not exist", str(tuning)
        fix = f"add conf/tuning/{tuning}.yaml"
    siblings = sorted(f"{e}_{agent}" for e in options["env"]) if agent != "<agent>" else []
    start = [name for name in siblings if name in options["tuning"] and name != default]
    if not fix.startswith("drop") and start:
        fix += f" (tunings of agent={agent} to start from: {', '.join(start)})"
    family = c.value("sizing.family", required=False)
    values = {key: c.value(key, required=False) for key in ("replay.capacity", "train.learning_starts_steps",
                                                             "train.steps")}
    sizes = [f"{key}={value}" for key, value in values.items() if value is not ABSENT]
    c.add("tuning", f"env={env} is a small env (family {family}: conf/env/family/{family}.yaml) and no tuning "
          f"resizes agent={agent} for it ({why}), so the preset's paper values would run ({', '.join(sizes)})",
          f"{fix}, choose a tuning with tuning=<name>, or run the paper values on purpose with tuning=none")


def check_gym_id(c: Checker) -> None:
    import gymnasium as gym

    env_id = c.value("env.id")
    if env_id is ABSENT:
        return
    if not isinstance(env_id, str) or not env_id:
        c.add("env.id", f"must be a gymnasium env id, got {env_id!r}", "set env.id=CartPole-v1 (for example)")
        return
    lookup = env_id
    if ":" in env_id:  # "module:EnvId-v0": gymnasium imports the module that registers the env
        module, lookup = env_id.split(":", 1)
        try:
            importlib.import_module(module)
        except Exception as err:  # noqa: BLE001 - user code may raise anything at import; report it
            c.add("env.id", f"cannot import {module!r} for {env_id!r} ({one_line(err)})",
                  "check the module name and PYTHONPATH")
            return
    try:
        gym.spec(lookup)
    except gym.error.Error as err:
        close = difflib.get_close_matches(lookup, list(gym.registry), n=3, cutoff=0.6)
        hint = f"closest registered ids: {', '.join(close)}" if close else "see gymnasium.pprint_registry()"
        c.add("env.id", f"gymnasium has no env {env_id!r} ({one_line(err)})", f"use a registered id; {hint}")


def check_minatar_game(c: Checker) -> None:
    """``env.game`` is one of MinAtar's five games (closest names otherwise); ``env.id`` names it; no frame skip."""
    import importlib.util

    from rlkit.envs.minatar import GAMES, INSTALL_HINT, resolve_game
    from rlkit.utils.atari_games import close_games, squash

    if importlib.util.find_spec("minatar") is None:
        c.add("env.name", "env=minatar needs the minatar package, which is not installed", INSTALL_HINT)
    frame_skip = c.value("env.frame_skip")
    if frame_skip is not ABSENT and frame_skip != 1:
        c.add("env.frame_skip", f"must be 1 for MinAtar (a game step is an agent step), got {frame_skip!r}",
              "set env.frame_skip=1")
    game = c.value("env.game")
    try:
        canonical = resolve_game(str(game)) if game is not ABSENT else None
    except ValueError:
        close = close_games(str(game), GAMES)
        fix = f"set env.game={close[0]}" if close else f"use one of {', '.join(GAMES)}"
        c.add("env.game", f"MinAtar has no game {game!r}; closest: {', '.join(close) or '(none)'}; games: "
              f"{', '.join(GAMES)}", fix)
        return
    env_id = c.value("env.id", required=False)
    if canonical is not None and isinstance(env_id, str) and not squash(env_id).endswith(squash(canonical)):
        c.add("env.id", f"{env_id!r} names another game than env.game={game!r}",
              "leave env.id=minatar_${env.game} (the default), or name the same game")


def check_atari_game(c: Checker) -> None:
    from rlkit.utils.atari_games import UnknownGameError, ale_game_ids, canonical_game, close_games, squash

    game = c.value("env.game")
    if game is ABSENT:
        return
    if not isinstance(game, str) or not game:
        c.add("env.game", f"must be an Atari game name, got {game!r}", "set env.game=pong (for example)")
        return
    known = ale_game_ids()
    try:
        canonical = canonical_game(game, known, source="ale-py ROMs")
    except UnknownGameError:
        close = close_games(game, known)
        fix = f"set env.game={close[0]}" if close else "use an id from ale_py.roms.get_all_rom_ids(), e.g. env.game=pong"
        c.add("env.game", f"ale-py has no Atari game {game!r}; closest: {', '.join(close) or '(none)'}", fix)
        return
    env_id = c.value("env.id", required=False)
    if isinstance(env_id, str) and squash(env_id) != squash(canonical):
        c.add("env.id", f"{env_id!r} names another game than env.game={game!r}",
              "leave env.id=${env.game} (the default), or set both to the same game")


def check_augmentation(c: Checker) -> None:
    """``random_shift`` (DrQ, Kostrikov et al. 2020) shifts images: observations must be [C, H, W]."""
    if c.value("augmentation.name", required=False) != "random_shift":
        return
    c.at_least("augmentation.pad", 0, required=False, fix="set augmentation.pad=4 (pixels; DrQ's value)")
    shape = _gym_obs_shape(c) if c.value("env.name", required=False) == "gym" else None  # atari: [stack, H, W]
    if shape is not None and len(shape) != 3:
        c.add("augmentation.name", f"random_shift shifts images [C, H, W], but {c.value('env.id')} observes "
              f"vectors of shape {list(shape)}", "use augmentation=none with this env, or an image env (env=atari)")


def _gym_obs_shape(c: Checker) -> tuple[int, ...] | None:
    """The observation shape of gymnasium env ``env.id`` (made and closed at once); None if it cannot be made."""
    import gymnasium as gym

    env_id, kwargs = c.value("env.id", required=False), c.value("env.kwargs", required=False)
    if not isinstance(env_id, str):
        return None
    try:
        env = gym.make(env_id, **(OmegaConf.to_container(kwargs) if isinstance(kwargs, DictConfig) else {}))
    except Exception:  # noqa: BLE001 - a bad id or kwargs is reported by check_gym_id or at build time
        return None
    try:
        return tuple(env.observation_space.shape or ())
    finally:
        env.close()
