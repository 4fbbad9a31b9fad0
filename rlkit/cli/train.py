"""``rlkit-train``: the Hydra app over the packaged ``conf/`` tree."""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from rlkit.units import register_resolvers

register_resolvers()
log = logging.getLogger("rlkit")


@hydra.main(version_base="1.3", config_path="pkg://rlkit.conf", config_name="config")
def main(cfg: DictConfig) -> float:
    """Train one run into Hydra's output dir; returns the final eval return (for sweepers)."""
    import rlkit.components  # noqa: F401  (registers the built-in parts)
    from rlkit.training.loop import train

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    summary = train(cfg, run_dir)
    log.info("run dir: %s", run_dir)
    return float(summary["eval/episodic_return"])


if __name__ == "__main__":  # pragma: no cover
    main()
