"""Test-wide isolation: every write goes to temp dirs; wandb never touches the network."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_SANDBOX = Path(tempfile.mkdtemp(prefix="rlkit-tests-"))
for _var, _sub in (("HOME", "home"), ("WANDB_DIR", "wandb"), ("MPLCONFIGDIR", "mpl"), ("WANDB_CACHE_DIR", "wandb-cache"),
                   ("WANDB_CONFIG_DIR", "wandb-config"), ("XDG_CACHE_HOME", "cache"), ("TORCHINDUCTOR_CACHE_DIR", "inductor")):
    (_SANDBOX / _sub).mkdir(parents=True, exist_ok=True)
    os.environ[_var] = str(_SANDBOX / _sub)
os.environ["WANDB_MODE"] = "disabled"
os.environ["WANDB_SILENT"] = "true"
os.environ["MPLBACKEND"] = "Agg"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
