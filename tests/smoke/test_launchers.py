"""Sweeps through each launcher preset: complete run dirs named <experiment>/<env>/<variant>/seed<N>,
torch threads split between parallel jobs, and the SLURM preset's sbatch script (requeue + signal)."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from pathlib import Path

import pytest

from rlkit.utils.runtime import PARALLEL_JOBS_ENV, available_cores
from tests.helpers import QUIET, cli_env, read_jsonl, run_cli

TINY = ["train.steps=300", "train.learning_starts_steps=100", "train.log_every_steps=100", "eval.every_steps=0",
        "eval.episodes=1", "eval.final_episodes=1"]
# wide enough (> 100 MFLOP a learner batch) that torch_threads=auto would give a run several threads if it could
WIDE = ["network.hidden_sizes=[1024]", "network.torso_hidden_sizes=[1024]"]
RUN_FILES = ["config.yaml", "metrics.jsonl", "summary.json", "model.pt", "learning_curve.png"]
THREADS = re.compile(r"torch intra-op threads: (\d+)")
STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+)\]", flags=re.MULTILINE)

pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="needs the launchers extra: pip install 'rlkit[launchers]'")
pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="needs the launchers extra")


def _sweep(tmp_path: Path, *args: str) -> Path:
    """``rlkit-train -m <args>`` (torch_threads=auto unless given) with no inherited job count; the sweep dir."""
    sweep = tmp_path / "sweep"
    env = cli_env(tmp_path)
    env.pop(PARALLEL_JOBS_ENV, None)
    proc = run_cli("rlkit-train", ["-m", *args, f"hydra.sweep.dir={sweep}", *TINY, *QUIET], cwd=tmp_path, env=env,
                   timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return sweep


def _check_runs(sweep: Path, expected: set[str]) -> dict[str, int]:
    """Every expected run dir is complete; returns each run's torch thread count (from its log)."""
    found = {str(p.parent.relative_to(sweep)) for p in sweep.rglob("summary.json")}
    assert found == expected
    threads = {}
    for name in expected:
        run = sweep / name
        for file in RUN_FILES:
            assert (run / file).is_file() and (run / file).stat().st_size > 0, f"{name}/{file}"
        summary = json.loads((run / "summary.json").read_text())
        assert summary["steps"] == 300 and summary["final_eval"]["episodes"] == 1
        assert any("losses/td_loss" in row for row in read_jsonl(run / "metrics.jsonl"))
        experiment, env_id, variant, seed = name.split("/")
        config = (run / "config.yaml").read_text()
        assert f"experiment_name: {experiment}" in config and f"variant: {variant}" in config
        assert f"seed: {seed.removeprefix('seed')}" in config and f"id: {env_id}" in config
        logged = THREADS.findall((run / "train.log").read_text())
        assert logged, f"{name}/train.log has no thread line"
        threads[name] = int(logged[-1])
    return threads


def _log_span(log: Path) -> tuple[datetime, datetime]:
    """First and last timestamps of a Hydra job log."""
    stamps = [datetime.strptime(m, "%Y-%m-%d %H:%M:%S,%f") for m in STAMP.findall(log.read_text())]
    return stamps[0], stamps[-1]


def test_basic_launcher_runs_the_grid_in_named_dirs(tmp_path):
    # torch_threads=1: with "auto" a job takes every core, which collapses on a machine shared with other work
    sweep = _sweep(tmp_path, "experiment=ablation_full,ablation_no_n_step", "seed=3", "torch_threads=1")
    threads = _check_runs(sweep, {"rainbow_ablation/CartPole-v1/full/seed3",
                                  "rainbow_ablation/CartPole-v1/no_n_step/seed3"})
    assert set(threads.values()) == {1}


