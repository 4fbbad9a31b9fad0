"""Weights & Biases logging (``wandb`` imported lazily; offline by default).

``mode="offline"`` writes under ``run_dir/wandb`` with no network (upload later with
``wandb sync``); ``"disabled"`` makes this logger a no-op that does not even import wandb;
``"online"`` needs an API key and fails at build time, before any network access, when there is
none. Every metric uses ``global_step`` (agent steps) as its x axis, so a resumed run that re-does
steps never trips wandb's monotonic ``step`` check.

wandb is quiet by default (``wandb.Settings(silent=True)``: none of its banner, history and sync
lines; ``quiet=False`` brings them back) and keeps its files in ``run_dir/wandb``: its cache (wandb-core
debug logs, artifact cache) and data (artifact staging) directories go to ``run_dir/wandb/cache`` and
``run_dir/wandb/data`` unless ``WANDB_CACHE_DIR`` / ``WANDB_DATA_DIR`` are set.
"""

from __future__ import annotations

import logging
import netrc
import os
import secrets
import string
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args
from urllib.parse import urlsplit

from rlkit.logging.base import Logger, RunStatus, as_float
from rlkit.registry import register

if TYPE_CHECKING:
    from types import ModuleType

_log = logging.getLogger(__name__)

WandbMode = Literal["offline", "online", "disabled"]
STEP_METRIC = "global_step"
INSTALL_HINT = "pip install wandb  (a dependency of rlkit: reinstall with pip install rlkit)"
DEFAULT_BASE_URL = "https://api.wandb.ai"
# wandb's per-user write locations (default ~/.cache/wandb, ~/.local/share/wandb) -> folder in run_dir/wandb.
# WANDB_CONFIG_DIR is left alone: wandb only reads it during a run (the user's settings, e.g. a server's
# base_url written by `wandb login --host`), and a run must keep honouring it.
REDIRECTED_DIRS = {"WANDB_CACHE_DIR": "cache", "WANDB_DATA_DIR": "data"}


def _import_wandb() -> ModuleType:
    try:
        import wandb
    except ImportError as err:
        raise ImportError(
            f"the 'wandb' logger needs the wandb package: {INSTALL_HINT}; "
            "or disable it with logger.wandb.enabled=false"
        ) from err
    return wandb


def has_wandb_credentials() -> bool:
    """True if wandb can authenticate without prompting: an env key/token or a netrc entry.

    Looks at ``WANDB_API_KEY``, ``WANDB_IDENTITY_TOKEN_FILE`` and the netrc file (``$NETRC``,
    ``~/.netrc`` or ``~/_netrc``) entry for the host of ``WANDB_BASE_URL``. Makes no network call.
    """
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    host = urlsplit(os.environ.get("WANDB_BASE_URL") or DEFAULT_BASE_URL).netloc
    candidates = (
        [Path(os.environ["NETRC"]).expanduser()]
        if os.environ.get("NETRC")
        else [Path("~/.netrc").expanduser(), Path("~/_netrc").expanduser()]
    )
    for path in candidates:
        if not path.is_file():
            continue
        try:
            entry = netrc.netrc(str(path)).authenticators(host)
        except (netrc.NetrcParseError, OSError) as err:
            _log.warning("could not read %s: %s", path, err)
            continue
        if entry and entry[2]:
            return True
    return False


def redirect_wandb_dirs(wandb_dir: Path) -> dict[str, str]:
    """Point each unset variable of :data:`REDIRECTED_DIRS` into ``wandb_dir``; returns those it set."""
    chosen = {var: str(Path(wandb_dir) / sub) for var, sub in REDIRECTED_DIRS.items() if not os.environ.get(var)}
    os.environ.update(chosen)
    return chosen


def restore_env(chosen: Mapping[str, str]) -> None:
    """Undo :func:`redirect_wandb_dirs` for the variables that still hold the value it set."""
    for var, value in chosen.items():
        if os.environ.get(var) == value:
            del os.environ[var]


