"""experiments/atari100k/run_study.sh train: which runs it starts, with which command lines (a stand-in rlkit-train)."""
from __future__ import annotations

import subprocess
from pathlib import Path

from tests.helpers import compose, study_copy


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
    assert "no runs for variant 'rainbow' (der, drq_eps, der_ce_priority or der_dopamine)" in proc.stderr


def test_the_dopamine_der_diagnostic_trains_with_the_code_that_has_a_shared_dueling_layer(tmp_path):
    proc, runs = _train(tmp_path, "der_dopamine", GAMES="road_runner", SEEDS="0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"training with the code of cb44941 in {tmp_path / 'pinned'}" in proc.stdout
    assert sorted(runs) == ["road_runner/der_dopamine/seed0"]
    command = runs["road_runner/der_dopamine/seed0"]
    assert command.startswith(f"PYTHONPATH={tmp_path / 'pinned'} experiment=atari100k_der env.game=road_runner seed=0 ")
    assert command.endswith(" variant=der_dopamine torch_threads=1 checkpoint.every=20_000 "
                            "logger.console.show_progress=false hydra.run.dir=runs/road_runner/der_dopamine/seed0")


def test_the_dopamine_der_overrides_compose_dopamines_der_gin(tmp_path):
    # the command line the study runs, composed by this checkout's configs: DER.gin's values (google/dopamine 5873f54)
    _, runs = _train(tmp_path, "der_dopamine", GAMES="road_runner", SEEDS="0")
    args = runs["road_runner/der_dopamine/seed0"].split()[1:]
    cfg = compose(*[a for a in args if not a.startswith(("hydra.", "logger."))])
    net = cfg.network
    assert (net.torso.name, net.torso.padding, net.torso.init) == ("nature_cnn", "same", "xavier_uniform")
    assert (net.head.name, list(net.head.hidden_sizes), net.head.shared_hidden) == ("dueling", [512], True)
    assert net.head.init == "torch"  # noisy layers keep Fortunato's init, as Dopamine's NoisyNetwork
    assert (net.layer.name, net.layer.sigma0) == ("noisy_factorised", 0.1)
    assert (net.head.output.name, net.head.output.num_atoms, net.head.output.v_max) == ("categorical", 51, 10.0)
    agent = cfg.agent
    assert (agent.n_step, agent.gamma, agent.batch_size, agent.target_update_every_steps) == (10, 0.99, 32, 2000)
    assert agent.max_grad_norm is None and agent.noise.eval_mean
    assert (cfg.target.name, cfg.loss.name, cfg.c51.priority) == ("double", "categorical", "cross_entropy")
    sampler = cfg.replay.sampler
    assert (sampler.name, sampler.alpha, sampler.beta_start, sampler.beta_end, sampler.weight_norm) == (
        "prioritized", 0.5, 0.5, 0.5, "batch_max")
    exploration = cfg.exploration  # linearly_decaying_epsilon(2000, step, 1600, 0.01), on top of the noise
    assert (exploration.name, exploration.start, exploration.end, exploration.decay_steps, exploration.start_step) == (
        "epsilon", 1.0, 0.01, 2000, 1599)
    assert (cfg.train.learning_starts_steps, cfg.train.update_every_steps, cfg.train.steps) == (1601, 1, 100_000)
    assert (cfg.optim.name, cfg.optim.lr, cfg.optim.eps, cfg.eval.epsilon) == ("adam", 1e-4, 1.5e-4, 0.001)
    assert cfg.variant == "der_dopamine"


def test_experiment_atari100k_der_dopamine_is_the_diagnostic_runs_config(tmp_path):
    # the preset users run (experiment=atari100k_der_dopamine) composes to what the study's runs ran with
    from omegaconf import OmegaConf

    _, runs = _train(tmp_path, "der_dopamine", GAMES="road_runner", SEEDS="0")
    args = runs["road_runner/der_dopamine/seed0"].split()[1:]
    study = compose(*[a for a in args if not a.startswith(("hydra.", "logger."))])
    preset = compose("experiment=atari100k_der_dopamine", "env.game=road_runner", "seed=0", "torch_threads=1",
                     "checkpoint.every=20_000")
    assert OmegaConf.to_container(preset, resolve=True) == OmegaConf.to_container(study, resolve=True)
    assert OmegaConf.to_container(preset, resolve=True) != OmegaConf.to_container(
        compose("experiment=atari100k_der", "env.game=road_runner", "seed=0", "torch_threads=1",
                "checkpoint.every=20_000"), resolve=True)
