"""Check an ``rlkit-train`` command line before Hydra creates anything on disk.

Hydra makes the run directory, ``.hydra/`` and the log file before the task function runs, and it
reports an unknown group option or key with its own text and exit status 1. :func:`preflight`
composes the same config first and rejects a bad command with exit status 2 and a message that
names the fix; nothing is written. A multirun is checked on a set of jobs that uses every swept
value once; a job rejected later (a problem only a combination shows) removes Hydra's files again
(:func:`remove_hydra_files`).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig, open_dict

from rlkit.config import CONFIG_MODULE

PROGRAM = "rlkit-train"
# flags after which Hydra does not train (help, ...) or reads configs from elsewhere: argv goes as it is
_PASS_THROUGH_FLAGS = ("help", "hydra_help", "version", "shell_completion", "config_path", "config_name",
                       "config_dir", "experimental_rerun")
# flags that print a config without training: keys the YAML leaves out get their "++", nothing is validated
_PRINT_FLAGS = ("cfg", "info")
HYDRA_FILES = (".hydra/config.yaml", ".hydra/hydra.yaml", ".hydra/overrides.yaml")


class Rejected(Exception):
    """Stop before Hydra runs: print ``message`` (if any) and exit with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def preflight(argv: Sequence[str]) -> list[str]:
    """Check ``argv``; return the argument list to hand to Hydra, or raise :class:`Rejected`.

    The list is ``argv`` with two changes: a ``key=value`` whose key the YAML files leave out (an
    optional constructor argument such as ``logger.console.log_interval_s``) becomes ``++key=value``,
    since Hydra would refuse it without a ``+``; and ``resume=<dir>`` runs in ``<dir>``."""
    from hydra._internal.utils import get_args_parser

    argv = list(argv)
    args = get_args_parser().parse_args(argv)  # argparse exits 2 on bad flags, as Hydra would
    if any(getattr(args, flag, None) for flag in _PASS_THROUGH_FLAGS):
        return argv
    multirun = bool(args.multirun)
    printing = any(getattr(args, flag, None) for flag in _PRINT_FLAGS)
    with _hydra():
        jobs = _sweep_jobs(list(args.overrides)) if multirun else [list(args.overrides)]
        missing = _keys_missing_from_yaml(jobs)
        extra: list[str] = []
        for job in [] if printing else jobs:
            extra = _check_job([_plus(o, missing) for o in job], multirun=multirun)
        if multirun and not printing:
            extra = _sweep_subdir(list(args.overrides))
    out, pending = [], list(args.overrides)
    for arg in argv:  # rewrite the overrides in place; flags stay where they were
        if pending and arg == pending[0]:
            out.append(_plus(pending.pop(0), missing))
        else:
            out.append(arg)
    return out + extra


# swept keys that the run directory <experiment_name>/<env.id>/<variant>/seed<N> already tells apart
_IN_RUN_DIR = frozenset({"seed", "experiment_name", "variant", "experiment", "agent", "study", "env", "env.game",
                         "env.id"})


def _sweep_subdir(overrides: list[str]) -> list[str]:
    """``hydra.sweep.subdir`` naming every other swept key, so that no two jobs share a run directory.

    The default ``<experiment>/<env>/<variant>/seed<N>`` keeps apart the jobs of a sweep over seeds,
    presets, experiments and games. Sweeping anything else (``network/head=dueling,dueling_c51``)
    would send two jobs to one directory, where the second would find the first's finished run and
    do nothing; such keys are added to the variant's directory name: ``rainbow,network.head=dueling``."""
    parsed = _parse(overrides)
    if any(o.key_or_group == "hydra.sweep.subdir" for o in parsed):
        return []
    repo = GlobalHydra.instance().config_loader().repository
    parts = []
    for o in parsed:
        key = o.key_or_group
        if not o.is_sweep_override() or key in _IN_RUN_DIR or o.is_hydra_override():
            continue
        if repo.group_exists(key):  # a group choice: the option's name
            parts.append(f"{key.replace('/', '.')}=${{hydra:runtime.choices.{key}}}")
        else:
            parts.append(f"{key}=${{{key}}}")
    if not parts:
        return []
    subdir = "${experiment_name}/${env.id}/${variant}," + ",".join(parts) + "/seed${seed}"
    return [f"hydra.sweep.subdir='{subdir}'"]  # quoted: the commas are not a sweep


def _keys_missing_from_yaml(jobs: list[list[str]]) -> set[str]:
    """Keys of plain ``key=value`` overrides that some job's composed config does not hold."""
    repo = GlobalHydra.instance().config_loader().repository
    missing: set[str] = set()
    for job in jobs:
        parsed = _parse(job)
        values = [o for o in parsed if _is_plain_value(o, repo)]
        if not values:
            continue
        structural = [o.input_line for o in parsed if o not in values]
        try:
            base = compose(config_name="config", overrides=structural, return_hydra_config=True)
        except HydraException:
            continue  # reported with the whole job by _check_job
        missing |= {o.key_or_group for o in values if not _has_key(base, o.key_or_group)}
    return missing


def _has_key(cfg: DictConfig, key: str) -> bool:
    node: object = cfg
    for part in key.split("."):
        if not isinstance(node, DictConfig) or part not in node:
            return False
        node = node._get_node(part)
    return True


def _is_plain_value(override: Override, repo: object) -> bool:
    """``key=value`` (no +/~ prefix) that sets a value: not a group choice, not a Hydra setting."""
    if override.is_hydra_override() or override.package is not None or "/" in override.key_or_group:
        return False
    if override.is_add() or override.is_force_add() or override.is_delete():
        return False
    return not repo.group_exists(override.key_or_group)  # type: ignore[attr-defined]


