"""Learner throughput: rlkit's ``DQNAgent.update`` vs a bare PyTorch loop, same network and batch.

For each agent preset on Atari-shaped input (4x84x84 uint8 stacks, Nature CNN), both sides run
the same work per update: the online forward on ``obs``, the no-grad target pass on ``next_obs``
(plus the online selection pass for a double target and fresh noise for noisy nets), the loss,
backward, gradient-norm clipping at the preset's ``max_grad_norm`` and the preset's optimiser step.
The bare loop is written with plain torch calls on deep copies of rlkit's networks (sharing only
the C51 projection formula, which has no plain-torch equivalent); rlkit's side is the agent the
training loop uses, metrics and priorities included. Timings alternate between the two sides
(``--repeats`` rounds of ``--updates`` updates) and the medians are compared in the same run.

    python benchmarks/learner_atari.py                        # dqn and rainbow, CPU, batch 32
    python benchmarks/learner_atari.py --device cuda --agents dqn rainbow der
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

import rlkit.components  # noqa: F401  (registers the built-in parts)
from rlkit import registry
from rlkit.config import compose_config
from rlkit.losses import project_distribution
from rlkit.networks.model import QNetwork
from rlkit.networks.outputs import CategoricalValues, HeadOutput
from rlkit.training.builder import build_agent
from rlkit.types import Batch


def make_batch(batch_size: int, num_actions: int, device: torch.device, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    obs = torch.randint(0, 256, (batch_size, 4, 84, 84), dtype=torch.uint8, generator=g)
    next_obs = torch.randint(0, 256, (batch_size, 4, 84, 84), dtype=torch.uint8, generator=g)
    return Batch(
        obs=obs.to(device),
        actions=torch.randint(0, num_actions, (batch_size,), generator=g).to(device),
        rewards=torch.randn(batch_size, generator=g).to(device),
        next_obs=next_obs.to(device),
        discounts=torch.full((batch_size,), 0.99**3).to(device),
        weights=torch.ones(batch_size).to(device),
        indices=torch.arange(batch_size).numpy(),
    )


def bare_update_fn(online: QNetwork, target: QNetwork, optimizer: torch.optim.Optimizer, batch: Batch, *,
                   double: bool, noisy: bool, max_grad_norm: float | None) -> Callable[[], None]:
    """One plain-torch gradient step doing the same passes as rlkit's update for this preset."""
    actions = batch.actions.long()
    support = online.head.output.support if online.kind == "categorical" else None

    def raw(out: HeadOutput) -> torch.Tensor:  # the head's plain tensor: q-values [B, A] or logits [B, A, N]
        return out.logits if isinstance(out, CategoricalValues) else out.q_values

    def step() -> None:
        if noisy:
            online.reset_noise()
            target.reset_noise()
        with torch.no_grad():
            if double:
                if noisy:
                    online.reset_noise()
                next_actions = online.q_values(batch.next_obs).argmax(dim=1)
            next_out = target(batch.next_obs)
            if not double:
                next_actions = next_out.q_values.argmax(dim=1)
            if noisy and double:
                online.reset_noise()
            chosen = raw(next_out)[torch.arange(len(actions)), next_actions]
        out = raw(online(batch.obs))[torch.arange(len(actions)), actions]
        if support is None:  # Huber TD (Mnih et al. 2015)
            loss = F.huber_loss(out, batch.rewards + batch.discounts * chosen)
        else:  # categorical cross-entropy (Bellemare et al. 2017)
            with torch.no_grad():
                target_probs = project_distribution(chosen.softmax(-1), batch.rewards, batch.discounts, support)
            loss = -(target_probs * out.log_softmax(-1)).sum(-1).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if max_grad_norm:
            torch.nn.utils.clip_grad_norm_(online.parameters(), max_grad_norm)
        optimizer.step()

    return step


def timed(fn: Callable[[], object], updates: int, device: torch.device) -> float:
    """Updates per second over ``updates`` calls."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(updates):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return updates / (time.perf_counter() - start)


def measure(agent_name: str, args: argparse.Namespace, device: torch.device) -> tuple[float, float]:
    cfg = compose_config(["env=atari", "env.game=pong", f"agent={agent_name}", f"agent.batch_size={args.batch}"])
    env_maker = registry.build("env", cfg.env)
    agent = build_agent(cfg, env_maker, device)
    batch = make_batch(args.batch, env_maker.spec.num_actions, device)
    online, target = copy.deepcopy(agent.online), copy.deepcopy(agent.target)
    optimizer = registry.build("optim", dict(cfg.optim), params=list(online.parameters()))
    bare = bare_update_fn(
        online, target, optimizer, batch,
        double=agent.target_rule.needs_online_next, noisy=bool(online.noisy_layers()), max_grad_norm=agent.max_grad_norm,
    )
    rlkit_step = lambda: agent.update(batch)
    for fn in (rlkit_step, bare):  # warm-up (allocator, oneDNN/cuDNN kernel choice)
        timed(fn, max(3, args.updates // 5), device)
    ours, theirs = [], []
    for _ in range(args.repeats):
        ours.append(timed(rlkit_step, args.updates, device))
        theirs.append(timed(bare, args.updates, device))
    return statistics.median(ours), statistics.median(theirs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", nargs="+", default=["dqn", "rainbow"])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--updates", type=int, default=20, help="updates per timed round")
    parser.add_argument("--repeats", type=int, default=7, help="alternating rounds per side (medians)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--torch-threads", type=int, default=None)
    args = parser.parse_args()
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    print(f"learner: batch {args.batch}, 4x84x84 uint8, device {device}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, load {os.getloadavg()[0]:.1f}")
    print(f"{'agent':<10}{'rlkit upd/s':>14}{'bare upd/s':>14}{'ratio':>10}")
    for name in args.agents:
        ours, theirs = measure(name, args, device)
        print(f"{name:<10}{ours:>14.1f}{theirs:>14.1f}{ours / theirs:>10.3f}")


if __name__ == "__main__":
    main()
