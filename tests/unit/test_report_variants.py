"""Variant grouping: runs that share a `variant` name but differ in config are never merged."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from rlkit.analysis.report import ReportOptions, write_report
from rlkit.analysis.runs import load_runs
from tests.smoke.test_report import run_config, write_run

PLAIN = ["agent=rainbow"]  # `rlkit-train agent=rainbow seed=N`
TD_DUELING = ["agent=rainbow", "network/head=dueling", "loss=td"]
TD_NAME = "rainbow[loss.name=td,network.head.name=dueling]"


def _rainbow(seed: int, *, td: bool, task: str = "CartPole-v1") -> dict:
    """Rainbow's resolved config, or with `network/head=dueling loss=td` (which also drops/adds component keys)."""
    config = run_config("rainbow", task, seed)
    if td:
        config["loss"] = {"name": "td", "kind": "huber", "huber_delta": 1.0}
        config["network"]["head"] = {"name": "dueling"}
    else:
        config["loss"] = {"name": "categorical"}
        config["network"]["head"] = {"name": "dueling_c51", "num_atoms": 51, "v_min": 0.0, "v_max": 100.0}
    return config


def _run(root: Path, name: str, config: dict, final: float = 100.0, overrides: list[str] | None = None) -> Path:
    run_dir = write_run(root / name, config, final)
    if overrides is not None:
        hydra_overrides = [*overrides, f"seed={config['seed']}", "logger.console.enabled=false"]
        (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(hydra_overrides))
    return run_dir


def _variants(root: Path) -> dict[str, list[tuple[str, int]]]:
    loaded = load_runs([root])
    out: dict[str, list[tuple[str, int]]] = {}
    for run in sorted(loaded.runs, key=lambda r: (r.task, r.seed)):
        out.setdefault(run.variant, []).append((run.task, run.seed))
    return out


def _issue_runs(root: Path, *, overrides: bool = True) -> Path:
    """The issue's runs: rainbow seed 0, rainbow + dueling/td seeds 0 and 1, and a dqn run (so `variant` differs)."""
    _run(root, "plain0", _rainbow(0, td=False), 300.0, PLAIN if overrides else None)
    for seed in (0, 1):
        _run(root, f"td{seed}", _rainbow(seed, td=True), 100.0 + seed, TD_DUELING if overrides else None)
    _run(root, "dqn0", run_config("dqn", "CartPole-v1", 0), 50.0, ["agent=dqn"] if overrides else None)
    return root


def test_same_variant_name_with_other_config_becomes_a_sub_variant_named_by_its_keys(tmp_path):
    root = _issue_runs(tmp_path / "runs")
    assert _variants(root) == {
        "dqn": [("CartPole-v1", 0)],
        "rainbow": [("CartPole-v1", 0)],  # the plain preset: the other's overrides extend its own
        TD_NAME: [("CartPole-v1", 0), ("CartPole-v1", 1)],
    }
    grouping = load_runs([root]).grouping
    assert grouping.keys == ["variant"]
    # component keys (loss.kind, network.head.num_atoms, ...) follow from the component names: left out
    assert grouping.split == {"rainbow": ["loss.name", "network.head.name"]}


def test_report_keeps_sub_variants_apart_and_says_why(tmp_path):
    root = _issue_runs(tmp_path / "runs")
    report = write_report([root], tmp_path / "out", ReportOptions(reps=20))
    assert report["variants"] == {"dqn": {"runs": 1}, "rainbow": {"runs": 1}, TD_NAME: {"runs": 2}}
    scores = {r["variant"]: (r["n_seeds"], r["score_mean"]) for r in report["scores"]}
    assert scores == {"dqn": (1, 50.0), "rainbow": (1, 300.0), TD_NAME: (2, 100.5)}
    md = (tmp_path / "out" / "report.md").read_text()
    assert (f"Runs named `rainbow` differ in config (`loss.name`, `network.head.name`): kept apart as `rainbow`, "
            f"`{TD_NAME}`") in md
    assert json.loads((tmp_path / "out" / "report.json").read_text())["grouping"]["split"] == {
        "rainbow": ["loss.name", "network.head.name"]}


def test_without_overrides_files_every_sub_variant_carries_its_keys(tmp_path):
    root = _issue_runs(tmp_path / "runs", overrides=False)
    assert set(_variants(root)) == {"dqn", "rainbow[loss.name=categorical,network.head.name=dueling_c51]", TD_NAME}


def test_bare_name_only_when_one_sub_variant_is_unambiguously_the_base(tmp_path):
    # neither override set contains the other: both carry their keys
    _run(tmp_path / "a", "lr", {**_rainbow(0, td=False), "optim": {"lr": 0.001}}, overrides=[*PLAIN, "optim.lr=0.001"])
    _run(tmp_path / "a", "td", {**_rainbow(0, td=True), "optim": {"lr": 0.0005}}, overrides=TD_DUELING)
    _run(tmp_path / "a", "dqn", run_config("dqn", "CartPole-v1", 0), overrides=["agent=dqn"])
    assert set(_variants(tmp_path / "a")) == {
        "dqn", "rainbow[loss.name=categorical,network.head.name=dueling_c51,optim.lr=0.001]",
        "rainbow[loss.name=td,network.head.name=dueling,optim.lr=0.0005]"}
    # the same overrides (the config differs for another reason): no base
    _run(tmp_path / "b", "s0", _rainbow(0, td=False), overrides=PLAIN)
    _run(tmp_path / "b", "s1", {**_rainbow(1, td=False), "imports": ["my_parts"]}, overrides=PLAIN)
    _run(tmp_path / "b", "dqn", run_config("dqn", "CartPole-v1", 0), overrides=["agent=dqn"])
    assert set(_variants(tmp_path / "b")) == {"dqn", 'rainbow[imports=[]]', 'rainbow[imports=["my_parts"]]'}


