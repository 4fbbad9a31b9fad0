"""Check a composed config before anything is built or written, and report every problem at once.

:func:`validate_config` reads the config only: it never builds a component, never creates a file or a
directory, and never stops at the first problem. Each :class:`ConfigProblem` names the key path, what
is wrong and how to fix it; :func:`check_config` raises a :class:`ConfigError` that lists them all.
Hyper-parameters are checked on the node a component actually reads (``network.head.v_min``), and
the fix names the knob that node interpolates (``c51.v_min``).
"""

from __future__ import annotations

import difflib
import importlib
import os
import re
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from rlkit import registry
from rlkit.config_keys import COMPONENT_PATHS, closest_key, unknown_keys, valid_key_paths

# values the builder passes at run time; a config must not set them (rlkit/training/builder.py)
RUNTIME_KEYS: dict[str, set[str]] = {
    "network/torso": {"obs_shape"},
    "network/head": {"in_features", "num_actions", "layer"},
    "replay/storage": {"capacity", "obs_shape", "obs_dtype", "num_envs", "n_step", "gamma"},
    "replay/sampler": {"capacity", "seed"},
    "augmentation": {"seed"},
    "optim": {"params"},
    "logger": {"run_dir", "total_steps", "run_name"},
    "agent": {"network", "optimizer_factory", "loss", "target_rule", "exploration", "augmentation", "device",
              "num_actions", "seed"},
}
# parts newer than some saved runs: a resumed run's config.yaml without them builds the old behaviour
OPTIONAL_COMPONENTS = frozenset({"augmentation"})
_ABSENT = object()
_CUDA = re.compile(r"cuda(?::(\d+))?")


@dataclass(frozen=True)
class ConfigProblem:
    """One problem: the config ``key`` path, ``message`` (what is wrong) and ``fix`` (how to fix it)."""

    key: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"- {self.key}: {self.message.rstrip('.')}. Fix: {self.fix}"


