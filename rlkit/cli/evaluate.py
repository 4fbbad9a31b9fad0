"""rlkit-eval: evaluate a saved agent (run dir, checkpoint dir or model.pt) on its own env; see ``HELP``.

Only the standard library is imported at module level, so ``--help`` and argument errors answer at
once; torch, OmegaConf and the training code are imported when an evaluation starts.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import torch

log = logging.getLogger("rlkit.eval")


class Option(NamedTuple):
    """One ``key=value`` option: its value's type, its placeholder and its line in ``--help``."""

    kind: type
    metavar: str
    help: str


OPTIONS: dict[str, Option] = {
    "episodes": Option(int, "N", "episodes to play (default: the run's eval.episodes)"),
    "epsilon": Option(float, "E", "exploration rate while acting, in [0, 1] (default: the run's eval.epsilon)"),
    "seed": Option(int, "S", "environment and torch seed (default: the run's seed + 300000)"),
    "num_envs": Option(int, "N", "environments played side by side (default: the run's eval.num_envs)"),
    "max_steps": Option(int, "N", "stop after this many agent steps (default: no limit)"),
    "device": Option(str, "auto|cpu|cuda", "device for the network (default: auto, CUDA when available)"),
    "threads": Option(str, "N|auto", "torch intra-op CPU threads (default: auto)"),
    "video": Option(bool, "true|false", "also record episodes as an mp4 next to the JSON (default: false)"),
    "video_episodes": Option(int, "N", "episodes recorded when video=true (default: 1)"),
    "out": Option(str, "FILE.json", "where to write the result (default: <run dir>/eval/<time>_<source>.json)"),
}
POSITIVE = ("episodes", "num_envs", "video_episodes", "max_steps")
USAGE = "usage: rlkit-eval PATH [key=value ...]"
HELP = "\n".join([
    USAGE,
    "",
    "Evaluate a saved agent on the environment it was trained on, print its score statistics (mean, std,",
    "min, max; the human-normalised score for Atari) and write them as JSON.",
    "",
    "PATH is a run directory (its final weights, model.pt, or for an unfinished run its newest checkpoint),",
    "a checkpoint directory (<run dir>/checkpoints/step_N) or a model.pt file. The env, network and",
    "evaluation protocol come from the run's config.yaml. Weights are loaded with",
    "torch.load(weights_only=True): nothing in the files is executed.",
    "",
    "options:",
    *(f"  {f'{key}={opt.metavar}':<26}{opt.help}" for key, opt in OPTIONS.items()),
    f"  {'-h, --help':<26}show this help and exit",
    "",
    "exit status: 0 on success, 2 for bad arguments or unusable files.",
])


class UsageError(ValueError):
    """Bad command-line arguments."""


def _parse_value(key: str, text: str) -> Any:
    kind = OPTIONS[key].kind
    if key == "threads":
        if text == "auto":
            return text
        try:
            threads = int(text)
        except ValueError:
            threads = 0
        if threads < 1:
            raise UsageError(f"threads={text!r}: expected 'auto' or an integer >= 1")
        return threads
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        return kind(text)
    except ValueError:
        raise UsageError(f"{key}={text!r}: expected {kind.__name__}") from None


def parse_args(argv: Sequence[str]) -> tuple[Path, dict[str, Any]]:
    """(path, options) from ``PATH key=value ...``; raises :class:`UsageError` on anything invalid."""
    if not argv:
        raise UsageError(f"missing PATH\n{USAGE}")
    path, options = Path(argv[0]).expanduser(), {}
    for arg in argv[1:]:
        key, sep, text = arg.partition("=")
        if not sep or key not in OPTIONS:
            raise UsageError(f"unknown argument {arg!r}; options are {', '.join(f'{k}=' for k in OPTIONS)}\n{USAGE}")
        options[key] = _parse_value(key, text)
    for key in POSITIVE:
        if key in options and options[key] < 1:
            raise UsageError(f"{key} must be >= 1, got {options[key]}")
    if "epsilon" in options and not 0.0 <= options["epsilon"] <= 1.0:
        raise UsageError(f"epsilon must lie in [0, 1], got {options['epsilon']}")
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    return path, options


def locate(path: Path) -> tuple[Path, str, dict[str, torch.Tensor]]:
    """(run dir, description of the weights, online-network weights) for a run/checkpoint/model path."""
    from rlkit.training.checkpoint import CheckpointError, find_checkpoint, load_agent_state, run_dir_of

    if path.is_file():
        return path.parent, path.name, _load_weights_file(path)
    if not path.is_dir():
        raise CheckpointError(f"{path} does not exist")
    model = path / "model.pt"
    if model.is_file():
        return path, "model.pt", _load_weights_file(model)
    try:
        info = find_checkpoint(path)
    except CheckpointError as err:
        raise CheckpointError(
            f"{path} has no model.pt (written when a run finishes) and no checkpoint "
            "(checkpoints/step_N, written every checkpoint.every steps)") from err
    return run_dir_of(info.path), info.path.name, load_agent_state(info.path)["online"]


def _load_weights_file(file: Path) -> dict[str, torch.Tensor]:
    import torch

    from rlkit.training.checkpoint import CheckpointError, load_tensor_file

    weights = load_tensor_file(file)
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise CheckpointError(f"{file} is not a state dict of tensors")
    return weights


def evaluate_saved(path: Path, options: dict[str, Any]) -> dict[str, Any]:
    """Evaluate the agent saved at ``path`` with the parsed command-line ``options``; returns (and writes) the result.

    Raises ``rlkit.training.checkpoint.CheckpointError`` for missing, unsafe or mismatched files.
    """
    from omegaconf import DictConfig, OmegaConf

    import rlkit.components  # noqa: F401  (registers the built-in parts)
    from rlkit import registry
    from rlkit.training.builder import build_agent, import_user_modules
    from rlkit.training.checkpoint import CheckpointError
    from rlkit.training.evaluate import evaluate
    from rlkit.utils.files import atomic_write_json
    from rlkit.utils.runtime import resolve_device, seed_everything
    from rlkit.utils.threads import configure_threads, forward_flops

    run_dir, source, weights = locate(path)
    config_file = run_dir / "config.yaml"
    if not config_file.is_file():
        raise CheckpointError(f"{run_dir} has no config.yaml: cannot tell which env and network to build")
    cfg = OmegaConf.load(config_file)
    assert isinstance(cfg, DictConfig)
    import_user_modules(list(cfg.get("imports") or []))
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
    num_envs = int(options.get("num_envs", cfg.eval.num_envs))
    setting = options.get("threads", "auto")  # auto: threads by the acting batch's work (rlkit.utils.threads)
    work = forward_flops(agent.online, env_maker.spec.obs_shape, num_envs) if setting == "auto" else None
    configure_threads(setting, work_flops=work)
    envs = env_maker.make_eval(num_envs=num_envs, seed=seed)
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
    """Run ``rlkit-eval``; returns the exit status (0 done, 2 bad arguments or unusable files)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if any(arg in ("-h", "--help") for arg in args):
        print(HELP)
        return 0
    try:
        path, options = parse_args(args)
    except UsageError as err:
        print(f"rlkit-eval: {err}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from rlkit.training.checkpoint import CheckpointError

    try:
        result = evaluate_saved(path, options)
    except CheckpointError as err:
        print(f"rlkit-eval: {err}", file=sys.stderr)
        return 2
    print(format_result(result))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
