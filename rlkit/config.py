"""Compose rlkit's configuration outside the ``rlkit-train`` app (tests, notebooks, scripts)."""

from __future__ import annotations

from collections.abc import Sequence

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from rlkit.units import register_resolvers

CONFIG_MODULE = "rlkit.conf"


def compose_config(overrides: Sequence[str] = (), *, config_name: str = "config") -> DictConfig:
    """The config ``rlkit-train <overrides>`` would run, fully resolved, without the ``hydra`` node."""
    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=list(overrides), return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)  # serves ${hydra:...} interpolations
        with open_dict(cfg):
            del cfg["hydra"]
        OmegaConf.resolve(cfg)
    return cfg
