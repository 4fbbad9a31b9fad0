"""Thread policy: the budget (affinity, SLURM, parallel jobs, learner work) and the load governor."""

from __future__ import annotations

import pytest
import torch

from rlkit.utils import threads
from tests.helpers import compose


def test_thread_budget_follows_affinity_slurm_and_parallel_jobs(monkeypatch):
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5, 6, 7}, raising=False)
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    monkeypatch.delenv(threads.PARALLEL_JOBS_ENV, raising=False)
    assert threads.available_cores() == 8
    assert threads.torch_thread_budget("auto") == 8
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "3")
    assert threads.torch_thread_budget("auto") == 3
    monkeypatch.setenv(threads.PARALLEL_JOBS_ENV, "2")
    assert threads.torch_thread_budget("auto") == 1
    assert threads.torch_thread_budget(5) == 5
    monkeypatch.delenv("SLURM_CPUS_PER_TASK")
    for jobs, count in (("-1", 1), ("-2", 1), ("-5", 2), ("-8", 8), ("-20", 8), ("4", 2), ("junk", 8)):
        monkeypatch.setenv(threads.PARALLEL_JOBS_ENV, jobs)  # joblib's negative counts: cores + 1 + n jobs
        assert threads.torch_thread_budget("auto") == count, jobs
    with pytest.raises(ValueError):
        threads.torch_thread_budget(0)


def test_auto_gives_one_thread_per_unit_of_learner_work(monkeypatch):
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    monkeypatch.delenv(threads.PARALLEL_JOBS_ENV, raising=False)
    unit = threads.FLOPS_PER_THREAD
    assert threads.torch_thread_budget("auto", work_flops=0.2 * unit) == 1  # CartPole's MLP: 7 MFLOP
    assert threads.torch_thread_budget("auto", work_flops=3.5 * unit) == 3  # DER's CNN: 107 MFLOP
    assert threads.torch_thread_budget("auto", work_flops=20 * unit) == 16  # Nature CNN: capped by the cores
    assert threads.torch_thread_budget(4, work_flops=0.0) == 4  # a fixed setting is used as given


def test_forward_flops_of_the_presets_networks():
    """The default CartPole learner is far below one thread's worth of work; the Nature CNN far above."""
    import rlkit.components  # noqa: F401
    from rlkit.envs.spec import EnvMaker  # noqa: F401
    from rlkit.networks.model import build_network

    def flops(*overrides: str, obs_shape: tuple[int, ...]) -> float:
        cfg = compose(*overrides)
        net = build_network(torso_cfg=cfg.network.torso, head_cfg=cfg.network.head, layer_cfg=cfg.network.layer,
                            obs_shape=obs_shape, num_actions=6)
        value = threads.forward_flops(net, obs_shape, int(cfg.agent.batch_size))
        assert value is not None
        return value

    mlp = flops(obs_shape=(4,))
    cnn = flops("env=atari", "agent=dqn", obs_shape=(4, 84, 84))
    assert mlp < threads.FLOPS_PER_THREAD < 10 * threads.FLOPS_PER_THREAD < cnn
    # the Nature CNN's convolutions at batch 32: 2 FLOPs per multiply-add, ~0.6 GFLOP in all
    conv = 2 * 32 * (20 * 20 * 32 * 8 * 8 * 4 + 9 * 9 * 64 * 4 * 4 * 32 + 7 * 7 * 64 * 3 * 3 * 64)
    assert conv < cnn < 1.5 * conv


class _FakeMachine:
    """A clock, this process's CPU time and /proc/stat busy ticks (100 per core-second) under test control."""

    def __init__(self) -> None:
        self.now, self.own, self.busy = 0.0, 0.0, 0

    def run(self, seconds: float, *, own_cores: float, other_cores: float) -> None:
        self.now += seconds
        self.own += own_cores * seconds
        self.busy += round((own_cores + other_cores) * seconds * 100)


def _governor(machine: _FakeMachine, calls: list[int], max_threads: int = 2) -> threads.ThreadGovernor:
    gov = threads.ThreadGovernor(max_threads, interval_s=2.0, set_threads=calls.append, clock=lambda: machine.now,
                                 process_time=lambda: machine.own, busy_jiffies=lambda: machine.busy)
    gov.cores, gov._ticks_per_s = 2, 100
    return gov


def test_governor_drops_a_thread_beside_a_busy_process_and_takes_it_back():
    machine, calls = _FakeMachine(), []
    gov = _governor(machine, calls)
    assert gov.active and gov.threads == 2
    machine.run(1.0, own_cores=2.0, other_cores=0.0)
    assert gov.poll() is None and calls == []  # not yet 2 s: no change, no /proc read needed
    machine.run(2.0, own_cores=1.95, other_cores=0.02)
    assert gov.poll() is None and gov.threads == 2  # idle machine: both threads stay
    machine.run(2.0, own_cores=1.1, other_cores=0.9)  # a busy neighbour takes a core
    assert gov.poll() == 1 and calls == [1] and gov.other_load == pytest.approx(0.9, abs=0.01)
    machine.run(2.0, own_cores=1.0, other_cores=1.0)
    assert gov.poll() is None and gov.threads == 1  # stays down while the neighbour runs
    machine.run(2.0, own_cores=1.0, other_cores=0.05)  # the neighbour is gone
    assert gov.poll() == 2 and calls == [1, 2]


def test_governor_keeps_one_thread_at_least_and_does_nothing_with_one():
    machine, calls = _FakeMachine(), []
    gov = _governor(machine, calls, max_threads=4)
    gov.cores = 4
    machine.run(2.0, own_cores=1.0, other_cores=4.0)  # an oversubscribed machine
    assert gov.poll() == 1
    single = _governor(machine, calls := [], max_threads=1)
    machine.run(5.0, own_cores=1.0, other_cores=0.0)
    assert not single.active and single.poll() is None and calls == []


def test_governor_without_proc_stat_is_inactive():
    gov = threads.ThreadGovernor(2, set_threads=lambda n: None, busy_jiffies=lambda: None)
    assert not gov.active and gov.poll() is None


def test_busy_jiffies_reads_only_this_processs_cpus(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  10 0 10 100 0 0 0 0 0 0\n"
                    "cpu0 1 2 3 50 7 1 1 1 0 0\n"
                    "cpu1 100 0 0 0 0 0 0 0 0 0\n"
                    "intr 12345\n")
    assert threads._busy_jiffies({0}, stat) == 1 + 2 + 3 + 1 + 1 + 1  # idle (50) and iowait (7) left out
    assert threads._busy_jiffies({0, 1}, stat) == 9 + 100
    assert threads._busy_jiffies({0}, tmp_path / "missing") is None


def test_configure_threads_sets_torch(monkeypatch):
    seen = []
    monkeypatch.setattr(torch, "set_num_threads", seen.append)
    assert threads.configure_threads(3) == 3 and seen == [3]
