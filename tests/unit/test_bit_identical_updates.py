"""Each preset's acting and updates are unchanged by refactors of the parts (issue 12).

``tests/data/golden_updates.json`` holds, for every agent preset that existed before the typed head
outputs, target policies and loss protocol, the actions, losses, PER priorities, gradient norms and
final weights of a dozen acting steps and updates on fixed CartPole batches, written by the code
*before* that change (``python tests/unit/test_bit_identical_updates.py --write`` at commit 849f0ff).
Here they are recomputed and compared. On the machine that wrote them the values matched bit for
bit (same weights' SHA-256); the test allows float round-off so that another CPU's kernels pass.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden_updates.json"
PRESETS = ("dqn", "double_dqn", "dueling", "prioritized", "c51", "noisy", "rainbow", "der", "drq_eps")


def _batch(rng: np.random.Generator, obs_dim: int, num_actions: int, gamma_n: float) -> Any:
    from rlkit.types import Batch

    size = 32
    done = rng.random(size) < 0.1
    return Batch(
        obs=torch.from_numpy(rng.normal(size=(size, obs_dim)).astype(np.float32)),
        actions=torch.from_numpy(rng.integers(num_actions, size=size)),
        rewards=torch.from_numpy(rng.normal(size=size).astype(np.float32)),
        next_obs=torch.from_numpy(rng.normal(size=(size, obs_dim)).astype(np.float32)),
        discounts=torch.from_numpy(np.where(done, 0.0, gamma_n).astype(np.float32)),
        weights=torch.from_numpy(rng.uniform(0.2, 1.0, size=size).astype(np.float32)),
        indices=np.arange(size),
    )


def fingerprint(preset: str) -> dict[str, Any]:
    """Actions, update outputs and a hash of the final weights for ``agent=<preset>`` on CartPole."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, when run as a script
    import rlkit.components  # noqa: F401
    from rlkit.training.builder import build_parts
    from tests.helpers import compose

    torch.manual_seed(0)
    cfg = compose(f"agent={preset}", "torch_threads=1", "seed=3")
    parts = build_parts(cfg, torch.device("cpu"))
    agent, spec = parts.agent, parts.env_maker.spec
    gamma_n = float(cfg.agent.gamma) ** int(cfg.agent.n_step)
    rng = np.random.default_rng(0)
    record: dict[str, Any] = {"actions": [], "losses": [], "q": [], "grad_norm": [], "priorities": []}
    for i in range(12):
        obs = rng.normal(size=(4, *spec.obs_shape)).astype(np.float32)
        record["actions"].append(agent.act(obs, step=i * 500).tolist())
        out = agent.update(_batch(rng, spec.obs_shape[0], spec.num_actions, gamma_n))
        record["losses"].append(float(out.metrics["losses/td_loss"]))
        record["q"].append(float(out.metrics["losses/q_values"]))
        record["grad_norm"].append(float(out.metrics.get("losses/grad_norm", 0.0)))
        record["priorities"].append([float(p) for p in out.priorities.tolist()])
        agent.maybe_sync_target(i * 500)
    params = [p.detach().numpy().tobytes() for p in (*agent.online.parameters(), *agent.target.parameters())]
    record["weights_sha256"] = hashlib.sha256(b"".join(params)).hexdigest()
    record["weights_abs_sum"] = float(sum(p.detach().double().abs().sum() for p in agent.online.parameters()))
    return record


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_acts_and_learns_as_before(preset: str) -> None:
    golden = json.loads(GOLDEN.read_text())[preset]
    now = fingerprint(preset)
    assert now["actions"] == golden["actions"]
    for key in ("losses", "q", "grad_norm", "weights_abs_sum"):
        assert now[key] == pytest.approx(golden[key], rel=1e-5, abs=1e-7), key
    for got, want in zip(now["priorities"], golden["priorities"], strict=True):
        assert got == pytest.approx(want, rel=1e-5, abs=1e-6)


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        GOLDEN.write_text(json.dumps({p: fingerprint(p) for p in PRESETS}, indent=1) + "\n")
    elif sys.argv[1:] == ["--hashes"]:
        print(json.dumps({p: fingerprint(p)["weights_sha256"] for p in PRESETS}, indent=1))
