"""Agents actually learn: CartPole-v1 reaches a mean eval return >= 475 (of 500) within budget.

Budget: the preset's CartPole tuning, 50,000 agent steps, a 10-episode greedy evaluation (10 envs side
by side) every 1,000 steps; the run stops at the first evaluation >= 475. Measured steps-to-solve on a
2-core CPU are in the README's results table.
"""

from __future__ import annotations

import pytest

from tests.helpers import train_in_process

SOLVED = 475.0
BUDGET_STEPS = 50_000


def _solve(tmp_path, agent: str, seed: int, *extra: str) -> dict:
    summary = train_in_process(tmp_path, f"agent={agent}", f"seed={seed}", f"train.steps={BUDGET_STEPS}",
                               f"train.stop_at_eval_return={SOLVED}", "eval.every_steps=1000", "device=cpu", *extra)
    assert summary["solved_at_step"] is not None, (
        f"{agent} seed {seed}: best eval {summary['best_eval_return']:.1f} < {SOLVED} within {BUDGET_STEPS} steps"
    )
    assert summary["solved_at_step"] <= BUDGET_STEPS and summary["best_eval_return"] >= SOLVED
    return summary


@pytest.mark.timeout(900)
@pytest.mark.parametrize(("agent", "seed"), [("dqn", 1), ("rainbow", 1)])
def test_agent_solves_cartpole(tmp_path, agent, seed):
    """One seed per agent in the default suite; Rainbow's seed 1 solves soonest of the three measured (18,000 steps
    vs 29,000 and 27,000: the suite's longest test, 38% fewer steps). The slow tests run every seed."""
    _solve(tmp_path, agent, seed)


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("agent", ["dqn", "rainbow"])
def test_agent_solves_cartpole_three_seeds(tmp_path, agent, seed):
    _solve(tmp_path, agent, seed)


NOISY_UNSOLVED = pytest.mark.xfail(
    strict=True,
    reason="NoisyNet-DQN with the CartPole tuning does not solve seeds 0-2 within 50K steps (best 10-episode "
           "means 315, 230, 441; README results). A pass means the tuning or the agent changed: update the README.")


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("agent", ["double_dqn", "dueling", "prioritized", "c51",
                                   pytest.param("noisy", marks=NOISY_UNSOLVED), "der"])
def test_every_preset_solves_cartpole(tmp_path, agent):
    _solve(tmp_path, agent, 0)


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("agent", ["qr_dqn", "iqn", "m_dqn", "m_iqn"])
def test_quantile_and_munchausen_presets_solve_cartpole(tmp_path, agent, seed):
    """Measured (README): qr_dqn 28K/10K/16K, iqn 21K/7K/25K, m_dqn 2K/24K/36K, m_iqn 20K/20K/22K."""
    _solve(tmp_path, agent, seed)



@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize(("agent", "seed"), [("dqn", 1), ("rainbow", 0)])
def test_agent_solves_cartpole_with_the_learner_in_a_thread(tmp_path, agent, seed):
    """train.learner_thread=true at its default lag of one update cycle (with the CartPole tunings: 128
    updates for DQN, one for Rainbow): DQN seed 1 and Rainbow seed 0 still solve."""
    _solve(tmp_path, agent, seed, "train.learner_thread=true")
