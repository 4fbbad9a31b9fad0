"""The learner in a thread (train.learner_thread, rlkit/training/learner_thread.py): the thread's queue
(order, bounded lag, drain, errors), runs with lag 0 equal the synchronous loop bit for bit, the stated
policy lag holds and is reached, the update and target schedules are the synchronous loop's, a NaN loss
and a stop signal behave as in the synchronous loop, checkpoints resume, bad configs are refused."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import torch

import rlkit.components  # noqa: F401  (registers the built-in parts)
from rlkit.training.learner_thread import LearnerThread
from rlkit.training.loop import Preempted, Trainer
from rlkit.validation import validate_config
from tests.helpers import QUIET, compose, read_jsonl, train_in_process

THREAD = ["train.learner_thread=true"]
# torch's thread count is per thread with its OpenMP backend (its Linux builds), process-wide with a native pool
needs_openmp = pytest.mark.skipif("backend: OpenMP" not in torch.__config__.parallel_info(),
                                  reason="per-thread torch thread counts need torch's OpenMP backend")


def _wait_until(predicate, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


# ----------------------------------------------------------------------------- the thread itself
def test_items_run_in_order_and_drain_waits_for_all():
    done, gate = [], threading.Event()

    def work(step, cycles):
        gate.wait()
        done.append((step, cycles))

    learner = LearnerThread(work, max_lag=4)
    for step in (4, 8, 12):
        learner.submit(step, 1 if step < 12 else 2)  # 4 cycles in all, max_lag 4: none of these waits
    assert learner.pending == 4 and done == []
    gate.set()
    learner.drain()
    assert done == [(4, 1), (8, 1), (12, 2)] and learner.pending == 0
    learner.close()


@pytest.mark.parametrize("max_lag", [0, 1, 2])
def test_submit_returns_once_at_most_max_lag_items_are_unfinished(max_lag):
    gate, started = threading.Event(), []

    def work(step, cycles):
        started.append(step)
        gate.wait()

    learner = LearnerThread(work, max_lag=max_lag)
    returned = []

    def actor():
        for step in range(1, max_lag + 2):
            learner.submit(step, 1)
            returned.append(step)

    thread = threading.Thread(target=actor)
    thread.start()
    assert _wait_until(lambda: len(returned) == max_lag)  # the first max_lag submissions return at once
    time.sleep(0.1)
    assert len(returned) == max_lag and learner.pending == max_lag + 1  # the next one waits for the learner
    gate.set()
    thread.join(5)
    assert returned == list(range(1, max_lag + 2)) and not thread.is_alive()
    learner.close()


def test_a_vector_steps_cycles_count_together_against_the_lag():
    """Two cycles due at one step finish together: with max_lag 1 their submit waits for both."""
    gate = threading.Event()
    learner = LearnerThread(lambda step, cycles: gate.wait(), max_lag=1)
    returned = threading.Event()
    thread = threading.Thread(target=lambda: (learner.submit(4, 2), returned.set()))
    thread.start()
    assert not returned.wait(0.1) and learner.pending == 2
    gate.set()
    assert returned.wait(5) and learner.pending == 0
    thread.join()
    learner.close()


def test_an_error_in_the_learner_is_raised_in_the_acting_thread_once():
    def work(step, cycles):
        if step == 2:
            raise ValueError("bad update at 2")

    learner = LearnerThread(work, max_lag=1)
    with pytest.raises(ValueError, match="bad update at 2"):  # at the submit after it, or at the drain
        learner.submit(1, 1)
        learner.submit(2, 1)
        assert _wait_until(lambda: learner.pending == 0)
        learner.drain()
    learner.drain()  # raised once: nothing is left to wait for
    with pytest.raises(RuntimeError, match="closed"):
        learner.submit(3, 1)
    learner.close()


def test_close_drops_queued_items_and_joins():
    gate, started, done = threading.Event(), threading.Event(), []

    def work(step, cycles):
        started.set()
        gate.wait()
        done.append(step)

    learner = LearnerThread(work, max_lag=5)
    for step in range(4):
        learner.submit(step, 1)
    assert started.wait(5.0)  # the thread runs item 0 (under load it may take a while to start it)
    assert learner.pending == 4
    threading.Timer(0.05, gate.set).start()
    learner.close()  # waits for the running item, drops the three queued ones
    assert done == [0] and not learner._thread.is_alive()


def test_shares_of_busy_and_waiting_time():
    learner = LearnerThread(lambda step, cycles: time.sleep(0.02), max_lag=0)
    learner.take_times()
    for step in range(5):
        learner.submit(step, 1)  # lag 0: the actor waits for every item
    shares = learner.take_times()
    assert 0.5 < shares["learner/busy_share"] <= 1.0
    assert 0.5 < shares["learner/actor_wait_share"] <= 1.0
    learner.close()
    with pytest.raises(ValueError, match="learner_max_lag must be >= 0"):
        LearnerThread(lambda step, cycles: None, max_lag=-1)


# ---------------------------------------------------------------------------------------- runs
def _weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "model.pt", weights_only=True)


def _same_weights(a: Path, b: Path) -> bool:
    wa, wb = _weights(a), _weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


VOLATILE = {"time", "charts/SPS", "eval/wall_time_s", "learner/busy_share", "learner/actor_wait_share"}


def _metrics(run: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in read_jsonl(run / "metrics.jsonl")]


@pytest.mark.parametrize("overrides", [
    # epsilon-greedy; target copies every 10 agent steps, so most fall between two update cycles (every 4)
    ["agent=dqn", "agent.target_update_every_steps=10"],
    ["agent=rainbow", "sync_free=true"],  # noisy nets, C51, PER with sync-free priorities
    ["agent=iqn"],  # quantile fractions drawn by acting and learning from one generator
], ids=["dqn", "rainbow_sync_free", "iqn"])
def test_lag_zero_is_the_synchronous_loop_bit_for_bit(tmp_path, overrides):
    run = [*overrides, "debug=tiny", "device=cpu"]
    sync = train_in_process(tmp_path / "sync", *run)
    trainer = Trainer(compose(*QUIET, "torch_threads=1", *run, *THREAD, "train.learner_max_lag=0"), tmp_path / "thread")
    agent, stale = trainer.parts.agent, []
    act = agent.act

    def spy(obs, step):  # lag 0: the actor acts with exactly the online weights
        pairs = zip(agent.acting_network.parameters(), agent.online.parameters(), strict=True)
        stale.extend(step for a, o in pairs if not torch.equal(a, o))
        return act(obs, step)

    agent.act = spy
    thread = trainer.train()
    assert agent.acting_network is not agent.online and stale == []
    assert sync["updates"] > 0 and thread["updates"] == sync["updates"]
    assert _same_weights(tmp_path / "sync", tmp_path / "thread")
    assert _metrics(tmp_path / "sync") == _metrics(tmp_path / "thread")
    assert thread["final_eval_returns"] == sync["final_eval_returns"]


LAG_RUN = ["agent=dqn", "env.num_envs=2", "train.steps=400", "train.learning_starts_steps=64", "agent.batch_size=32",
           "train.updates_per_cycle=2", "agent.target_update_every_steps=30",
           "train.log_every_steps=100", "eval.every_steps=200", "eval.episodes=1", "device=cpu", "checkpoint.every=0"]


def _trace(run_dir: Path, *overrides: str, slow_s: float = 0.0) -> tuple[dict[int, int], list[int], Trainer]:
    """Per agent step acted on: the updates in the acting weights; and the agent steps of target syncs.
    ``slow_s``: each update sleeps that long first (a slow learner, so the actor runs ahead)."""
    trainer = Trainer(compose(*QUIET, "torch_threads=1", *LAG_RUN, *overrides), run_dir)
    agent, seen, syncs = trainer.parts.agent, {}, []
    act, update, sync_target = agent.act, agent.update, agent.sync_target

    def spy_act(obs, step):
        seen[step] = agent.acting_updates
        return act(obs, step)

    def slow_update(batch):
        time.sleep(slow_s)
        return update(batch)

    def spy_sync():
        syncs.append(agent.updates)
        sync_target()

    agent.act, agent.update, agent.sync_target = spy_act, slow_update, spy_sync
    trainer.train()
    return seen, syncs, trainer


@pytest.mark.parametrize(("max_lag", "update_every", "usual_cycles"), [
    (1, 2, 1), (3, 2, 3),  # one cycle per vector step (2 envs, a cycle every 2 agent steps)
    # two per vector step (one at the first), finishing together: a lag of 3 mostly holds 2, of 1 none
    (3, 1, 2), (1, 1, 0),
])
def test_actions_lack_at_most_max_lag_cycles_and_the_schedules_stay(tmp_path, max_lag, update_every, usual_cycles):
    """With a slow learner the actor runs ahead as far as allowed and no further: at each step its
    weights lack whole cycles (2 updates each) of the synchronous loop's, at most max_lag of them (reached);
    the run does the same updates, and its target copies happen at the same points of the update count."""
    every = f"train.update_every_steps={update_every}"
    sync, sync_targets, reference = _trace(tmp_path / "sync", every)
    seen, targets, trainer = _trace(tmp_path / "thread", every, *THREAD, f"train.learner_max_lag={max_lag}",
                                    slow_s=0.003)
    assert sorted(seen) == sorted(sync)
    lag = {step: sync[step] - seen[step] for step in sync}
    assert min(lag.values()) == 0 and max(lag.values()) == 2 * max_lag  # reached, never passed
    assert all(value % 2 == 0 for value in lag.values())  # whole cycles
    assert Counter(lag.values()).most_common(1)[0][0] == 2 * usual_cycles
    assert trainer.parts.agent.updates == reference.parts.agent.updates == 2 * (400 - 64) // update_every + 2
    assert targets == sync_targets and len(targets) > 5
    logged = [r for r in read_jsonl(tmp_path / "thread" / "metrics.jsonl") if "learner/busy_share" in r]
    assert logged and all(0 < r["learner/busy_share"] <= 1 and 0 <= r["learner/actor_wait_share"] <= 1 for r in logged)


def test_a_nan_loss_in_the_learner_thread_stops_the_run_and_keeps_the_checkpoint(tmp_path):
    """As in the synchronous loop: the error names the first bad update and the agent step it was due
    at, the weights are those before it, the last checkpoint stays the newest."""
    from rlkit.agents.dqn import NonFiniteLossError
    from rlkit.training.checkpoint import latest_checkpoint

    cfg = compose(*QUIET, "torch_threads=1", "agent=dqn", *THREAD, "train.steps=2000", "checkpoint.every=500",
                  "train.log_every_steps=500", "eval.every_steps=0", "train.learning_starts_steps=200",
                  "train.update_every_steps=4", "train.updates_per_cycle=1")
    trainer = Trainer(cfg, tmp_path)
    loss, calls = trainer.parts.agent.loss, []

    def poisoned(nets, batch):
        out = loss(nets, batch)
        calls.append(1)
        if len(calls) >= 151:  # update 151 is due at agent step 200 + 150 * 4 = 800
            out.loss = out.loss * float("nan")
        return out

    trainer.parts.agent.loss = poisoned
    with pytest.raises(NonFiniteLossError) as err:
        trainer.train()
    assert "the loss is nan at update 151; weights left unchanged, at agent step 800." in str(err.value)
    assert "step_000000000500" in str(err.value)
    assert latest_checkpoint(tmp_path).step == 500 and not (tmp_path / "model.pt").exists()
    assert trainer.parts.agent.updates == 150 and trainer.learner is None  # the thread is gone


CKPT_RUN = ["agent=dqn", "train.steps=1200", "train.learning_starts_steps=200", "train.log_every_steps=200",
            "train.update_every_steps=4", "train.updates_per_cycle=1",
            "eval.every_steps=400", "eval.episodes=2", "device=cpu", "checkpoint.every=600", "checkpoint.keep_last=0",
            "checkpoint.keep_after_finish=true", "agent.target_update_every_steps=100"]


def test_lag_zero_resumes_exactly_as_an_uninterrupted_synchronous_run(tmp_path):
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    train_in_process(full, *CKPT_RUN)
    name = "step_000000000600"
    shutil.copytree(full / "checkpoints" / name, resumed / "checkpoints" / name)
    shutil.copy(full / "metrics.jsonl", resumed / "metrics.jsonl")
    out = train_in_process(resumed, *CKPT_RUN, *THREAD, "train.learner_max_lag=0")
    assert out["resumed_from_step"] == 600
    assert _same_weights(full, resumed) and _metrics(full) == _metrics(resumed)


def test_a_stop_signal_waits_for_the_learner_then_the_run_resumes(tmp_path):
    """SIGTERM while cycles are queued: the checkpoint holds every cycle due by its step (the same
    update count as the synchronous loop there); the resumed run finishes with the full count."""
    from rlkit.training.checkpoint import latest_checkpoint, load_checkpoint

    cfg = compose(*QUIET, "torch_threads=1", *CKPT_RUN, *THREAD, "train.learner_max_lag=3")
    trainer = Trainer(cfg, tmp_path)
    agent = trainer.parts.agent
    act, update = agent.act, agent.update

    def act_then_signal(obs, step):
        if step == 700:
            os.kill(os.getpid(), signal.SIGTERM)
        return act(obs, step)

    def slow_update(batch):
        time.sleep(0.002)
        return update(batch)

    agent.act, agent.update = act_then_signal, slow_update
    with pytest.raises(Preempted):
        trainer.train()
    point = latest_checkpoint(tmp_path)
    assert point.step == 701
    state = load_checkpoint(point.path)
    assert state["torch"]["agent"]["updates"] == (700 - 200) // 4 + 1  # a cycle of one update every 4 steps from 200 on
    out = train_in_process(tmp_path, *CKPT_RUN, *THREAD, "train.learner_max_lag=3")
    assert out["resumed_from_step"] == 701 and out["steps"] == 1200 and out["updates"] == (1200 - 200) // 4 + 1


@pytest.mark.parametrize(("override", "key", "message"), [
    ("train.learner_thread=maybe", "train.learner_thread", "must be true or false"),
    ("train.learner_max_lag=-1", "train.learner_max_lag", "must be >= 0"),
    ("train.learner_max_lag=0.5", "train.learner_max_lag", "must be an integer"),
])
def test_bad_learner_thread_settings_are_refused(override, key, message):
    problems = validate_config(compose("agent=dqn", override))
    assert any(p.key == key and message in p.message for p in problems), problems


def test_evaluation_saves_and_restores_the_actors_noise_inside_its_pass(tmp_path):
    """The noise an evaluation saves and puts back belongs to the actor: both happen inside its pass (under its
    lock; on CUDA on its stream, so the next training pass cannot overtake the restore)."""
    cfg = compose(*QUIET, "torch_threads=1", "agent=rainbow", "debug=tiny", "device=cpu", *THREAD)
    parts = Trainer(cfg, tmp_path).parts
    agent = parts.agent
    obs, _ = parts.env_maker.make_train(seed=0).reset(seed=[0])
    inside, seen = [False], []
    acting_pass = agent._acting_pass

    @contextlib.contextmanager
    def spy_pass():
        with acting_pass():
            inside[0] = True
            try:
                yield
            finally:
                inside[0] = False

    agent._acting_pass = spy_pass
    layer = agent._noisy_layers()[0]
    noise_state, load_noise_state = layer.noise_state, layer.load_noise_state

    def spy_save():
        seen.append(("save", inside[0]))
        return noise_state()

    def spy_restore(state):
        seen.append(("restore", inside[0]))
        load_noise_state(state)

    layer.noise_state, layer.load_noise_state = spy_save, spy_restore
    before = layer.bias_epsilon.clone()
    with agent.evaluating(seed=3):
        agent.act_eval(obs, 0.0)
    assert seen == [("save", True), ("restore", True)]
    assert torch.equal(layer.bias_epsilon, before)


@pytest.mark.gpu
def test_cuda_runs_with_the_actor_on_its_own_stream(tmp_path):
    """CUDA: the actor's passes run on a stream of their own, after each publish's copy (the first: the copy made
    when the run starts); the run does the synchronous loop's number of updates, and after it the acting weights
    are the online ones."""
    cfg = compose(*QUIET, "torch_threads=1", "agent=rainbow", "debug=tiny", "device=cuda", *THREAD)
    trainer = Trainer(cfg, tmp_path)
    assert trainer.parts.agent._published is not None  # the actor's first pass waits for the copy
    out = trainer.train()
    agent = trainer.parts.agent
    assert agent._acting_stream is not None and agent._published is not None
    assert out["updates"] == (500 - 100) // 4 + 1
    pairs = zip(agent.acting_network.parameters(), agent.online.parameters(), strict=True)
    assert all(torch.equal(a, o) for a, o in pairs)


@needs_openmp
def test_the_learner_gets_the_runs_threads_and_the_actor_one(tmp_path):
    """torch_threads=2: updates run with 2 intra-op threads, actions with 1 (small batches; the two
    sides must not crowd the cores); afterwards the calling thread has the run's 2 again."""
    before = torch.get_num_threads()
    try:
        cfg = compose(*QUIET, "agent=dqn", "debug=tiny", "device=cpu", "torch_threads=2", *THREAD)
        trainer = Trainer(cfg, tmp_path)
        agent, acting, learning = trainer.parts.agent, set(), set()
        act, update = agent.act, agent.update

        def spy_act(obs, step):
            acting.add((threading.get_ident(), torch.get_num_threads()))
            return act(obs, step)

        def spy_update(batch):
            learning.add((threading.get_ident(), torch.get_num_threads()))
            return update(batch)

        agent.act, agent.update = spy_act, spy_update
        trainer.train()
        assert acting == {(threading.get_ident(), 1)}
        assert len(learning) == 1 and next(iter(learning))[1] == 2 and next(iter(learning))[0] != threading.get_ident()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_the_learner_thread_combines_with_pipelined_acting(tmp_path):
    """Pipelined acting (two groups) with the learner thread at lag 0 is the pipelined loop bit for bit;
    at lag 1 it runs the same updates."""
    run = ["agent=dqn", "debug=tiny", "device=cpu", "env.num_envs=2", "train.pipeline=true", "train.pipeline_groups=2"]
    alone = train_in_process(tmp_path / "alone", *run)
    lag0 = train_in_process(tmp_path / "lag0", *run, *THREAD, "train.learner_max_lag=0")
    lag1 = train_in_process(tmp_path / "lag1", *run, *THREAD)
    assert _same_weights(tmp_path / "alone", tmp_path / "lag0") and _metrics(tmp_path / "alone") == _metrics(tmp_path / "lag0")
    assert alone["updates"] == lag0["updates"] == lag1["updates"] > 0


