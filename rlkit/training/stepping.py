"""How the training loop gets one vector step of experience: synchronous, or pipelined acting.

:class:`SyncStepper` (``train.pipeline=false``, the default and the exact reference): actions for
the current observations with the current weights, then the envs step; the loop then stores the
step and runs the learner while the envs wait.

:class:`PipelinedStepper` (``train.pipeline=true``): as soon as a group's step comes back, its next
actions are chosen and its next step is started, before the loop stores the step and runs the
learner. ale-py's worker threads (or gymnasium's ``AsyncVectorEnv`` processes) then emulate while
the main thread inserts into replay and updates. With ``train.pipeline_groups=G > 1`` the envs are
G vector envs (:class:`rlkit.envs.groups.EnvGroups`): one group's actions are computed while the
others' emulators run (the overlap of inference and emulation that envpool-style loops use).

Policy lag, stated: the actions for agent step ``t + E`` are chosen before the learner updates
that step ``t`` triggers, so they lack the updates of one vector step that the synchronous loop's
actions would have seen (the update cycles due in its E agent steps; one cycle when E equals
``train.update_every_steps``). The rest is as in the synchronous loop: the
epsilon of step ``t + E``, one replay insert per vector step of all E envs, the update schedule.
With one group and no learning the two loops take the same actions and store the same transitions;
with G groups the agent acts G times per vector step, so its random draws come in another order.

Deterministic for a fixed seed (the order of every random draw is fixed; ale-py's emulators are
seeded per env). A checkpoint holds the actions in flight, so with in-process envs, whose state is
captured before their step runs, a resumed run continues exactly as an uninterrupted one with the
same pipelining; envs that cannot be captured (ale-py) restart on resume and drop those actions.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from rlkit.envs.groups import EnvGroups, StepResult


class Actor(Protocol):
    def act(self, obs: np.ndarray, step: int) -> np.ndarray: ...


class SyncStepper:
    """act -> step -> (the loop stores and learns): the envs wait while the loop works."""

    def __init__(self, agent: Actor, envs: Any) -> None:
        self.agent, self.envs = agent, envs

    def step(self, obs: np.ndarray, step: int) -> tuple[np.ndarray, StepResult]:
        """The actions taken from ``obs`` at agent step ``step`` and the envs' outputs."""
        actions = self.agent.act(obs, step)
        return actions, self.envs.step(actions)

    def in_flight(self) -> np.ndarray | None:
        """Actions chosen and not yet stepped (none here)."""
        return None

    def restore_in_flight(self, actions: np.ndarray | None) -> None:
        """Nothing is in flight in a synchronous loop: a pipelined checkpoint's actions are chosen again."""


class PipelinedStepper:
    """Each group's next step starts as soon as its last one returns (see the module docstring)."""

    def __init__(self, agent: Actor, envs: EnvGroups) -> None:
        self.agent, self.envs = agent, envs
        self.num_envs = envs.num_envs

    def step(self, obs: np.ndarray, step: int) -> tuple[np.ndarray, StepResult]:
        """The actions taken from ``obs`` at agent step ``step`` and the envs' outputs; each group's
        next step (actions for agent step ``step + E``) is already running when this returns."""
        envs = self.envs
        for g, pending in enumerate(envs.in_flight()):  # the first step, or after envs restarted
            if pending is None:
                envs.send(g, self.agent.act(obs[envs.envs_of(g)], step))
        actions = np.concatenate(envs.in_flight())
        results = []
        for g in range(len(envs)):
            result = envs.recv(g)
            results.append(result)
            envs.send(g, self.agent.act(result[0], step + self.num_envs))  # overlaps the other groups' steps
        return actions, EnvGroups.merge(results, envs.sizes)

    def in_flight(self) -> np.ndarray | None:
        """The actions of the steps in flight, ``[E]`` (for a checkpoint), or None."""
        pending = self.envs.in_flight()
        return None if any(p is None for p in pending) else np.concatenate(pending)

    def restore_in_flight(self, actions: np.ndarray | None) -> None:
        """Start the steps a checkpoint had in flight (envs restored to their state at that checkpoint)."""
        if actions is None:
            return
        actions = np.asarray(actions)
        if actions.shape[0] != self.num_envs:
            raise ValueError(f"checkpoint has actions in flight for {actions.shape[0]} envs, the run has {self.num_envs}")
        for g in range(len(self.envs)):
            self.envs.send(g, actions[self.envs.envs_of(g)])


def make_stepper(agent: Actor, env_maker: Any, *, seed: int, pipeline: bool, groups: int) -> tuple[Any, Any]:
    """The training envs and their stepper for ``train.pipeline`` / ``train.pipeline_groups``."""
    if not pipeline:
        envs = env_maker.make_train(seed=seed)
        return envs, SyncStepper(agent, envs)
    num_envs = int(env_maker.num_envs)
    if groups < 1 or num_envs % groups:
        raise ValueError(f"train.pipeline_groups={groups} must divide env.num_envs={num_envs}")
    envs = EnvGroups([env_maker.make_train(seed=seed, num_envs=num_envs // groups) for _ in range(groups)])
    return envs, PipelinedStepper(agent, envs)


__all__ = ["PipelinedStepper", "SyncStepper", "make_stepper"]