class ConfigError(ValueError):
    """Raised by :func:`check_config`; ``problems`` holds every :class:`ConfigProblem` found."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        header = f"invalid config: {count} problem{'' if count == 1 else 's'} (nothing was built or written)"
        super().__init__("\n".join([header, *(str(p) for p in self.problems)]))


def check_config(cfg: DictConfig, run_dir: Path | None = None) -> None:
    """Raise :class:`ConfigError` listing every problem :func:`validate_config` finds (none: return)."""
    problems = validate_config(cfg, run_dir)
    if problems:
        raise ConfigError(problems)


def validate_config(cfg: DictConfig, run_dir: Path | None = None) -> list[ConfigProblem]:
    """Every problem of a composed rlkit config (resolved or not), grouped by part; empty when valid."""
    import rlkit.components  # noqa: F401  (registers the built-in parts)

    c = _Checker(cfg)
    _check_imports(c)
    _check_unknown_keys(c)
    _check_components(c)
    _check_env(c)
    _check_learning(c)
    _check_knob_nodes(c)
    _check_augmentation(c)
    _check_eval(c)
    _check_wandb(c)
    _check_device(c)
    if run_dir is not None:
        _check_run_dir(c, Path(run_dir))
    return c.problems


class _Checker:
    """Reads config values without raising; collects at most one problem per key."""

    def __init__(self, cfg: DictConfig) -> None:
        self.cfg = cfg
        self.problems: list[ConfigProblem] = []
        self._bad: set[str] = set()

    def add(self, key: str, message: str, fix: str) -> None:
        if key not in self._bad:
            self._bad.add(key)
            self.problems.append(ConfigProblem(key, message, fix))

    def value(self, key: str, *, required: bool = True) -> Any:
        """The value at ``key`` (resolved), or ``_ABSENT`` when missing, unresolvable or already reported."""
        if key in self._bad:
            return _ABSENT
        try:
            value = OmegaConf.select(self.cfg, key, default=_ABSENT, throw_on_missing=True)
        except MissingMandatoryValue:
            self.add(key, "has no value ('???')", f"set it, e.g. {key}=<value>")
            return _ABSENT
        except (OmegaConfBaseException, ValueError, TypeError, ZeroDivisionError) as err:
            self.add(key, f"cannot be resolved ({_one_line(err)})", "fix the interpolation or the keys it reads")
            return _ABSENT
        if value is _ABSENT and required:
            self.add(key, "is missing", f"add it (defaults: conf/config.yaml); on the command line: +{key}=<value>")
        return value

    def number(self, key: str, *, integer: bool, nullable: bool = False, fix: str,
               required: bool = True) -> float | int | None:
        """A numeric value (ints, and integral floats where ``integer``); ``None`` when absent or invalid."""
        value = self.value(key, required=required)
        if value is _ABSENT or (value is None and nullable):
            return None
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and integer and isinstance(value, float):
            ok = value.is_integer()
            value = int(value) if ok else value
        if not ok:
            kind = "an integer" if integer else "a number"
            self.add(key, f"must be {kind}{' or null' if nullable else ''}, got {value!r}", fix)
            return None
        return value

    def at_least(self, key: str, low: float, *, fix: str, integer: bool = True, nullable: bool = False,
                 required: bool = True) -> Any:
        value = self.number(key, integer=integer, nullable=nullable, fix=fix, required=required)
        if value is not None and not value >= low:
            self.add(key, f"must be >= {low:g}, got {value}", fix)
            return None
        return value

    def in_unit_interval(self, key: str, what: str, *, knob: str | None = None) -> float | None:
        setting = self.setting(key, knob)
        fix = f"set {setting} to a value between 0 and 1"
        value = self.number(key, integer=False, fix=fix)
        if value is not None and not 0.0 <= value <= 1.0:
            self.add(key, f"{what} must lie in [0, 1], got {value}", fix)
            return None
        return value

    def setting(self, key: str, knob: str | None) -> str:
        """What the user should set: ``knob`` when ``key`` reads it (interpolation or, resolved, equal value)."""
        if knob is None:
            return key
        parent_key, _, leaf = key.rpartition(".")
        try:
            parent = OmegaConf.select(self.cfg, parent_key, default=None) if parent_key else self.cfg
            if isinstance(parent, DictConfig) and leaf in parent:
                if OmegaConf.is_interpolation(parent, leaf):
                    raw = OmegaConf.to_container(parent, resolve=False)[leaf]  # type: ignore[index]
                    return knob if str(raw).replace(" ", "") == "${" + knob + "}" else key
                knob_value = OmegaConf.select(self.cfg, knob, default=_ABSENT)
                return knob if knob_value is not _ABSENT and knob_value == parent[leaf] else key
        except (OmegaConfBaseException, ValueError, TypeError):
            pass
        return key


# ----------------------------------------------------------------------------- rules
def _check_imports(c: _Checker) -> None:
    """``imports=[...]``: user modules whose ``@register`` must run before names are checked."""
    modules = c.value("imports", required=False)
    if modules is _ABSENT or modules is None:
        return
    if not isinstance(modules, ListConfig) or not all(isinstance(m, str) for m in modules):
        c.add("imports", f"must be a list of module names, got {modules!r}", "write imports=[my_pkg.parts]")
        return
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as err:  # noqa: BLE001 - user code may raise anything at import; report it
            failed.append(f"{name!r} ({type(err).__name__}: {_one_line(err)})")
    if failed:
        c.add("imports", f"cannot import {', '.join(failed)}",
              "check the module names and that their directory is on PYTHONPATH")


def _check_unknown_keys(c: _Checker) -> None:
    """Keys no part reads (``+train.step=100``): Hydra accepts them, the run would ignore them."""
    unknown = unknown_keys(c.cfg)
    candidates = valid_key_paths(c.cfg) if unknown else []
    for key in unknown:
        near = closest_key(key, candidates)
        hint = f"did you mean {near}? " if near else ""
        c.add(key, "is not a key of rlkit's config: no part reads it (a typo, or a setting from another version)",
              f"{hint}Remove it (~{key}); valid keys are in conf/config.yaml and the group files")


def _check_components(c: _Checker) -> None:
    """Every component node names a registered part; its keys are arguments of that part's constructor."""
    for path, group in COMPONENT_PATHS.items():
        _check_component(c, path, group, required=path not in OPTIONAL_COMPONENTS)
    loggers = c.value("logger")
    if not isinstance(loggers, DictConfig):
        if loggers is not _ABSENT and loggers is not None:
            c.add("logger", f"must be a mapping of logger entries, got {loggers!r}", "use logger=default")
        return
    for entry in loggers:
        node = c.value(f"logger.{entry}")
        if node is None or node is _ABSENT:
            continue
        enabled = c.value(f"logger.{entry}.enabled", required=False)
        if enabled is not _ABSENT and not isinstance(enabled, bool):
            c.add(f"logger.{entry}.enabled", f"must be true or false, got {enabled!r}",
                  f"set logger.{entry}.enabled=true or false")
        elif enabled is not False:
            _check_component(c, f"logger.{entry}", "logger", ignore=("enabled",))


