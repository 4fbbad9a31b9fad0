"""Logger interface, a fan-out group, and the builder that turns the ``logger`` config into loggers.

Every ``step`` passed to a logger is counted in **agent steps** (vector-env transitions summed over
environments), never in frames or updates.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from rlkit import registry

_log = logging.getLogger(__name__)

RunStatus = Literal["finished", "stopped", "failed"]


def as_float(name: str, value: Any) -> float:
    """``value`` as a Python float; accepts ints, bools, numpy scalars and one-element tensors."""
    try:
        return float(value)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"metric '{name}' must be a real scalar, got {type(value).__name__}: {value!r}"
        ) from err


class Logger(abc.ABC):
    """A metrics sink. Subclasses implement :meth:`log`; the other hooks default to no-ops."""

    @abc.abstractmethod
    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        """Record ``metrics`` at ``step`` (agent steps)."""

    def log_config(self, config: Mapping[str, Any]) -> None:
        """Record the resolved run configuration (plain, nested containers)."""

    def log_video(self, step: int, name: str, path: Path) -> None:
        """Record an mp4 written at ``path`` (default: nothing; the file stays in the run dir)."""

    def end_run(self, status: RunStatus, step: int, detail: str = "") -> None:
        """Called once before :meth:`close` with how the run ended: ``finished``, ``stopped`` (a
        signal; ``detail`` names it and the checkpoint) or ``failed`` (``detail``: the error), at
        agent step ``step``. Default: nothing."""

    def close(self) -> None:
        """Flush and release resources; further calls are no-ops."""

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs to continue this logger (saved in checkpoints)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore from :meth:`state_dict` of an earlier run (before or after the first log)."""


class LoggerGroup(Logger):
    """Fans every call out to named loggers.

    A failing logger does not stop the others from receiving the call; the first error is re-raised
    once all have been called (later ones are logged). Usable as a context manager that closes all.
    """

    def __init__(self, loggers: Mapping[str, Logger]) -> None:
        self._loggers: dict[str, Logger] = dict(loggers)
        self._closed = False

    def __getitem__(self, name: str) -> Logger:
        return self._loggers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loggers)

    def __len__(self) -> int:
        return len(self._loggers)

    def __contains__(self, name: object) -> bool:
        return name in self._loggers

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={type(v).__name__}" for k, v in self._loggers.items())
        return f"LoggerGroup({inner})"

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        self._fan_out("log", lambda lg: lg.log(step, metrics))

    def log_config(self, config: Mapping[str, Any]) -> None:
        self._fan_out("log_config", lambda lg: lg.log_config(config))

    def log_video(self, step: int, name: str, path: Path) -> None:
        self._fan_out("log_video", lambda lg: lg.log_video(step, name, path))

    def end_run(self, status: RunStatus, step: int, detail: str = "") -> None:
        self._fan_out("end_run", lambda lg: lg.end_run(status, step, detail))

    def close(self) -> None:
        """Close every logger, even when some raise; then re-raise the first error."""
        if self._closed:
            return
        self._closed = True
        self._fan_out("close", lambda lg: lg.close())

    def state_dict(self) -> dict[str, Any]:
        """``{logger name: that logger's state}``."""
        return {name: lg.state_dict() for name, lg in self._loggers.items()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore each logger from its entry; entries for loggers not in this group are ignored."""
        for name, sub_state in state.items():
            if name in self._loggers:
                self._loggers[name].load_state_dict(sub_state)
            else:
                _log.info("logger state for '%s' ignored: no such logger in this run", name)

    def __enter__(self) -> LoggerGroup:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _fan_out(self, what: str, call: Callable[[Logger], None]) -> None:
        first: BaseException | None = None
        for name, lg in self._loggers.items():
            try:
                call(lg)
            except Exception as err:  # keep serving the other loggers
                if first is None:
                    first = err
                else:
                    _log.error("logger '%s' failed in %s", name, what, exc_info=err)
        if first is not None:
            raise first


def build_loggers(
    cfg: Mapping[str, Any] | Any,
    *,
    run_dir: Path | str,
    total_steps: int,
    run_name: str,
) -> LoggerGroup:
    """Build the enabled loggers of ``cfg`` (entry key -> ``{name, enabled, **kwargs}``).

    ``enabled`` defaults to true; a ``None`` entry is skipped. Each constructor receives only the
    run-time values (``run_dir``, ``total_steps``, ``run_name``) it declares.
    """
    entries = _to_container(cfg)
    run_dir = Path(run_dir)
    loggers: dict[str, Logger] = {}
    try:
        for key, entry in entries.items():
            if entry is None:
                continue
            params = dict(_to_container(entry))
            enabled = params.pop("enabled", True)
            if not isinstance(enabled, bool):
                raise TypeError(f"logger '{key}': 'enabled' must be a bool, got {enabled!r}")
            if not enabled:
                continue
            loggers[str(key)] = registry.build(
                "logger", params, run_dir=run_dir, total_steps=total_steps, run_name=run_name
            )
    except BaseException:
        LoggerGroup(loggers).close()  # do not leak what was already built
        raise
    return LoggerGroup(loggers)


def _to_container(cfg: Any) -> Mapping[str, Any]:
    try:  # OmegaConf DictConfig (itself a Mapping) -> resolved plain dict
        from omegaconf import DictConfig, OmegaConf

        if isinstance(cfg, DictConfig):
            return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    except ImportError:  # pragma: no cover
        pass
    if isinstance(cfg, Mapping):
        return cfg
    raise TypeError(f"logger config must be a mapping, got {type(cfg).__name__}")
