"""`rlkit-train` as users run it: a real subprocess, editable install and built wheel."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import cli_env, read_jsonl, run_cli

REPO = Path(__file__).resolve().parents[2]
TINY = ["train.steps=600", "train.learning_starts_steps=200", "eval.every_steps=300", "eval.episodes=2",
        "eval.final_episodes=2",
        "train.log_every_steps=100", "torch_threads=1"]
RUN_FILES = ["config.yaml", "metrics.jsonl", "summary.json", "learning_curve.png", "model.pt"]


def _check_run_dir(run_dir: Path) -> dict:
    for name in RUN_FILES:
        assert (run_dir / name).is_file() and (run_dir / name).stat().st_size > 0, name
    assert (run_dir / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = read_jsonl(run_dir / "metrics.jsonl")
    keys = set().union(*rows)
    for key in ("step", "charts/episodic_return", "eval/episodic_return", "charts/SPS", "losses/td_loss"):
        assert key in keys, key
    assert all(isinstance(r["step"], int) for r in rows)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 600 and summary["final_eval"]["episodes"] == 2
    assert {"mean", "std"} <= set(summary["final_eval"]) and summary["wall_time_s"] > 0
    import torch

    weights = torch.load(run_dir / "model.pt", weights_only=True)
    assert any(k.endswith("weight_mu") for k in weights)  # default agent is Rainbow (noisy layers)
    return summary


def test_rlkit_train_writes_every_run_file(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_cli("rlkit-train", [f"hydra.run.dir={run_dir}", "logger.wandb.mode=offline", *TINY], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _check_run_dir(run_dir)
    assert list((run_dir / "tb").glob("events.out.tfevents.*"))
    assert list(run_dir.rglob("*.wandb")), "offline wandb run files"
    resolved = (run_dir / "config.yaml").read_text()
    assert "name: categorical" in resolved and "${" not in resolved  # rainbow's dueling_c51 head, resolved


def test_user_component_registered_in_own_module_is_selectable(tmp_path):
    (tmp_path / "my_parts.py").write_text(textwrap.dedent('''
        import torch
        from rlkit.registry import register

        @register("network/torso", "tiny_mlp")
        class TinyMLP(torch.nn.Module):
            def __init__(self, *, obs_shape, width: int = 8):
                super().__init__()
                self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(obs_shape[0], width), torch.nn.Tanh())
                self.out_features = width

            def forward(self, x):
                return self.net(x.float())
    '''))
    conf = tmp_path / "my_conf" / "network" / "torso"
    conf.mkdir(parents=True)
    (conf / "tiny_mlp.yaml").write_text("name: tiny_mlp\nwidth: 7\n")
    env = cli_env(tmp_path)
    env["PYTHONPATH"] = str(tmp_path)
    run_dir = tmp_path / "run"
    args = [f"hydra.run.dir={run_dir}", "imports=[my_parts]", f"hydra.searchpath=[file://{tmp_path / 'my_conf'}]",
            "network/torso=tiny_mlp", "agent=dqn", "logger.wandb.enabled=false", *TINY]
    proc = run_cli("rlkit-train", args, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import torch

    weights = torch.load(run_dir / "model.pt", weights_only=True)
    assert weights["torso.net.1.weight"].shape == (7, 4)


def test_unknown_component_fails_with_valid_names(tmp_path):
    proc = run_cli("rlkit-train", [f"hydra.run.dir={tmp_path / 'r'}", "network.head.name=dueling_c5", *TINY],
                   cwd=tmp_path)
    assert proc.returncode != 0
    assert "valid names: dueling, q" in proc.stderr and "set network.head.name=dueling" in proc.stderr


@pytest.mark.timeout(900)
def test_built_wheel_entry_point_runs_outside_the_repo(tmp_path):
    """The wheel carries conf/ as rlkit.conf: the console script works with no checkout around."""
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist),
                    str(REPO)], check=True, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    wheel = next(dist.glob("rlkit-*.whl"))
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "--target", str(target),
                    str(wheel)], check=True, capture_output=True, text=True, timeout=600)
    assert (target / "rlkit" / "conf" / "agent" / "rainbow.yaml").is_file()
    assert (target / "rlkit" / "analysis" / "data" / "atari57_random_human.csv").is_file()
    script = target / "bin" / "rlkit-train"
    env = cli_env(tmp_path)
    env["PYTHONPATH"] = str(target)
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    run_dir = tmp_path / "run"
    proc = subprocess.run([sys.executable, str(script), f"hydra.run.dir={run_dir}", "logger.wandb.enabled=false", *TINY],
                          cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _check_run_dir(run_dir)
    code = ("import rlkit, rlkit.conf; from rlkit.analysis.hns import human_normalized_score as h; "
            "print(rlkit.__file__); print(h('pong', 14.6))")
    probe = subprocess.run([sys.executable, "-c", code], cwd=workdir, env=env, capture_output=True, text=True, check=True)
    module_file, hns = probe.stdout.split()
    assert module_file.startswith(str(target)), "the wheel, not the checkout, was imported"
    assert float(hns) == 1.0  # the packaged human score
    shutil.rmtree(target)