def _check_component(c: _Checker, path: str, group: str, *, ignore: tuple[str, ...] = (),
                     required: bool = True) -> None:
    node = c.value(path, required=required)
    if node is _ABSENT:
        return
    valid = registry.names(group)
    if not isinstance(node, DictConfig) or "name" not in node:
        c.add(path, f"needs a 'name' key naming a registered {group} part; valid names: {', '.join(valid)}",
              f"select an option of the {group} group or set {path}.name")
        return
    name = c.value(f"{path}.name")
    if name is _ABSENT:
        return
    if name not in valid:
        close = difflib.get_close_matches(str(name), valid, n=1, cutoff=0.5)
        hint = f"set {path}.name={close[0]}" if close else f"set {path}.name to one of the valid names"
        c.add(f"{path}.name", f"unknown {group} component {name!r}; valid names: {', '.join(valid) or '(none)'}",
              f"{hint}, or register your own part and list its module in imports=[...]")
        return
    factory = registry.get(group, name)
    accepted, required = registry.config_keys(group, name)
    takes_any = _takes_var_keywords(factory)
    runtime = RUNTIME_KEYS.get(group, set())
    choices = _literal_choices(factory)
    for key in node:
        if key == "name" or key in ignore:
            continue
        if key in runtime:
            c.add(f"{path}.{key}", f"is set at run time for {group}/{name} and must not appear in the config",
                  f"remove it (~{path}.{key})")
        elif key not in accepted and not takes_any:
            near = difflib.get_close_matches(str(key), sorted(accepted - runtime), n=1, cutoff=0.6)
            hint = f"did you mean {path}.{near[0]}? " if near else ""
            c.add(f"{path}.{key}", f"is not an argument of {group}/{name}; accepted: {sorted(accepted - runtime)}",
                  f"{hint}Remove it (~{path}.{key}) or fix its spelling")
        elif key in choices:
            value = c.value(f"{path}.{key}")
            if value is not _ABSENT and value not in choices[key]:
                c.add(f"{path}.{key}", f"must be one of {list(choices[key])}, got {value!r}",
                      f"set {path}.{key}={choices[key][0]}")
    for key in sorted(required - runtime - set(node)):
        c.add(f"{path}.{key}", f"is required by {group}/{name} but missing", f"add it: +{path}.{key}=<value>")


def _check_env(c: _Checker) -> None:
    name = c.value("env.name")
    c.at_least("env.num_envs", 1, fix="set env.num_envs=1 or more")
    c.at_least("env.frame_skip", 1, fix="set env.frame_skip=1 or more (4 for Atari)")
    if name in ("gym", "minatar"):
        c.at_least("env.max_episode_steps", 1, nullable=True, fix="set env.max_episode_steps=null (the env's own cap)")
    if name == "gym":
        _check_gym_id(c)
    if name == "minatar":
        _check_minatar_game(c)
    if name == "atari":
        _check_atari_game(c)
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


def _check_gym_id(c: _Checker) -> None:
    import gymnasium as gym

    env_id = c.value("env.id")
    if env_id is _ABSENT:
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
            c.add("env.id", f"cannot import {module!r} for {env_id!r} ({_one_line(err)})",
                  "check the module name and PYTHONPATH")
            return
    try:
        gym.spec(lookup)
    except gym.error.Error as err:
        close = difflib.get_close_matches(lookup, list(gym.registry), n=3, cutoff=0.6)
        hint = f"closest registered ids: {', '.join(close)}" if close else "see gymnasium.pprint_registry()"
        c.add("env.id", f"gymnasium has no env {env_id!r} ({_one_line(err)})", f"use a registered id; {hint}")


