"""What a validation problem is, and the checker that reads config values without raising."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

ABSENT = object()


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


class Checker:
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
        """The value at ``key`` (resolved), or ``ABSENT`` when missing, unresolvable or already reported."""
        if key in self._bad:
            return ABSENT
        try:
            value = OmegaConf.select(self.cfg, key, default=ABSENT, throw_on_missing=True)
        except MissingMandatoryValue:
            self.add(key, "has no value ('???')", f"set it, e.g. {key}=<value>")
            return ABSENT
        except (OmegaConfBaseException, ValueError, TypeError, ZeroDivisionError) as err:
            self.add(key, f"cannot be resolved ({one_line(err)})", "fix the interpolation or the keys it reads")
            return ABSENT
        if value is ABSENT and required:
            self.add(key, "is missing", f"add it (defaults: conf/config.yaml); on the command line: +{key}=<value>")
        return value

    def number(self, key: str, *, integer: bool, nullable: bool = False, fix: str,
               required: bool = True) -> float | int | None:
        """A numeric value (ints, and integral floats where ``integer``); ``None`` when absent or invalid."""
        value = self.value(key, required=required)
        if value is ABSENT or (value is None and nullable):
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

    def flag(self, key: str, *, fix: str | None = None, required: bool = True) -> Any:
        """A true/false value; ``ABSENT`` when absent or not a bool (reported, with ``fix`` or a generic one)."""
        value = self.value(key, required=required)
        if value is not ABSENT and not isinstance(value, bool):
            self.add(key, f"must be true or false, got {value!r}", fix or f"set {key}=true or false")
            return ABSENT
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
                knob_value = OmegaConf.select(self.cfg, knob, default=ABSENT)
                return knob if knob_value is not ABSENT and knob_value == parent[leaf] else key
        except (OmegaConfBaseException, ValueError, TypeError):
            pass
        return key


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
