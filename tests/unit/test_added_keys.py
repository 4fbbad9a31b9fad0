"""Keys added after a run was trained read as today's defaults for its command line, so they do not split a study."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from rlkit.analysis.report import ReportOptions, write_report
from rlkit.analysis.runs import load_runs
from rlkit.config import compose_config
from tests.smoke.test_report import write_run

COMMAND = ["agent=dqn", "env=cartpole"]
ADDED = ("learner_thread", "learner_max_lag")  # keys of the train node that older commits did not write


def _run(root: Path, name: str, seed: int, *, extra: tuple[str, ...] = (), drop: tuple[str, ...] = (),
         overrides: bool = True, final: float = 100.0) -> Path:
    """A run of ``rlkit-train COMMAND extra seed=N`` whose config lacks ``train.<drop>`` (as an older commit wrote it)."""
    command = [*COMMAND, *extra]
    config = OmegaConf.to_container(compose_config([*command, f"seed={seed}"]), resolve=True)
    for key in drop:
        del config["train"][key]
    run_dir = write_run(root / name, config, final)
    if overrides:
        hydra_overrides = [*command, f"seed={seed}", f"hydra.run.dir=runs/{name}"]
        (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(hydra_overrides))
    return run_dir


def _variants(root: Path) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for run in load_runs([root]).runs:
        out.setdefault(run.variant, []).append(run.seed)
    return {name: sorted(seeds) for name, seeds in out.items()}


def test_runs_from_before_a_key_existed_group_with_newer_runs(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    _run(root, "old0", 0, drop=ADDED)
    _run(root, "old1", 1, drop=ADDED)
    _run(root, "new2", 2)
    loaded = load_runs([root])
    assert {run.variant for run in loaded.runs} == {"dqn"}  # one variant: nothing tells the runs apart
    assert loaded.grouping.keys == []
    assert loaded.added_keys == {"train.learner_max_lag": {"runs": 2, "values": [1]},
                                 "train.learner_thread": {"runs": 2, "values": [False]}}

    report = write_report([root], tmp_path / "out", ReportOptions(reps=20))
    assert report["added_keys"] == loaded.added_keys
    assert [row["n_seeds"] for row in report["scores"]] == [3]
    md = (tmp_path / "out" / "report.md").read_text()
    assert "`train.learner_thread` = `False` (2 runs)" in md and "`train.learner_max_lag` = `1` (2 runs)" in md


def test_a_newer_run_that_changed_the_added_key_stays_apart(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    _run(root, "old0", 0, drop=ADDED)
    _run(root, "thread1", 1, extra=("train.learner_thread=true",))
    # the old run reads the default (false), not <missing>: the variants are named by the key's real values
    assert _variants(root) == {"train.learner_thread=false": [0], "train.learner_thread=true": [1]}


def test_the_default_follows_the_runs_own_command_line(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    _run(root, "old0", 0, extra=("train.learner_max_lag=3",), drop=("learner_max_lag",))  # lag 3 on its command line
    _run(root, "new1", 1)
    assert _variants(root) == {"train.learner_max_lag=1": [1], "train.learner_max_lag=3": [0]}


def test_without_a_command_line_the_key_reads_missing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "runs"
    _run(root, "old0", 0, drop=("learner_max_lag",), overrides=False)
    _run(root, "new1", 1)
    with caplog.at_level(logging.WARNING):
        assert _variants(root) == {"train.learner_max_lag=1": [1], "train.learner_max_lag=<missing>": [0]}
    assert "has no .hydra/overrides.yaml" in caplog.text


def test_a_command_line_that_no_longer_composes_reads_missing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "runs"
    old = _run(root, "old0", 0, drop=("learner_max_lag",))
    (old / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["agent=retired_agent", "seed=0"]))
    _run(root, "new1", 1)
    with caplog.at_level(logging.WARNING):
        assert _variants(root) == {"train.learner_max_lag=1": [1], "train.learner_max_lag=<missing>": [0]}
    assert "no longer composes" in caplog.text and "retired_agent" in caplog.text