def _check_minatar_game(c: _Checker) -> None:
    """``env.game`` is one of MinAtar's five games (closest names otherwise); ``env.id`` names it; no frame skip."""
    import importlib.util

    from rlkit.envs.minatar import GAMES, INSTALL_HINT, resolve_game
    from rlkit.utils.atari_games import close_games, squash

    if importlib.util.find_spec("minatar") is None:
        c.add("env.name", "env=minatar needs the minatar package, which is not installed", INSTALL_HINT)
    frame_skip = c.value("env.frame_skip")
    if frame_skip is not _ABSENT and frame_skip != 1:
        c.add("env.frame_skip", f"must be 1 for MinAtar (a game step is an agent step), got {frame_skip!r}",
              "set env.frame_skip=1")
    game = c.value("env.game")
    try:
        canonical = resolve_game(str(game)) if game is not _ABSENT else None
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


def _check_atari_game(c: _Checker) -> None:
    from rlkit.utils.atari_games import UnknownGameError, ale_game_ids, canonical_game, close_games, squash

    game = c.value("env.game")
    if game is _ABSENT:
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


def _check_learning(c: _Checker) -> None:
    """Agent, replay and training schedule (agent steps), and the relations between them."""
    batch = c.at_least("agent.batch_size", 1, fix="set agent.batch_size=32 (the DQN papers' value)")
    n_step = c.at_least("agent.n_step", 1, fix="set agent.n_step=1 (one-step returns) or more (Rainbow: 3)")
    c.in_unit_interval("agent.gamma", "the discount gamma")
    tau = c.number("agent.tau", integer=False, fix="set agent.tau=1.0 (hard target copies)")
    if tau is not None and not 0.0 < tau <= 1.0:
        c.add("agent.tau", f"must lie in (0, 1], got {tau}", "set agent.tau=1.0 (hard copies) or a Polyak rate like 0.005")
    c.at_least("agent.target_update_every_steps", 1, fix="set agent.target_update_every_steps to 1 or more agent steps")
    norm = c.number("agent.max_grad_norm", integer=False, nullable=True, fix="set agent.max_grad_norm=10.0, or null")
    if norm is not None and not norm >= 0:
        c.add("agent.max_grad_norm", f"must be >= 0 or null, got {norm}", "set agent.max_grad_norm=10.0, or null")
    capacity = c.at_least("replay.capacity", 1, fix="set replay.capacity to 1 or more transitions")
    steps = c.at_least("train.steps", 1, fix="set train.steps to 1 or more agent steps")
    starts = c.at_least("train.learning_starts_steps", 0, fix="set train.learning_starts_steps=0 or more")
    c.at_least("train.update_every_steps", 1, fix="set train.update_every_steps=1 or more agent steps")
    c.at_least("train.updates_per_cycle", 1, fix="set train.updates_per_cycle=1 or more")
    c.at_least("train.log_every_steps", 1, fix="set train.log_every_steps=1 or more agent steps")
    c.number("train.stop_at_eval_return", integer=False, nullable=True, fix="set a return, or null")
    c.at_least("checkpoint.every", 0, nullable=True, required=False,
               fix="set checkpoint.every to 0 (only on stop signals) or more agent steps")
    c.at_least("checkpoint.keep_last", 0, required=False, fix="set checkpoint.keep_last to 0 (keep all) or more")
    for key in ("checkpoint.replay", "checkpoint.keep_after_finish"):
        flag = c.value(key, required=False)
        if flag is not _ABSENT and not isinstance(flag, bool):
            c.add(key, f"must be true or false, got {flag!r}", f"set {key}=true or false")

    if batch is not None and capacity is not None and batch > capacity:
        c.add("agent.batch_size", f"a batch of {batch} is larger than replay.capacity={capacity}",
              f"lower agent.batch_size or raise replay.capacity to at least {batch}")
    if batch is not None and n_step is not None and starts is not None:
        needed = batch + n_step - 1  # n-step rows appear n - 1 steps after their first step
        if starts < needed:
            c.add("train.learning_starts_steps",
                  f"learning would start at step {starts}, before a batch can be drawn: {batch} n-step "
                  f"transitions (agent.batch_size={batch}, agent.n_step={n_step}) need {needed} steps stored",
                  f"set train.learning_starts_steps={needed} or more, or lower agent.batch_size")
    if starts is not None and steps is not None and starts >= steps:
        c.add("train.learning_starts_steps", f"is {starts} >= train.steps={steps}: no update would ever run",
              "lower train.learning_starts_steps or raise train.steps")
    _check_frame_store(c, capacity, n_step)


