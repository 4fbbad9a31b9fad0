"""``rlkit-train``: the Hydra app over the packaged ``conf/`` tree.

Before anything is built or written, the composed config is checked (:mod:`rlkit.validation`): every
problem is printed to stderr with its key path and a fix, and the process exits with status 2
(no traceback, no run files besides Hydra's own ``.hydra/`` and log).

Resuming: a run directory that holds checkpoints continues from the newest one (``resume=auto``,
what a requeued job that reuses its directory gets); ``resume=<run dir or checkpoint>`` continues
that run in its own directory with its own ``config.yaml`` plus the ``key=value`` overrides given.

Exit status: 0 done; 2 bad config or unusable checkpoint; 3 the loss became NaN/inf (the last
checkpoint is intact); 128 + signal number when SIGTERM (143), SIGINT (130), SIGUSR1 (138) or SIGUSR2
(140) stopped the run after it wrote a checkpoint (run the same command again to continue).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from rlkit.units import register_resolvers

register_resolvers()
log = logging.getLogger("rlkit")

CONFIG_ERROR_EXIT_STATUS = 2
NON_FINITE_LOSS_EXIT_STATUS = 3


@hydra.main(version_base="1.3", config_path="pkg://rlkit.conf", config_name="config")
def main(cfg: DictConfig) -> float:
    """Train one run into Hydra's output dir; returns the final eval return (for sweepers)."""
    import rlkit.components  # noqa: F401  (registers the built-in parts)
    from rlkit.agents.dqn import NonFiniteLossError
    from rlkit.training.checkpoint import CheckpointError
    from rlkit.training.loop import Preempted, train
    from rlkit.training.resume import config_for_resume, explicit_resume
    from rlkit.validation import ConfigError, check_config

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        target = explicit_resume(cfg)
        if target is not None:
            cfg, run_dir = config_for_resume(target, list(HydraConfig.get().overrides.task))
            log.info("resuming %s", run_dir)
        check_config(cfg, run_dir)
        summary = train(cfg, run_dir)
    except (ConfigError, CheckpointError) as err:
        print(f"rlkit-train: {err}", file=sys.stderr, flush=True)
        sys.exit(CONFIG_ERROR_EXIT_STATUS)
    except NonFiniteLossError as err:
        print(f"rlkit-train: {err}", file=sys.stderr, flush=True)
        sys.exit(NON_FINITE_LOSS_EXIT_STATUS)
    except Preempted as stop:
        log.warning("%s", stop)
        print(f"rlkit-train: {stop}; run the same command again to continue", file=sys.stderr, flush=True)
        sys.exit(stop.exit_code)
    log.info("run dir: %s", run_dir)
    return float(summary["eval/episodic_return"])


if __name__ == "__main__":  # pragma: no cover
    main()