def test_joblib_preset_runs_jobs_in_parallel_with_split_threads(tmp_path):
    sweep = _sweep(tmp_path, "hydra/launcher=local_parallel", "hydra.launcher.n_jobs=2", "agent=dqn", "seed=0,1", *WIDE)
    threads = _check_runs(sweep, {"default/CartPole-v1/dqn/seed0", "default/CartPole-v1/dqn/seed1"})
    assert set(threads.values()) == {max(1, available_cores() // 2)}  # 2 cores, 2 jobs: 1 thread each
    (start0, end0), (start1, end1) = (_log_span(sweep / run / "train.log") for run in sorted(threads))
    assert start0 < end1 and start1 < end0, "the two jobs ran side by side"
    multirun = (sweep / "multirun.yaml").read_text()
    assert "JoblibLauncher" in multirun and "RLKIT_PARALLEL_JOBS: ${hydra.launcher.n_jobs}" in multirun


def test_submitit_local_preset_runs_each_job_as_a_process(tmp_path):
    sweep = _sweep(tmp_path, "hydra/launcher=local_submitit", "experiment=ablation_no_double", "seed=0,1", *WIDE)
    threads = _check_runs(sweep, {"rainbow_ablation/CartPole-v1/no_double/seed0",
                                  "rainbow_ablation/CartPole-v1/no_double/seed1"})
    assert set(threads.values()) == {max(1, available_cores() // 2)}
    job_logs = list((sweep / ".submitit").glob("*/*_log.out"))
    assert len(job_logs) == 2  # one submitit job (own process, own log) per run


def _fake_slurm_binaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """submitit's SLURM executor checks that ``srun`` exists; nothing is ever submitted here."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    srun = bin_dir / "srun"
    srun.write_text("#!/bin/sh\nexit 0\n")
    srun.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_slurm_preset_asks_for_resources_signal_and_requeue(tmp_path, monkeypatch):
    """The sbatch script the SLURM preset submits, rendered by the real launcher and submitit."""
    import submitit
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.utils import instantiate

    from rlkit.units import register_resolvers

    _fake_slurm_binaries(tmp_path, monkeypatch)
    register_resolvers()
    GlobalHydra.instance().clear()
    sweep = tmp_path / "sweep"
    with initialize_config_module(config_module="rlkit.conf", version_base="1.3"):
        cfg = compose(config_name="config", return_hydra_config=True, overrides=[
            "hydra/launcher=slurm", "hydra.launcher.partition=gpu", f"hydra.sweep.dir={sweep}"])
    GlobalHydra.instance().clear()
    assert cfg.hydra.job.env_set[PARALLEL_JOBS_ENV] == "1"  # each run owns its allocation

    submitted: dict = {}

    class _Job:
        def results(self) -> list[None]:
            return [None]

    def fake_map_array(executor, fn, *iterables):
        slurm = executor._executor
        slurm.parameters["map_count"] = len(iterables[0])
        submitted.update(script=slurm._make_submission_file_text("python -m submitit.core._submit x", "uid"),
                         max_num_timeout=slurm.max_num_timeout, fn=fn, args=list(zip(*iterables)))
        return [_Job() for _ in iterables[0]]

    monkeypatch.setattr(submitit.AutoExecutor, "map_array", fake_map_array)
    launcher = instantiate(cfg.hydra.launcher)
    launcher.setup(hydra_context=None, task_function=None, config=cfg)  # type: ignore[arg-type]
    launcher.launch([["seed=0"], ["seed=1"]], initial_job_idx=0)

    flags = set(re.findall(r"^#SBATCH (\S+)$", submitted["script"], flags=re.MULTILINE))
    for flag in ("--requeue", "--signal=USR2@300", "--partition=gpu", "--gpus-per-node=1", "--cpus-per-task=8",
                 "--mem=64GB", "--time=1440", "--nodes=1", "--ntasks-per-node=1", "--array=0-1%2"):
        assert flag in flags, (flag, sorted(flags))
    assert submitted["max_num_timeout"] == 20  # requeues after hitting the time limit
    # On the signal submitit calls the launcher's checkpoint(): it resubmits the same job arguments,
    # hence the same overrides and the same run dir, where rlkit resumes from its checkpoints.
    job_args = submitted["args"][1]
    resubmission = submitted["fn"].checkpoint(*job_args)
    assert isinstance(resubmission, submitit.helpers.DelayedSubmission)
    assert resubmission.args == job_args and list(job_args[0]) == ["seed=1"]


def test_cartpole_study_sets_the_budget_on_top_of_any_variant():
    from tests.helpers import compose

    cfg = compose("experiment=ablation_no_noisy", "+study=cartpole", "seed=2")
    assert (cfg.experiment_name, cfg.variant, cfg.seed) == ("cartpole_ablation", "no_noisy", 2)
    assert (cfg.train.steps, cfg.eval.every_steps, cfg.eval.episodes) == (20_000, 2_000, 5)
    assert cfg.network.layer.name == "linear" and cfg.exploration.name == "epsilon"  # the variant is kept
    assert cfg.optim.lr == compose("experiment=ablation_full").optim.lr  # Rainbow's CartPole tuning is kept


def test_optuna_study_composes_a_maximising_search():
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="needs the optuna extra: pip install 'rlkit[optuna]'")
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from rlkit.units import register_resolvers

    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="rlkit.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=["+study=cartpole_optuna"], return_hydra_config=True)
    GlobalHydra.instance().clear()
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.direction == "maximize"
    assert set(sweeper.params) == {"optim.lr", "agent.target_update_every_steps"}
    assert cfg.experiment_name == "cartpole_optuna" and cfg.train.steps == 20_000