def _check_frame_store(c: _Checker, capacity: int | None, n_step: int | None) -> None:
    """The frame store keeps ``capacity // num_envs`` frames per env: a stack plus an n-step window must fit."""
    if c.value("replay.storage.name", required=False) != "frame_stack" or capacity is None or n_step is None:
        return
    stack = c.value("env.stack", required=False)
    num_envs = c.value("env.num_envs", required=False)
    if not (isinstance(stack, int) and isinstance(num_envs, int) and stack >= 1 and num_envs >= 1):
        return
    per_env, needed = capacity // num_envs, stack + n_step + 2
    if per_env < needed:
        c.add("replay.capacity", f"frame_stack keeps {per_env} frames per env ({capacity} // env.num_envs="
              f"{num_envs}); a {stack}-frame stack and a {n_step}-step window need {needed}",
              f"set replay.capacity={needed * num_envs} or more")


def _check_knob_nodes(c: _Checker) -> None:
    """Ingredient hyper-parameters, on the nodes the selected parts read; fixes name the knobs."""
    if c.value("exploration.name", required=False) == "epsilon":
        start = c.in_unit_interval("exploration.start", "the initial epsilon", knob="epsilon.start")
        end = c.in_unit_interval("exploration.end", "the final epsilon", knob="epsilon.end")
        decay = c.setting("exploration.decay_steps", "epsilon.decay_steps")
        c.at_least("exploration.decay_steps", 0, fix=f"set {decay} to 0 or more agent steps")
        if c.value("exploration.schedule", required=False) == "exponential":
            for key, value in (("exploration.start", start), ("exploration.end", end)):
                if value is not None and value <= 0:
                    c.add(key, f"an exponential schedule needs epsilon > 0, got {value}",
                          f"set {c.setting(key, 'epsilon.' + key.rsplit('.', 1)[1])} > 0 or epsilon.schedule=linear")
    if c.value("replay.sampler.name", required=False) == "prioritized":
        alpha = c.setting("replay.sampler.alpha", "per.alpha")
        c.at_least("replay.sampler.alpha", 0.0, integer=False,
                   fix=f"set {alpha} >= 0 (0 = uniform; Schaul et al. 2016 use 0.6, Rainbow 0.5)")
        c.in_unit_interval("replay.sampler.beta_start", "the initial importance-sampling exponent", knob="per.beta_start")
        c.in_unit_interval("replay.sampler.beta_end", "the final importance-sampling exponent", knob="per.beta_end")
        eps = c.setting("replay.sampler.eps", "per.eps")
        c.at_least("replay.sampler.eps", 0.0, integer=False, fix=f"set {eps} >= 0 (default 1e-6)")
    _check_distributional_head(c)
    for key, knob in (("network.layer.sigma0", "noisy.sigma0"), ("network.layer.sigma", "noisy.sigma")):
        if c.value(key, required=False) is not _ABSENT:
            value = c.number(key, integer=False, fix=f"set {c.setting(key, knob)} > 0")
            if value is not None and not value > 0:
                c.add(key, f"noise scale must be > 0, got {value}",
                      f"set {c.setting(key, knob)} > 0, or network/layer=linear for no parameter noise")
    for key, knob in (("network.head.hidden_sizes", "network.hidden_sizes"),
                      ("network.torso.hidden_sizes", "network.torso_hidden_sizes")):
        sizes = c.value(key, required=False)
        if sizes is _ABSENT or sizes is None:
            continue
        if not isinstance(sizes, ListConfig) or not all(_is_int(s) and s >= 1 for s in sizes):
            c.add(key, f"must be a list of positive layer widths, got {sizes!r}", f"set {c.setting(key, knob)}=[512]")


