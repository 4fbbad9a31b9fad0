"""``rlkit-train``: the Hydra app over the packaged ``conf/`` tree.

Before Hydra creates a run directory, the command line is checked (:mod:`rlkit.cli.preflight`):
unknown group options and keys (with the closest valid one), every config problem with its fix
(:mod:`rlkit.validation`), unusable ``resume=`` targets and finished runs. A rejected command exits
with status 2 and writes nothing; a finished run is left as it is (status 0).

Resuming: a run directory that holds checkpoints continues from the newest one (``resume=auto``,
what a requeued job that reuses its directory gets); ``resume=<run dir or checkpoint>`` continues
that run in its own directory with its own ``config.yaml`` plus the ``key=value`` overrides given.

Exit status: 0 done (or nothing to do); 2 bad command line, config or checkpoint; 3 the loss became
NaN/inf (the last checkpoint is intact); 128 + signal number when SIGTERM (143), SIGINT (130),
SIGUSR1 (138) or SIGUSR2 (140) stopped the run after it wrote a checkpoint.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from rlkit.units import register_resolvers

register_resolvers()
log = logging.getLogger("rlkit")

CONFIG_ERROR_EXIT_STATUS = 2
NON_FINITE_LOSS_EXIT_STATUS = 3


def resume_command(run_dir: Path) -> str:
    """The command that continues the run in ``run_dir`` (relative to the working directory when inside it)."""
    path = Path(os.path.abspath(run_dir))
    try:
        shown = str(path.relative_to(Path.cwd()))
    except ValueError:
        shown = str(path)
    return f"rlkit-train resume={shlex.quote(shown)}"


@hydra.main(version_base="1.3", config_path="pkg://rlkit.conf", config_name="config")
def hydra_app(cfg: DictConfig) -> float:
    """Train one run into Hydra's output dir; returns the final eval return (for sweepers)."""
    import rlkit.components  # noqa: F401  (registers the built-in parts)
    from rlkit.agents.dqn import NonFiniteLossError
    from rlkit.cli.preflight import remove_hydra_files
    from rlkit.training.checkpoint import CheckpointError
    from rlkit.training.loop import Preempted, train
    from rlkit.training.resume import config_for_resume, explicit_resume
    from rlkit.validation import ConfigError, check_config

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    hydra_dir = run_dir
    try:
        target = explicit_resume(cfg)
        if target is not None:
            cfg, run_dir = config_for_resume(target, list(HydraConfig.get().overrides.task))
            log.info("resuming %s", run_dir)
        check_config(cfg, run_dir)
        summary = train(cfg, run_dir)
    except (ConfigError, CheckpointError) as err:
        remove_hydra_files(hydra_dir)  # a rejected run leaves nothing behind (multirun jobs; see preflight)
        print(f"rlkit-train: {err}", file=sys.stderr, flush=True)
        sys.exit(CONFIG_ERROR_EXIT_STATUS)
    except NonFiniteLossError as err:
        print(f"rlkit-train: {err}", file=sys.stderr, flush=True)
        sys.exit(NON_FINITE_LOSS_EXIT_STATUS)
    except Preempted as stop:
        print(f"rlkit-train: {stop}. Continue with: {resume_command(run_dir)}", file=sys.stderr, flush=True)
        sys.exit(stop.exit_code)
    log.info("run dir: %s", run_dir)
    return float(summary["eval/episodic_return"])


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: check the command line first, then hand it to the Hydra app."""
    from rlkit.cli.preflight import Rejected, preflight

    args = list(sys.argv[1:] if argv is None else argv)

    try:
        args = preflight(args)
    except Rejected as rejected:
        print(rejected.message, file=sys.stderr, flush=True)
        sys.exit(rejected.exit_code)
    sys.argv = [sys.argv[0], *args]
    hydra_app()


if __name__ == "__main__":  # pragma: no cover
    main()