@needs_openmp
def test_the_load_governor_steers_the_learner_threads(tmp_path):
    """torch_threads=auto's governor lowers the count while other processes keep cores busy: with the
    learner thread that count is the learner's (the acting thread stays at one)."""

    class Governor:  # polls like ThreadGovernor; drops to one thread at its 200th poll
        def __init__(self):
            self.polls, self.set_threads = 0, torch.set_num_threads

        def poll(self):
            self.polls += 1
            if self.polls == 200:
                self.set_threads(1)

    before = torch.get_num_threads()
    try:
        cfg = compose(*QUIET, "agent=dqn", "debug=tiny", "device=cpu", "torch_threads=2", *THREAD)
        trainer = Trainer(cfg, tmp_path)
        trainer.governor = governor = Governor()
        agent, counts, acting = trainer.parts.agent, [], set()
        act, update = agent.act, agent.update

        def spy_act(obs, step):
            acting.add(torch.get_num_threads())
            return act(obs, step)

        def spy_update(batch):
            counts.append(torch.get_num_threads())
            return update(batch)

        agent.act, agent.update = spy_act, spy_update
        trainer.train()
        assert acting == {1} and counts[0] == 2 and counts[-1] == 1 and counts == sorted(counts, reverse=True)
        assert governor.set_threads is torch.set_num_threads and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