def _check_distributional_head(c: _Checker) -> None:
    """C51 support (Bellemare et al. 2017): >= 2 atoms on ``v_min < v_max``; head and loss must agree."""
    head = c.value("network.head", required=False)
    if isinstance(head, DictConfig) and "num_atoms" in head:
        c.at_least("network.head.num_atoms", 2, fix=f"set {c.setting('network.head.num_atoms', 'c51.num_atoms')}=51 "
                   "(Bellemare et al. 2017), at least 2")
    if isinstance(head, DictConfig) and "v_min" in head and "v_max" in head:
        v_min = c.number("network.head.v_min", integer=False, fix="set c51.v_min to a number")
        v_max = c.number("network.head.v_max", integer=False, fix="set c51.v_max to a number")
        if v_min is not None and v_max is not None and not v_min < v_max:
            lo, hi = c.setting("network.head.v_min", "c51.v_min"), c.setting("network.head.v_max", "c51.v_max")
            c.add("network.head.v_min", f"the return support needs v_min < v_max, got v_min={v_min} >= v_max={v_max}",
                  f"set {lo} below {hi}, e.g. {lo}=-10 {hi}=10 (Atari, clipped rewards)")
    head_name, loss_name = c.value("network.head.name", required=False), c.value("loss.name", required=False)
    if head_name not in registry.names("network/head") or loss_name not in ("td", "categorical"):
        return
    distributional = getattr(registry.get("network/head", head_name), "distributional", None)
    if loss_name == "categorical" and distributional is False:
        c.add("loss.name", f"loss 'categorical' needs a distributional head, got network.head.name={head_name!r}",
              "use loss=td with this head, or network/head=c51 or dueling_c51")
    elif loss_name == "td" and distributional is True:
        c.add("loss.name", f"loss 'td' needs a scalar head, got the distributional network.head.name={head_name!r}",
              "use loss=categorical with this head, or network/head=q or dueling")


def _check_augmentation(c: _Checker) -> None:
    """``random_shift`` (DrQ, Kostrikov et al. 2020) shifts images: observations must be [C, H, W]."""
    if c.value("augmentation.name", required=False) != "random_shift":
        return
    c.at_least("augmentation.pad", 0, required=False, fix="set augmentation.pad=4 (pixels; DrQ's value)")
    shape = _gym_obs_shape(c) if c.value("env.name", required=False) == "gym" else None  # atari: [stack, H, W]
    if shape is not None and len(shape) != 3:
        c.add("augmentation.name", f"random_shift shifts images [C, H, W], but {c.value('env.id')} observes "
              f"vectors of shape {list(shape)}", "use augmentation=none with this env, or an image env (env=atari)")


def _gym_obs_shape(c: _Checker) -> tuple[int, ...] | None:
    """The observation shape of gymnasium env ``env.id`` (made and closed at once); None if it cannot be made."""
    import gymnasium as gym

    env_id, kwargs = c.value("env.id", required=False), c.value("env.kwargs", required=False)
    if not isinstance(env_id, str):
        return None
    try:
        env = gym.make(env_id, **(OmegaConf.to_container(kwargs) if isinstance(kwargs, DictConfig) else {}))
    except Exception:  # noqa: BLE001 - a bad id or kwargs is reported by _check_gym_id or at build time
        return None
    try:
        return tuple(env.observation_space.shape or ())
    finally:
        env.close()


def _check_eval(c: _Checker) -> None:
    c.at_least("eval.every_steps", 0, fix="set eval.every_steps to 0 (final evaluation only) or more")
    c.at_least("eval.episodes", 1, fix="set eval.episodes=10 (or any count >= 1)")
    c.at_least("eval.final_episodes", 1, nullable=True, required=False,
               fix="set eval.final_episodes=null (as eval.episodes) or a count >= 1")
    c.in_unit_interval("eval.epsilon", "the evaluation epsilon")
    c.at_least("eval.num_envs", 1, fix="set eval.num_envs=1 or more")
    c.at_least("eval.max_steps", 1, nullable=True, fix="set eval.max_steps=null (until eval.episodes end) or >= 1")
    video = c.value("eval.video", required=False)
    if video is not _ABSENT and not isinstance(video, bool):
        c.add("eval.video", f"must be true or false, got {video!r}", "set eval.video=true or false")
    elif video:
        c.at_least("eval.video_episodes", 1, fix="set eval.video_episodes=1 or more")


