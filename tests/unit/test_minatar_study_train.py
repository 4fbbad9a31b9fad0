"""experiments/minatar/run_study.sh train: which runs it starts, with which command lines (a stand-in rlkit-train)."""
from __future__ import annotations

import subprocess
from pathlib import Path

from tests.helpers import study_copy


def _train(tmp_path: Path, **knobs: str) -> dict[str, str]:
    """Run the study's train step with ``knobs`` as its environment; returns {run dir: the train command it ran}."""
    study, env = study_copy(tmp_path, "minatar", "run_study.sh")
    only = [knobs.pop("ONLY")] if "ONLY" in knobs else []  # the variant: the script's second argument
    env |= {"PARALLEL": "1", **knobs}
    proc = subprocess.run(["bash", "run_study.sh", "train", *only], cwd=study, env=env, capture_output=True,
                          text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"training with the code of 833307b in {env['RLKIT_STUDY_CODE']}" in proc.stdout
    return {str(log.parent.relative_to(study / "runs")): log.read_text().strip()
            for log in sorted((study / "runs").glob("*/*/seed*/stdout.log"))}


def test_games_seeds_and_variant_select_the_runs(tmp_path):
    runs = _train(tmp_path, GAMES="breakout freeway", SEEDS="2", ONLY="rainbow", RAINBOW_STEPS="1000")
    assert sorted(runs) == ["breakout/rainbow/seed2", "freeway/rainbow/seed2"]
    assert runs["freeway/rainbow/seed2"] == (
        f"PYTHONPATH={tmp_path / 'pinned'} experiment=minatar_rainbow env.game=freeway seed=2 train.steps=1000 "
        "torch_threads=1 eval.every_steps=100_000 checkpoint.every=250_000 logger.console.show_progress=false "
        "hydra.run.dir=runs/freeway/rainbow/seed2")


def test_by_default_every_game_seed_and_variant_with_breakouts_dqn_on_the_squared_loss(tmp_path):
    runs = _train(tmp_path, DQN_STEPS="20", RAINBOW_STEPS="10")
    games = ["asterix", "breakout", "freeway", "seaquest", "space_invaders"]
    assert sorted(runs) == sorted(f"{g}/{v}/seed{s}" for g in games for v in ("dqn", "rainbow") for s in range(3))
    # (no rainbow_fixed_noise: a diagnostic, trained only when named)
    assert "experiment=minatar_dqn env.game=breakout seed=1 train.steps=20 loss.kind=mse " in runs["breakout/dqn/seed1"]
    assert "loss.kind" not in runs["breakout/rainbow/seed1"] + runs["asterix/dqn/seed1"]  # their other gin files: Huber
    assert "experiment=minatar_rainbow env.game=seaquest seed=0 train.steps=10 " in runs["seaquest/rainbow/seed0"]


def test_the_fixed_noise_diagnostic_runs_only_by_name_as_its_own_variant(tmp_path):
    runs = _train(tmp_path, GAMES="freeway", SEEDS="0", ONLY="rainbow_fixed_noise", RAINBOW_STEPS="1000")
    assert list(runs) == ["freeway/rainbow_fixed_noise/seed0"]
    assert ("experiment=minatar_rainbow env.game=freeway seed=0 train.steps=1000 agent.noise.resample_on_act=false "
            "agent.noise.resample_on_update=false variant=rainbow_fixed_noise torch_threads=1"
            in runs["freeway/rainbow_fixed_noise/seed0"])
