"""``rlkit-eval <run dir | checkpoint dir | model.pt> [episodes=N] [epsilon=E] [video=true] ...``

Evaluates a saved agent on its own env (the run's ``config.yaml``, evaluation protocol included:
Atari eval envs play whole games under the frame cap), prints the raw-score statistics (and the
human-normalised score for Atari) and writes them as JSON. A run dir is evaluated from its final
weights (``model.pt``) or, for an unfinished run, its newest checkpoint. Weights are loaded with
``torch.load(weights_only=True)``: nothing in the files is executed.

Options (``key=value``): ``episodes`` (default: the run's ``eval.episodes``), ``epsilon`` (the run's
``eval.epsilon``), ``seed`` (the run's seed + 300000), ``num_envs`` (the run's ``eval.num_envs``),
``max_steps`` (agent-step budget), ``device`` (auto), ``video`` (false) and ``video_episodes`` (1),
``out`` (JSON path; default ``<run dir>/eval/<time>_<source>.json``). Exit status: 0 on success,
2 for bad arguments or unusable files.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from rlkit.training.checkpoint import (
    CheckpointError,
    find_checkpoint,
    load_agent_state,
    load_tensor_file,
    run_dir_of,
)

log = logging.getLogger("rlkit.eval")

OPTIONS: dict[str, type] = {
    "episodes": int,
    "epsilon": float,
    "seed": int,
    "num_envs": int,
    "max_steps": int,
    "device": str,
    "video": bool,
    "video_episodes": int,
    "out": str,
}
USAGE = (
    "usage: rlkit-eval <run dir | checkpoint dir | model.pt> [episodes=N] [epsilon=E] [seed=S] [num_envs=N]\n"
    "                  [max_steps=N] [device=auto|cpu|cuda] [video=true] [video_episodes=N] [out=FILE.json]"
)


class UsageError(ValueError):
    """Bad command-line arguments."""


def parse_args(argv: Sequence[str]) -> tuple[Path, dict[str, Any]]:
    if not argv:
        raise UsageError(USAGE)
    path, options = Path(argv[0]).expanduser(), {}
    for arg in argv[1:]:
        key, sep, text = arg.partition("=")
        if not sep or key not in OPTIONS:
            raise UsageError(f"unknown argument {arg!r}; options are {', '.join(f'{k}=' for k in OPTIONS)}\n{USAGE}")
        kind = OPTIONS[key]
        try:
            if kind is bool:
                if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(text)
                options[key] = text.lower() in ("true", "1", "yes")
            else:
                options[key] = kind(text)
        except ValueError:
            raise UsageError(f"{key}={text!r}: expected {kind.__name__}") from None
    for key in ("episodes", "num_envs", "video_episodes", "max_steps"):
        if key in options and options[key] < 1:
            raise UsageError(f"{key} must be >= 1, got {options[key]}")
    if "epsilon" in options and not 0.0 <= options["epsilon"] <= 1.0:
        raise UsageError(f"epsilon must lie in [0, 1], got {options['epsilon']}")
    return path, options


def locate(path: Path) -> tuple[Path, str, dict[str, torch.Tensor]]:
    """(run dir, description of the weights, online-network weights) for a run/checkpoint/model path."""
    if path.is_file():
        return path.parent, path.name, _load_weights_file(path)
    if not path.is_dir():
        raise CheckpointError(f"{path} does not exist")
    model = path / "model.pt"
    if model.is_file():
        return path, "model.pt", _load_weights_file(model)
    info = find_checkpoint(path)
    return run_dir_of(info.path), info.path.name, load_agent_state(info.path)["online"]


def _load_weights_file(file: Path) -> dict[str, torch.Tensor]:
    weights = load_tensor_file(file)
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise CheckpointError(f"{file} is not a state dict of tensors")
    return weights


def evaluate_saved(path: Path, options: dict[str, Any]) -> dict[str, Any]:
    """Evaluate the agent saved at ``path``; returns (and writes) the result."""
    import rlkit.components  # noqa: F401  (registers the built-in parts)
    from rlkit import registry
    from rlkit.training.builder import build_agent, import_user_modules
    from rlkit.training.evaluate import evaluate
    from rlkit.training.files import atomic_write_json
    from rlkit.utils.runtime import configure_threads, resolve_device, seed_everything

    run_dir, source, weights = locate(path)
    config_file = run_dir / "config.yaml"
    if not config_file.is_file():
        raise CheckpointError(f"{run_dir} has no config.yaml: cannot tell which env and network to build")
    cfg = OmegaConf.load(config_file)
    assert isinstance(cfg, DictConfig)
    import_user_modules(list(cfg.get("imports") or []))
    configure_threads("auto")
    seed = int(options.get("seed", int(cfg.seed) + 300_000))
    seed_everything(seed)
    device = resolve_device(str(options.get("device", "auto")))
    env_maker = registry.build("env", cfg.env)
    agent = build_agent(cfg, env_maker, device)
    try:
        agent.online.load_state_dict(weights)
    except RuntimeError as err:
        raise CheckpointError(f"the weights in {source} do not fit the network of {config_file}: {err}") from err
    agent.online.eval()

    episodes = int(options.get("episodes", cfg.eval.episodes))
    epsilon = float(options.get("epsilon", cfg.eval.epsilon))
    envs = env_maker.make_eval(num_envs=int(options.get("num_envs", cfg.eval.num_envs)), seed=seed)
    start = time.perf_counter()
    try:
        stats = evaluate(agent, envs, episodes=episodes, epsilon=epsilon, seed=seed, max_steps=options.get("max_steps"))
    finally:
        envs.close()
    game = env_maker.spec.game
    hns = None
    if game is not None and math.isfinite(stats["mean"]):
        from rlkit.analysis.hns import human_normalized_score

        try:
            hns = human_normalized_score(game, stats["mean"])
        except ValueError:
            log.warning("no human/random reference scores for %s", game)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    result: dict[str, Any] = {
        "run_dir": str(run_dir),
        "source": source,
        "env": str(cfg.env.get("id", cfg.env.get("name"))),
        "game": game,
        "epsilon": epsilon,
        "seed": seed,
        "episodes": stats["episodes"],
        "mean": stats["mean"],
        "std": stats["std"],
        "min": stats["min"],
        "max": stats["max"],
        "mean_length": stats["mean_length"],
        "returns": stats["returns"],
        "hns": hns,
        "steps": stats["steps"],
        "wall_time_s": time.perf_counter() - start,
        "video": None,
    }
    if options.get("video", False):
        from rlkit.envs.video import record_episodes

        video = run_dir / "eval" / f"{stamp}_{Path(source).stem}.mp4"
        record_episodes(
            agent, env_maker, video, episodes=int(options.get("video_episodes", 1)), epsilon=epsilon, seed=seed
        )
        result["video"] = str(video)
    out = Path(options["out"]) if "out" in options else run_dir / "eval" / f"{stamp}_{Path(source).stem}.json"
    atomic_write_json(out, result)
    result["json"] = str(out)
    return result


def format_result(result: dict[str, Any]) -> str:
    line = (
        f"{result['env']} ({result['source']}): {result['episodes']} episodes, epsilon {result['epsilon']}: "
        f"mean {result['mean']:.2f} ± {result['std']:.2f} (min {result['min']:.2f}, max {result['max']:.2f})"
    )
    if result["hns"] is not None:
        line += f", human-normalised {result['hns']:.3f}"
    lines = [line, f"written: {result['json']}"]
    if result["video"]:
        lines.append(f"video: {result['video']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["-h"], ["--help"]):
        print(__doc__.strip() + "\n\n" + USAGE)
        return 0
    try:
        path, options = parse_args(args)
        result = evaluate_saved(path, options)
    except UsageError as err:
        print(err, file=sys.stderr)
        return 2
    except CheckpointError as err:
        print(f"rlkit-eval: {err}", file=sys.stderr)
        return 2
    print(format_result(result))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