def new_run_id() -> str:
    """A fresh 8-character wandb run id (lower-case letters and digits)."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))


@register("logger", "wandb")
class WandbLogger(Logger):
    """A wandb run under ``run_dir``; ``state_dict()["run_id"]`` lets a resumed run continue it.

    The run starts at the first :meth:`log` / :meth:`log_config` call, so a
    :meth:`load_state_dict` made before that (resuming from a checkpoint) continues the saved run
    instead of creating an empty one. ``quiet`` (default) silences wandb's console output.
    """

    def __init__(
        self,
        *,
        run_dir: Path,
        run_name: str,
        mode: WandbMode = "offline",
        project: str = "rlkit",
        entity: str | None = None,
        group: str | None = None,
        job_type: str | None = None,
        tags: list[str] | None = None,
        run_id: str | None = None,
        quiet: bool = True,
    ) -> None:
        if mode not in get_args(WandbMode):
            raise ValueError(f"wandb mode must be one of {get_args(WandbMode)}, got {mode!r}")
        self.run_dir = Path(run_dir)
        self.mode: WandbMode = mode
        self.run_id = run_id or new_run_id()
        self.quiet = bool(quiet)
        self._env_set: dict[str, str] = {}
        self._exit_code = 0
        self._init_kwargs: dict[str, Any] = {
            "project": project,
            "entity": entity,
            "group": group,
            "job_type": job_type,
            "tags": list(tags) if tags else None,
            "name": run_name,
        }
        self._wandb: ModuleType | None = None
        self._run: Any = None
        self._closed = False
        if mode == "disabled":
            return
        self._wandb = _import_wandb()
        if mode == "online" and not has_wandb_credentials():
            raise RuntimeError(
                "wandb mode is 'online' but no API key is configured (no WANDB_API_KEY and no "
                "netrc entry). Use logger.wandb.mode=offline (upload later with `wandb sync`), "
                "or set WANDB_API_KEY / run `wandb login` first."
            )

    @property
    def run(self) -> Any:
        """The wandb run (started on first use); None when disabled."""
        if self._run is None and self._wandb is not None:
            if self._closed:
                raise RuntimeError("WandbLogger is closed")
            self._run = self._start_run()
        return self._run

    def _start_run(self) -> Any:
        assert self._wandb is not None
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # Set before wandb.init, which starts the wandb-core service that reads them.
        self._env_set.update(redirect_wandb_dirs(self.run_dir / "wandb"))
        run = self._wandb.init(
            dir=str(self.run_dir),
            mode=self.mode,
            id=self.run_id,
            resume="allow",
            reinit="create_new",  # never hand back or finish another active run
            settings=self._wandb.Settings(silent=True) if self.quiet else None,
            **self._init_kwargs,
        )
        run.define_metric(STEP_METRIC)
        run.define_metric("*", step_metric=STEP_METRIC)
        return run

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        run = self.run
        if run is None:
            return
        payload = {key: as_float(key, value) for key, value in metrics.items()}
        payload[STEP_METRIC] = int(step)
        run.log(payload)

    def log_video(self, step: int, name: str, path: Path) -> None:
        run = self.run
        if run is not None:
            wandb = _import_wandb()
            run.log({name: wandb.Video(str(path), format="mp4"), STEP_METRIC: int(step)})

    def log_config(self, config: Mapping[str, Any]) -> None:
        run = self.run
        if run is not None:
            run.config.update(dict(config), allow_val_change=True)

    def end_run(self, status: RunStatus, step: int, detail: str = "") -> None:
        """A failed run is marked failed in wandb (exit code 1); a stopped one stays resumable."""
        self._exit_code = 1 if status == "failed" else 0

    def close(self) -> None:
        self._closed = True
        if self._run is not None:
            self._run.finish(exit_code=self._exit_code)
            self._run = None
        restore_env(self._env_set)
        self._env_set.clear()

    def state_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        run_id = state.get("run_id")
        if not run_id or run_id == self.run_id:
            return
        if self._run is not None:
            _log.warning("wandb run %s already started; switching to saved run %s", self.run_id, run_id)
            self._run.finish()
            self._run = None
        self.run_id = str(run_id)
