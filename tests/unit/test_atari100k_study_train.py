"""experiments/atari100k/run_study.sh train: which runs it starts, with which command lines (a stand-in rlkit-train)."""
from __future__ import annotations

import subprocess
from pathlib import Path

from tests.helpers import study_copy


def _train(tmp_path: Path, *variant: str, **knobs: str) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """Run the study's train step (``variant``: its optional second argument) with ``knobs`` as its environment;
    returns the process and {run dir: the train command it ran}."""
    study, env = study_copy(tmp_path, "atari100k", "run_study.sh")
    proc = subprocess.run(["bash", "run_study.sh", "train", *variant], cwd=study, env=env | {"PARALLEL": "1", **knobs},
                          capture_output=True, text=True, check=False, timeout=120)
    runs = {str(log.parent.relative_to(study / "runs")): log.read_text().strip()
            for log in sorted((study / "runs").glob("*/*/seed*/stdout.log"))} if (study / "runs").exists() else {}
    return proc, runs


def _command(tmp_path: Path, game: str, variant: str, seed: int, extra: str = "") -> str:
    experiment = "atari100k_der" if variant == "der_ce_priority" else f"atari100k_{variant}"
    return (f"PYTHONPATH={tmp_path / 'pinned'} experiment={experiment} env.game={game} seed={seed} {extra}"
            f"torch_threads=1 checkpoint.every=20_000 logger.console.show_progress=false "
            f"hydra.run.dir=runs/{game}/{variant}/seed{seed}")


def test_by_default_two_der_seeds_and_one_drq_eps_seed_of_the_three_games_with_the_pinned_code(tmp_path):
    proc, runs = _train(tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"training with the code of 849f0ff in {tmp_path / 'pinned'}" in proc.stdout
    games = ["road_runner", "kung_fu_master", "freeway"]
    assert sorted(runs) == sorted([f"{g}/der/seed{s}" for g in games for s in (0, 1)] + [f"{g}/drq_eps/seed0" for g in games])
    assert runs["kung_fu_master/der/seed1"] == _command(tmp_path, "kung_fu_master", "der", 1)
    assert runs["freeway/drq_eps/seed0"] == _command(tmp_path, "freeway", "drq_eps", 0)


def test_games_and_seeds_select_the_runs(tmp_path):
    proc, runs = _train(tmp_path, "der", GAMES="road_runner freeway", SEEDS="2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(runs) == ["freeway/der/seed2", "road_runner/der/seed2"]
    assert runs["road_runner/der/seed2"] == _command(tmp_path, "road_runner", "der", 2)


def test_the_cross_entropy_priority_diagnostic_runs_only_by_name_as_its_own_variant(tmp_path):
    proc, runs = _train(tmp_path, "der_ce_priority", GAMES="kung_fu_master", SEEDS="1 2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(runs) == ["kung_fu_master/der_ce_priority/seed1", "kung_fu_master/der_ce_priority/seed2"]
    assert runs["kung_fu_master/der_ce_priority/seed2"] == _command(
        tmp_path, "kung_fu_master", "der_ce_priority", 2, "c51.priority=cross_entropy variant=der_ce_priority ")


def test_an_unknown_variant_is_an_error_that_names_the_valid_ones(tmp_path):
    proc, runs = _train(tmp_path, "rainbow")
    assert proc.returncode == 2 and runs == {}
    assert "no runs for variant 'rainbow' (der, drq_eps or der_ce_priority)" in proc.stderr
