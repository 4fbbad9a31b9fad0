"""Component registry: parts register under ``(group, name)`` and configs select them by name.

A group config is a mapping with a ``name`` key (the registry key) and the constructor's keyword
arguments. Sizes known only at run time (``obs_shape``, ``num_actions``, ``device`` ...) are passed
to :func:`build` as keywords; each constructor receives only the run-time values it declares.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

T = TypeVar("T", bound=Callable[..., Any])

_REGISTRY: dict[str, dict[str, Callable[..., Any]]] = {}


class RegistryError(KeyError):
    """Unknown group or component name, or config keys a constructor does not accept."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else ""


def register(group: str, name: str) -> Callable[[T], T]:
    """Class/function decorator that registers a component under ``(group, name)``."""

    def decorator(obj: T) -> T:
        entries = _REGISTRY.setdefault(group, {})
        existing = entries.get(name)
        if existing is not None and existing is not obj and _qualname(existing) != _qualname(obj):
            raise RegistryError(
                f"{group}/{name} is already registered to {_qualname(existing)}; "
                f"pick another name for {_qualname(obj)}"
            )
        entries[name] = obj
        return obj

    return decorator


def groups() -> list[str]:
    """All groups that have at least one registered component."""
    return sorted(_REGISTRY)


def names(group: str) -> list[str]:
    """The registered names of ``group`` (sorted)."""
    return sorted(_REGISTRY.get(group, {}))


def get(group: str, name: str) -> Callable[..., Any]:
    """The constructor registered as ``(group, name)``; a helpful error if there is none."""
    if group not in _REGISTRY:
        raise RegistryError(_unknown_message("group", group, groups(), context="registry"))
    entries = _REGISTRY[group]
    if name not in entries:
        raise RegistryError(_unknown_message(f"{group} component", name, names(group), context=group))
    return entries[name]


def build(group: str, cfg: Mapping[str, Any] | Any, **runtime: Any) -> Any:
    """Build the component ``cfg["name"]`` of ``group`` from its config plus run-time values.

    Config keys other than ``name`` must be keyword arguments of the constructor (an error lists
    the accepted ones). Run-time keywords are passed when the constructor declares them (or takes
    ``**kwargs``); a run-time value never silently replaces a config value.
    """
    params = _to_dict(cfg)
    if "name" not in params:
        raise RegistryError(
            f"config for group '{group}' has no 'name' key; valid names: {', '.join(names(group))}"
        )
    name = params.pop("name")
    factory = get(group, name)
    accepted, takes_var_kw = _keyword_parameters(factory)
    unknown = [k for k in params if k not in accepted and not takes_var_kw]
    if unknown:
        raise RegistryError(
            f"{group}/{name} does not accept config key(s) {unknown}; "
            f"accepted: {sorted(accepted - set(runtime))}"
        )
    clash = sorted(set(params) & set(runtime))
    if clash:
        raise RegistryError(
            f"{group}/{name}: key(s) {clash} are set at run time and must not appear in the config"
        )
    kwargs = dict(params)
    for key, value in runtime.items():
        if key in accepted or takes_var_kw:
            kwargs[key] = value
    return factory(**kwargs)


def config_keys(group: str, name: str) -> tuple[set[str], set[str]]:
    """(all keyword parameters, required keyword parameters) of a registered constructor."""
    factory = get(group, name)
    sig = inspect.signature(factory)
    all_keys, required = set(), set()
    for p in sig.parameters.values():
        if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        all_keys.add(p.name)
        if p.default is p.empty:
            required.add(p.name)
    return all_keys, required


def without_defaults(group: str, cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``cfg`` (a component node) less the arguments set to their constructor's default value.

    What a part *is* does not change when a later version adds an argument whose default keeps the
    old behaviour, so comparisons of saved and current configs (checkpoint compatibility) use this."""
    node = dict(cfg)
    name = node.get("name")
    if name not in _REGISTRY.get(group, {}):
        return node
    params = inspect.signature(get(group, str(name))).parameters
    return {k: v for k, v in node.items()
            if not (k in params and params[k].default is not params[k].empty and _equal(v, params[k].default))}


def _equal(value: Any, default: Any) -> bool:
    try:
        return bool(value == default) or (isinstance(default, tuple) and list(default) == value)
    except Exception:  # noqa: BLE001 - exotic defaults: keep the key
        return False


def _keyword_parameters(factory: Callable[..., Any]) -> tuple[set[str], bool]:
    sig = inspect.signature(factory)
    accepted = {
        p.name
        for p in sig.parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    takes_var_kw = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    return accepted, takes_var_kw


def _unknown_message(kind: str, name: str, valid: Iterable[str], *, context: str) -> str:
    valid = list(valid)
    msg = f"unknown {kind} '{name}' in '{context}'; valid names: {', '.join(valid) or '(none)'}"
    close = difflib.get_close_matches(str(name), valid, n=1, cutoff=0.5)
    if close:
        msg += f". Did you mean '{close[0]}'?"
    return msg


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def _to_dict(cfg: Any) -> dict[str, Any]:
    if isinstance(cfg, Mapping):
        return {k: _plain(v) for k, v in cfg.items()}
    try:  # OmegaConf DictConfig without importing omegaconf at module import time
        from omegaconf import DictConfig, OmegaConf

        if isinstance(cfg, DictConfig):
            return dict(OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]
    except ImportError:  # pragma: no cover
        pass
    raise TypeError(f"component config must be a mapping, got {type(cfg).__name__}")


def _plain(value: Any) -> Any:
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(value, (DictConfig, ListConfig)):
            return OmegaConf.to_container(value, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    return value
