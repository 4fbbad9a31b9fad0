"""experiments/minatar/seaquest_v1_0_10.sh: DQN on Seaquest as minatar <= 1.0.10 played it (the published curves')."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import study_copy

pytest.importorskip("minatar")


def _seaquest(package_root: Path | None):
    """A fresh Seaquest game from the minatar under ``package_root`` (the installed one when None)."""
    code = ("import json, sys\n"
            "from minatar.environments.seaquest import Env\n"
            "out = {}\n"
            "for oxygen in (1, 0, -1):\n"
            "    env = Env(ramping=True); env.reset(); env.sub_y = 5; env.oxygen = oxygen\n"
            "    bar = int(env.state()[9, :, env.channels['oxygen_guage']].sum())\n"
            "    env.act(0)\n"  # a step under water: the game checks its oxygen, then uses one unit
            "    out[oxygen] = [bar, bool(env.terminal)]\n"
            "print(json.dumps(out))\n")
    env = {**os.environ, "PYTHONPATH": str(package_root) if package_root else ""}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                          timeout=120)
    return proc.stdout.strip()


def test_the_script_trains_its_variant_on_seaquest_with_the_two_lines_of_v1_0_10(tmp_path):
    study, env = study_copy(tmp_path, "minatar", "seaquest_v1_0_10.sh")
    env |= {"SEEDS": "0 2", "DQN_STEPS": "1000"}
    code = env["RLKIT_STUDY_CODE"]
    proc = subprocess.run(["bash", "seaquest_v1_0_10.sh"], cwd=study, env=env, capture_output=True, text=True,
                          check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    old_game = tmp_path / ".cache" / "rlkit-minatar-seaquest-v1.0.10"
    for seed in (0, 2):
        log = (study / "runs" / "seaquest" / "dqn_seaquest_v1_0_10" / f"seed{seed}" / "stdout.log").read_text()
        assert log.startswith(f"PYTHONPATH={old_game}:{code} ")  # the old game first, then the pinned code
        assert (f"experiment=minatar_dqn env.game=seaquest seed={seed} train.steps=1000 torch_threads=1" in log
                and "variant=dqn_seaquest_v1_0_10" in log)
    # oxygen -> [bar cells shown, episode over after a step under water]
    assert _seaquest(None) == '{"1": [0, false], "0": [0, true], "-1": [0, true]}'  # 1.0.11+: ends at 0, bar empty
    assert _seaquest(old_game) == '{"1": [0, false], "0": [0, false], "-1": [9, true]}'  # 1.0.10: at -1, bar full