def _plus(line: str, missing: set[str]) -> str:
    key = line.split("=", 1)[0]
    return f"++{line}" if key in missing else line


def _parse(overrides: list[str]) -> list[Override]:
    try:
        return OverridesParser.create().parse_overrides(overrides)
    except HydraException as err:
        raise Rejected(f"{PROGRAM}: invalid command line: {err}") from err


@contextmanager
def _hydra() -> Iterator[None]:
    from rlkit.units import register_resolvers

    register_resolvers()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            yield
    finally:
        GlobalHydra.instance().clear()
        HydraConfig.instance().cfg = None  # type: ignore[assignment]


def _sweep_jobs(overrides: list[str]) -> list[list[str]]:
    """Jobs that together use every value of every discrete sweep at least once (not every combination)."""
    loader = GlobalHydra.instance().config_loader()
    try:
        parsed = OverridesParser.create(config_loader=loader).parse_overrides(overrides)
    except MissingConfigException as err:  # glob() over a group that does not exist
        raise Rejected(_missing_option_message(err)) from err
    except HydraException as err:
        raise Rejected(f"{PROGRAM}: invalid command line: {err}") from err
    per_key = []
    for o in parsed:
        if not o.is_sweep_override():
            per_key.append([o.input_line])
        elif o.is_discrete_sweep():
            per_key.append([f"{o.get_key_element()}={value}" for value in o.sweep_string_iterator()])
        # interval sweeps (Optuna) are left to the sweeper
    widest = max((len(values) for values in per_key), default=1)
    return [[values[min(i, len(values) - 1)] for values in per_key] for i in range(widest)]


def _check_job(overrides: list[str], *, multirun: bool) -> list[str]:
    """Compose one job's config and validate it; returns overrides Hydra needs for ``resume=<dir>``."""
    from rlkit.training.checkpoint import CheckpointError
    from rlkit.training.resume import config_for_resume, explicit_resume, finished_run, finished_run_message
    from rlkit.validation import ConfigError, check_config

    cfg, run_dir = _compose(overrides, multirun=multirun)
    extra: list[str] = []
    try:
        target = explicit_resume(cfg)
        if target is not None:
            if multirun:
                raise Rejected(f"{PROGRAM}: resume=<path> continues one run; it cannot be part of a sweep (-m)")
            task_overrides = [o.input_line for o in _parse(overrides) if not o.is_hydra_override()]
            cfg, run_dir = config_for_resume(target, task_overrides)
            if not any(o.lstrip("+").startswith("hydra.run.dir=") for o in overrides):
                # log into the resumed run's directory and keep its .hydra/ files as they are
                extra = [f"hydra.run.dir={_hydra_value(run_dir)}", "hydra.output_subdir=null"]
        check_config(cfg, run_dir)
    except (ConfigError, CheckpointError) as err:
        raise Rejected(f"{PROGRAM}: {err}") from err
    summary = finished_run(run_dir, cfg) if not multirun else None
    if summary is not None:
        raise Rejected(finished_run_message(run_dir, summary), exit_code=0)
    return extra


def _compose(overrides: list[str], *, multirun: bool = False) -> tuple[DictConfig, Path]:
    """(task config, run dir) that Hydra would use."""
    _parse(overrides)
    try:
        cfg = compose(config_name="config", overrides=overrides, return_hydra_config=True)
    except MissingConfigException as err:
        raise Rejected(_missing_option_message(err)) from err
    except HydraException as err:
        raise Rejected(f"{PROGRAM}: invalid command line: {err}") from err
    HydraConfig.instance().set_config(cfg)  # serves ${hydra:...} interpolations
    run_dir = Path(str(cfg.hydra.sweep.dir if multirun else cfg.hydra.run.dir))
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg, run_dir


def _missing_option_message(err: MissingConfigException) -> str:
    missing = str(err.missing_cfg_file or "")
    group, _, option = missing.rpartition("/")
    options = list(err.options or [])
    if not group or not options:
        return f"{PROGRAM}: {err}"
    near = difflib.get_close_matches(option, options, n=1, cutoff=0.5)
    hint = f"did you mean {group}={near[0]}? " if near else ""
    return (f"{PROGRAM}: invalid config (nothing was built or written)\n- {group}: no option {option!r}; "
            f"valid options: {', '.join(options)}. Fix: {hint}See `rlkit-train --help` for the groups and presets")


def _hydra_value(path: Path) -> str:
    """A path as a Hydra override value (quoted: paths may contain '=' or ',')."""
    text = str(Path(os.path.abspath(path)))
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def remove_hydra_files(run_dir: Path) -> None:
    """Delete what Hydra wrote into ``run_dir`` for a job that was then rejected (``.hydra/`` and the
    job log) and the directories left empty, up to the working directory. A directory that holds
    any other file (an earlier run's) is left as it is."""
    import logging

    run_dir = Path(os.path.abspath(run_dir))
    log_file = run_dir / f"{HydraConfig.get().job.name}.log" if HydraConfig.initialized() else None
    own = {run_dir / name for name in HYDRA_FILES} | ({log_file} if log_file is not None else set())
    present = {p for p in run_dir.rglob("*") if p.is_file()} if run_dir.is_dir() else set()
    if not present <= own:
        return
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename) == log_file:
            handler.close()
            root.removeHandler(handler)
    for path in present:
        path.unlink(missing_ok=True)
    for directory in (run_dir / ".hydra", run_dir):
        _rmdir_if_empty(directory)
    cwd, parent = Path.cwd(), run_dir.parent
    while cwd in parent.parents and _rmdir_if_empty(parent):  # outputs/<date>/ made for this run
        parent = parent.parent


def _rmdir_if_empty(path: Path) -> bool:
    try:
        path.rmdir()
    except OSError:
        return False
    return True
