"""Component nodes: user imports, unknown keys, registered names and constructor arguments."""

from __future__ import annotations

import difflib
import importlib
import typing
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, ListConfig

from rlkit import registry
from rlkit.config_keys import COMPONENT_PATHS, LEARNER_SCHEDULE_KEYS, closest_key, unknown_keys, valid_key_paths
from rlkit.validation.checker import ABSENT, Checker, one_line

# values the builder passes at run time; a config must not set them (rlkit/training/builder.py)
RUNTIME_KEYS: dict[str, set[str]] = {
    "network/torso": {"obs_shape"},
    "network/head": {"in_features", "num_actions", "layer"},
    "network/output": {"in_features"},
    "replay/storage": {"capacity", "obs_shape", "obs_dtype", "num_envs", "n_step", "gamma"},
    "replay/sampler": {"capacity", "seed"},
    "augmentation": {"seed"},
    "optim": {"params"},
    "logger": {"run_dir", "total_steps", "run_name"},
    "agent": {"network", "optimizer_factory", "loss", "target_rule", "exploration", "augmentation", "device",
              "num_actions", "seed"},
}


# parts newer than some saved runs: a resumed run's config.yaml without them builds the old behaviour
OPTIONAL_COMPONENTS = frozenset({"augmentation", "network.head.output"})  # no output node: scalar


def check_imports(c: Checker) -> None:
    """``imports=[...]``: user modules whose ``@register`` must run before names are checked."""
    modules = c.value("imports", required=False)
    if modules is ABSENT or modules is None:
        return
    if not isinstance(modules, ListConfig) or not all(isinstance(m, str) for m in modules):
        c.add("imports", f"must be a list of module names, got {modules!r}", "write imports=[my_pkg.parts]")
        return
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as err:  # noqa: BLE001 - user code may raise anything at import; report it
            failed.append(f"{name!r} ({type(err).__name__}: {one_line(err)})")
    if failed:
        c.add("imports", f"cannot import {', '.join(failed)}",
              "check the module names and that their directory is on PYTHONPATH")


def check_unknown_keys(c: Checker) -> None:
    """Keys no part reads (``+train.step=100``): Hydra accepts them, the run would ignore them."""
    unknown = unknown_keys(c.cfg)
    candidates = valid_key_paths(c.cfg) if unknown else []
    for key in unknown:
        near = closest_key(key, candidates)
        hint = f"did you mean {near}? " if near else ""
        c.add(key, "is not a key of rlkit's config: no part reads it (a typo, or a setting from another version)",
              f"{hint}Remove it (~{key}); valid keys are in conf/config.yaml and the group files")


def check_components(c: Checker) -> None:
    """Every component node names a registered part; its keys are arguments of that part's constructor."""
    for path, group in COMPONENT_PATHS.items():
        ignore = LEARNER_SCHEDULE_KEYS if path == "agent" else ()
        check_component(c, path, group, required=path not in OPTIONAL_COMPONENTS, ignore=ignore)
    loggers = c.value("logger")
    if not isinstance(loggers, DictConfig):
        if loggers is not ABSENT and loggers is not None:
            c.add("logger", f"must be a mapping of logger entries, got {loggers!r}", "use logger=default")
        return
    for entry in loggers:
        node = c.value(f"logger.{entry}")
        if node is None or node is ABSENT:
            continue
        enabled = c.value(f"logger.{entry}.enabled", required=False)
        if enabled is not ABSENT and not isinstance(enabled, bool):
            c.add(f"logger.{entry}.enabled", f"must be true or false, got {enabled!r}",
                  f"set logger.{entry}.enabled=true or false")
        elif enabled is not False:
            check_component(c, f"logger.{entry}", "logger", ignore=("enabled",))


def check_component(c: Checker, path: str, group: str, *, ignore: tuple[str, ...] = (),
                     required: bool = True) -> None:
    node = c.value(path, required=required)
    if node is ABSENT:
        return
    valid = registry.names(group)
    if not isinstance(node, DictConfig) or "name" not in node:
        c.add(path, f"needs a 'name' key naming a registered {group} part; valid names: {', '.join(valid)}",
              f"select an option of the {group} group or set {path}.name")
        return
    name = c.value(f"{path}.name")
    if name is ABSENT:
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
            valid = sorted((accepted - runtime) | set(ignore))  # ignored keys are valid, read by another part
            near = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.6)
            hint = f"did you mean {path}.{near[0]}? " if near else ""
            owners = [other for other in registry.names(group)
                      if other != name and key in registry.config_keys(group, other)[0]]
            fix = f"{hint}Remove it (~{path}.{key}) or fix its spelling"
            if owners:  # e.g. optim=adam, then a tuning file that names its recipe's optimiser (rmsprop)
                fix = (f"It is an argument of {group}/{' and '.join(owners)}: {path}.name={name} replaced that "
                       f"choice (a tuning or experiment file names its own {group}); to keep yours, also set "
                       f"{path}.name={owners[0]}; else remove it (~{path}.{key})")
            c.add(f"{path}.{key}", f"is not an argument of {group}/{name}; accepted: {valid}", fix)
        elif key in choices:
            value = c.value(f"{path}.{key}")
            if value is not ABSENT and value not in choices[key]:
                c.add(f"{path}.{key}", f"must be one of {list(choices[key])}, got {value!r}",
                      f"set {path}.{key}={choices[key][0]}")
    for key in sorted(required - runtime - set(node)):
        c.add(f"{path}.{key}", f"is required by {group}/{name} but missing", f"add it: +{path}.{key}=<value>")


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