def test_sub_variants_are_named_alike_on_every_task(tmp_path):
    """Keys are collected per task (env keys never count); a task with one config still gets the same names."""
    _run(tmp_path, "cp_plain", _rainbow(0, td=False), overrides=PLAIN)
    _run(tmp_path, "ac_plain", _rainbow(0, td=False, task="Acrobot-v1"), overrides=[*PLAIN, "env=acrobot"])
    _run(tmp_path, "ac_td", _rainbow(0, td=True, task="Acrobot-v1"), overrides=[*TD_DUELING, "env=acrobot"])
    _run(tmp_path, "dqn", run_config("dqn", "Acrobot-v1", 0), overrides=["agent=dqn", "env=acrobot"])
    assert _variants(tmp_path) == {"dqn": [("Acrobot-v1", 0)], "rainbow": [("Acrobot-v1", 0), ("CartPole-v1", 0)],
                                   TD_NAME: [("Acrobot-v1", 0)]}


def test_train_steps_splits_and_resume_or_checkpoint_settings_do_not(tmp_path):
    """A run of another length is another experiment; a resumed (or checkpointed) run is the same one."""
    _run(tmp_path, "short", {**_rainbow(0, td=False), "train": {"steps": 1000}})
    _run(tmp_path, "long", {**_rainbow(1, td=False), "train": {"steps": 2000}})
    _run(tmp_path, "resumed", {**_rainbow(2, td=False), "train": {"steps": 2000}, "checkpoint": {"every": 500},
                               "resume": str(tmp_path / "long" / "checkpoints" / "step_500")})
    _run(tmp_path, "dqn", run_config("dqn", "CartPole-v1", 0))
    assert _variants(tmp_path) == {"dqn": [("CartPole-v1", 0)], "rainbow[train.steps=1000]": [("CartPole-v1", 0)],
                                   "rainbow[train.steps=2000]": [("CartPole-v1", 1), ("CartPole-v1", 2)]}


def test_shared_variant_is_named_by_component_names_when_they_tell_runs_apart(tmp_path):
    """Rule 2 (every run shares `variant`): component keys implied by a differing `*.name` are left out..."""
    _run(tmp_path / "a", "plain", _rainbow(0, td=False))
    _run(tmp_path / "a", "td", _rainbow(0, td=True))
    loaded = load_runs([tmp_path / "a"])
    assert loaded.grouping.keys == ["loss.name", "network.head.name"]
    assert {r.variant for r in loaded.runs} == {"loss.name=categorical,network.head.name=dueling_c51",
                                                "loss.name=td,network.head.name=dueling"}
    # ... but kept when the names alone would merge runs whose configs differ (huber_delta 1 vs 2)
    _run(tmp_path / "b", "plain", _rainbow(0, td=False))
    _run(tmp_path / "b", "td1", _rainbow(0, td=True))
    delta2 = _rainbow(1, td=True)
    delta2["loss"]["huber_delta"] = 2.0
    _run(tmp_path / "b", "td2", delta2)
    loaded = load_runs([tmp_path / "b"])
    assert "loss.huber_delta" in loaded.grouping.keys and len({r.variant for r in loaded.runs}) == 3


def test_minatar_runs_are_their_own_tasks_not_atari_games(tmp_path):
    """MinAtar's games share Atari's names (breakout, seaquest, ...): they must not get Atari's human scores."""
    config = run_config("rainbow", "CartPole-v1", 0)
    config["env"] = {"name": "minatar", "game": "breakout", "id": "minatar_breakout", "frame_skip": 1}
    _run(tmp_path, "minatar", config)
    (run,) = load_runs([tmp_path]).runs
    assert run.game is None and run.task == "minatar_breakout"


def test_fast_paths_that_compute_the_same_updates_do_not_split_a_variant(tmp_path):
    """A study whose later runs gained optim.fused / channels-last / compile (same updates up to rounding) stays one
    variant; a key that changes the algorithm still splits it."""
    old = _rainbow(0, td=False)
    old["optim"] = {"name": "adam"}  # before fused Adam: no such key
    new = _rainbow(1, td=False)
    new["optim"] = {"name": "adam", "fused": None}
    new["network"]["torso"]["channels_last"] = True
    new.update(compile=True, sync_free=True)
    _run(tmp_path / "a", "seed0", old)
    _run(tmp_path / "a", "seed1", new)
    assert _variants(tmp_path / "a") == {"rainbow": [("CartPole-v1", 0), ("CartPole-v1", 1)]}
    other = _rainbow(2, td=False)
    other["train"]["steps"] = 123
    _run(tmp_path / "a", "seed2", other)
    assert len(_variants(tmp_path / "a")) == 2
