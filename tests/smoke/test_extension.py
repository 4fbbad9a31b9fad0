"""A user adds a distributional head or a target rule from outside the package: one Python file and one
YAML, selected from the command line, validated like the built-in parts and trained."""

from __future__ import annotations

import json
import math
import textwrap

import torch

from tests.helpers import cli_env, read_jsonl, run_cli

TINY = ["train.steps=600", "train.learning_starts_steps=200", "eval.every_steps=0", "eval.episodes=2",
        "train.log_every_steps=100", "torch_threads=1", "logger.wandb.enabled=false", "agent=dqn"]

# A quantile output at fractions the user lists (for instance to weight the tails): kind "quantile", so the
# built-in quantile_huber loss and every target rule work with it unchanged.
OUTPUT_KIND = '''
    import torch
    from rlkit.networks.outputs import OutputKind, QuantileValues
    from rlkit.registry import register

    @register("network/output", "listed_quantiles")
    class ListedQuantiles(OutputKind):
        kind = "quantile"

        def __init__(self, *, in_features: int = 0, taus: list[float] = (0.1, 0.5, 0.9)):
            super().__init__()
            self.atoms = len(taus)
            self.register_buffer("taus", torch.tensor(list(taus)), persistent=False)

        def wrap(self, raw, taus):
            return QuantileValues(raw, self.taus.expand(raw.shape[0], -1))
'''

# Expected SARSA under the target network's epsilon-greedy policy: a target rule that is neither greedy nor soft.
TARGET_RULE = '''
    import torch
    from rlkit.registry import register
    from rlkit.targets import NextPolicy

    @register("target", "expected_sarsa")
    class ExpectedSarsa:
        needs_online_next = False
        needs_target_obs = False

        def __init__(self, *, epsilon: float = 0.1):
            self.epsilon = epsilon

        def __call__(self, *, target_next, online_next=None, target_obs=None, actions=None):
            q = target_next.q_values
            greedy = torch.nn.functional.one_hot(q.argmax(1), q.shape[1]).to(q.dtype)
            return NextPolicy(weights=(1 - self.epsilon) * greedy + self.epsilon / q.shape[1])
'''


def _run_with_part(tmp_path, module: str, source: str, yaml_path: str, yaml: str, overrides: list[str]):
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
    conf = tmp_path / "user_conf" / yaml_path
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(textwrap.dedent(yaml))
    env = cli_env(tmp_path)
    env["PYTHONPATH"] = str(tmp_path)
    run_dir = tmp_path / "run"
    args = [f"hydra.run.dir={run_dir}", f"imports=[{module}]", f"hydra.searchpath=[file://{tmp_path / 'user_conf'}]",
            *overrides, *TINY]
    return run_cli("rlkit-train", args, cwd=tmp_path, env=env), run_dir


def test_user_distributional_head_is_one_file_and_one_yaml(tmp_path):
    head_yaml = """
        name: q
        hidden_sizes: [32]
        output: {name: listed_quantiles, taus: [0.1, 0.3, 0.5, 0.7, 0.9]}
    """
    proc, run_dir = _run_with_part(tmp_path, "my_quantiles", OUTPUT_KIND, "network/head/listed_q.yaml", head_yaml,
                                   ["network/head=listed_q", "loss=quantile_huber"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    weights = torch.load(run_dir / "model.pt", weights_only=True)
    assert weights["head.net.2.weight"].shape == (2 * 5, 32)  # 2 actions x 5 listed quantiles
    assert any("losses/td_loss" in row for row in read_jsonl(run_dir / "metrics.jsonl"))
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 600
    # validation knows its kind from the declaration: a scalar loss is refused before anything is written
    proc, _ = _run_with_part(tmp_path, "my_quantiles", OUTPUT_KIND, "network/head/listed_q.yaml", head_yaml,
                             ["network/head=listed_q", "loss=td", f"hydra.run.dir={tmp_path / 'refused'}"])
    assert proc.returncode == 2 and "outputs quantile values" in proc.stderr and "loss=quantile_huber" in proc.stderr
    assert not (tmp_path / "refused").exists()


def test_user_target_rule_is_one_file_and_one_yaml(tmp_path):
    proc, run_dir = _run_with_part(tmp_path, "my_rules", TARGET_RULE, "target/expected_sarsa.yaml",
                                   "name: expected_sarsa\nepsilon: 0.2\n", ["target=expected_sarsa"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    config = (run_dir / "config.yaml").read_text()
    assert "name: expected_sarsa" in config and "epsilon: 0.2" in config
    losses = [row["losses/td_loss"] for row in read_jsonl(run_dir / "metrics.jsonl") if "losses/td_loss" in row]
    assert losses and all(math.isfinite(value) for value in losses)  # trained, finite
