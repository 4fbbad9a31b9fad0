"""A real offline wandb run: quiet by default, and every file it writes stays in the run directory."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rlkit.logging.wandb_logger import WandbLogger

# A fresh process per run: wandb-core and wandb's settings are process-wide and read at the first init.
SCRIPT = textwrap.dedent("""
    import json, os, sys
    from pathlib import Path
    from rlkit.logging.wandb_logger import WandbLogger

    options = {} if sys.argv[2] == "default" else {"quiet": False}  # the default must be quiet
    logger = WandbLogger(run_dir=Path(sys.argv[1]), run_name="quiet", mode="offline", **options)
    logger.log_config({"lr": 1e-3})
    for step in range(1, 6):
        logger.log(step * 100, {"loss": 1.0 / step, "return": 10.0 * step})
    during = {var: os.environ.get(var) for var in ("WANDB_CACHE_DIR", "WANDB_DATA_DIR")}
    logger.close()
    after = {var: os.environ.get(var) for var in ("WANDB_CACHE_DIR", "WANDB_DATA_DIR")}
    Path(sys.argv[3]).write_text(json.dumps({"during": during, "after": after}))
""")
WANDB_VARS = ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR", "WANDB_SILENT", "WANDB_MODE",
              "WANDB_QUIET", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME")


def offline_run(tmp_path: Path, *, quiet: bool, **env: str) -> tuple[Path, Path, list[str], dict]:
    """Run SCRIPT (default ``quiet`` or ``quiet=False``) with HOME in ``tmp_path``, no wandb/XDG variables but ``env``.

    Returns (home, run dir, console lines, the redirect variables during and after the run).
    """
    home, report = tmp_path / "home", tmp_path / "env.json"
    run_dir = home / "outputs" / "run"
    home.mkdir()
    child_env = {k: v for k, v in os.environ.items() if k not in WANDB_VARS}
    child_env.update(HOME=str(home), PYTHONUNBUFFERED="1", **env)
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(run_dir), "default" if quiet else "loud", str(report)],
                          check=False, env=child_env, cwd=home, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return home, run_dir, (proc.stdout + proc.stderr).splitlines(), json.loads(report.read_text())


@pytest.mark.timeout(60)
def test_offline_run_is_quiet_and_writes_only_in_the_run_dir(tmp_path):
    home, run_dir, lines, env = offline_run(tmp_path, quiet=True)
    assert len(lines) <= 2 and not [line for line in lines if line.startswith("wandb:")], lines
    outside = [p for p in home.rglob("*") if run_dir != p and run_dir not in p.parents and p not in run_dir.parents]
    assert outside == [], outside  # no ~/.cache/wandb, ~/.config/wandb, ~/.local/share/wandb
    assert len(list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))) == 1
    wandb_dir = run_dir / "wandb"
    assert env["during"] == {"WANDB_CACHE_DIR": str(wandb_dir / "cache"), "WANDB_DATA_DIR": str(wandb_dir / "data")}
    assert env["after"] == {"WANDB_CACHE_DIR": None, "WANDB_DATA_DIR": None}


@pytest.mark.timeout(60)
def test_quiet_false_brings_wandb_output_back_and_user_dirs_win(tmp_path):
    user_cache = tmp_path / "user-cache"
    _, run_dir, lines, env = offline_run(tmp_path, quiet=False, WANDB_CACHE_DIR=str(user_cache))
    assert any(line.startswith("wandb: ") and "wandb sync" in line for line in lines), lines
    assert env["during"]["WANDB_CACHE_DIR"] == env["after"]["WANDB_CACHE_DIR"] == str(user_cache)
    assert env["during"]["WANDB_DATA_DIR"] == str(run_dir / "wandb" / "data") and env["after"]["WANDB_DATA_DIR"] is None


def test_quiet_is_a_keyword_only_flag_on_by_default():
    quiet = inspect.signature(WandbLogger).parameters["quiet"]
    assert quiet.kind is inspect.Parameter.KEYWORD_ONLY and quiet.default is True