def _check_wandb(c: _Checker) -> None:
    """``logger.wandb.mode=online`` needs credentials: say so before anything is written, not mid-run."""
    if c.value("logger.wandb.enabled", required=False) is False:
        return
    if c.value("logger.wandb.mode", required=False) != "online":
        return
    from rlkit.logging.wandb_logger import has_wandb_credentials

    if not has_wandb_credentials():
        c.add("logger.wandb.mode", "is 'online' but no wandb API key is configured (no WANDB_API_KEY, no netrc entry)",
              "run `wandb login` or set WANDB_API_KEY; or log offline (logger.wandb.mode=offline, the default; "
              "upload later with `wandb sync <run dir>/wandb/offline-run-*`), or logger.wandb.enabled=false")


def _check_device(c: _Checker) -> None:
    import torch

    device = c.value("device")
    if device is not _ABSENT:
        match = _CUDA.fullmatch(device) if isinstance(device, str) else None
        if match:
            if not torch.cuda.is_available():
                c.add("device", f"device={device} asks for CUDA but torch.cuda.is_available() is false "
                      f"(torch {torch.__version__}, CUDA build: {torch.version.cuda})",
                      "use device=auto (CUDA when present) or device=cpu; for a GPU install a CUDA build of torch "
                      "(README, GPU install)")
            elif match.group(1) is not None and int(match.group(1)) >= torch.cuda.device_count():
                count = torch.cuda.device_count()
                c.add("device", f"device={device} but {count} CUDA device(s) are visible",
                      f"use device=cuda:0 ... cuda:{count - 1} or device=cuda; check CUDA_VISIBLE_DEVICES")
        elif device not in ("auto", "cpu"):
            c.add("device", f"unknown device {device!r}", "use device=auto, cpu, cuda or cuda:N")
    threads = c.value("torch_threads")
    if threads is not _ABSENT and threads != "auto" and not (_is_int(threads) and threads >= 1):
        c.add("torch_threads", f"must be 'auto' or an integer >= 1, got {threads!r}",
              "set torch_threads=auto (the cores this process may use) or a thread count")
    seed = c.value("seed")
    if seed is not _ABSENT and not (_is_int(seed) and seed >= 0):
        c.add("seed", f"must be an integer >= 0, got {seed!r}", "set seed=0 (or any non-negative integer)")


def _check_run_dir(c: _Checker, run_dir: Path) -> None:
    """Writable without writing: the first existing ancestor must be a directory we may write into."""
    path = Path(os.path.abspath(run_dir))
    if path.exists() and not path.is_dir():
        c.add("hydra.run.dir", f"{path} exists and is not a directory", "choose another hydra.run.dir")
        return
    ancestor = path
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        c.add("hydra.run.dir", f"cannot create {path}: {ancestor} is a file, not a directory",
              "choose another hydra.run.dir (or hydra.sweep.dir for -m)")
    elif not os.access(ancestor, os.W_OK | os.X_OK):
        what = "the run directory" if ancestor == path else f"{path}: its existing ancestor {ancestor}"
        c.add("hydra.run.dir", f"cannot write {what} (no write permission)",
              "choose a writable hydra.run.dir (or hydra.sweep.dir for -m), or fix the permissions")


# ---------------------------------------------------------------------------- helpers
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _takes_var_keywords(factory: Callable[..., Any]) -> bool:
    import inspect

    return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(factory).parameters.values())


def _literal_choices(factory: Callable[..., Any]) -> dict[str, tuple[Any, ...]]:
    """``{argument: allowed values}`` for constructor arguments annotated ``Literal[...]`` (or ``| None``)."""
    target = factory.__init__ if isinstance(factory, type) else factory
    try:
        hints = typing.get_type_hints(target)
    except (NameError, TypeError, AttributeError):  # unresolvable annotations (user code): nothing to check
        return {}
    out: dict[str, tuple[Any, ...]] = {}
    for name, hint in hints.items():
        options = [hint] if typing.get_origin(hint) is typing.Literal else list(typing.get_args(hint))
        values: list[Any] = []
        for option in options:
            if typing.get_origin(option) is typing.Literal:
                values += typing.get_args(option)
            elif option is type(None):
                values.append(None)
        if any(typing.get_origin(o) is typing.Literal for o in options):
            out[name] = tuple(values)
    return out


__all__ = ["COMPONENT_PATHS", "ConfigError", "ConfigProblem", "check_config", "validate_config"]
