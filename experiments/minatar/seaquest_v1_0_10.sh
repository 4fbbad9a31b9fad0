#!/usr/bin/env bash
# Diagnostic: DQN on the Seaquest that the published MinAtar curves were measured on (minatar <= 1.0.10).
#
# rlkit's DQN Seaquest runs lie above the published curve (report/report.md), and MinAtar changed that game after
# the papers: its commit da3dc2d (October 2022, v1.0.11) ends an episode at oxygen 0 instead of -1, and stops the
# oxygen bar from showing full on the step before the sub runs out (its slice 0:-1 filled the bar). MinAtar's README
# says its own Seaquest results are for v1.0.10 and lower. This script reverts those two lines in a copy of the
# installed minatar (>= 1.0.15; the rest of 1.0.15's Seaquest differs from 1.0.10 only in how it draws the same
# random events) and trains the study's DQN Seaquest runs on it, as variant dqn_seaquest_v1_0_10:
#   bash seaquest_v1_0_10.sh            # seeds 0 1 2, one after another (SEEDS="0" for fewer)
#   bash run_study.sh collect           # diagnostics/report: these runs beside the study's DQN Seaquest runs
set -euo pipefail
source "$(dirname "${RLKIT_STUDY_SCRIPT:-$0}")/../study.sh"
run_from_copy "$@"
TRAIN="${RLKIT_TRAIN:-rlkit-train}"
read -r -a SEEDS <<< "${SEEDS:-0 1 2}"
VARIANT=dqn_seaquest_v1_0_10
OLD_GAME="${XDG_CACHE_HOME:-$HOME/.cache}/rlkit-minatar-seaquest-v1.0.10"

python - "$OLD_GAME" <<'EOF'
import pathlib, shutil, sys
import minatar
target = pathlib.Path(sys.argv[1]) / "minatar"
if not target.exists():
    shutil.copytree(pathlib.Path(minatar.__file__).parent, target, ignore=shutil.ignore_patterns("__pycache__"))
    game = target / "environments" / "seaquest.py"
    text = game.read_text()
    for fixed, old in [
        ("if(self.oxygen<=0):", "if(self.oxygen<0):"),
        ("0:max(0,self.oxygen)*10//max_oxygen", "0:self.oxygen*10//max_oxygen"),
    ]:
        if text.count(fixed) != 1:
            shutil.rmtree(target.parent)
            sys.exit(f"expected one {fixed!r} in {game} (minatar >= 1.0.11); found {text.count(fixed)}")
        text = text.replace(fixed, old)
    game.write_text(text)
print(f"Seaquest as in minatar 1.0.10: {target}")
EOF

pin_code 833307b  # the code of the study's runs
export PYTHONPATH="$OLD_GAME:$PYTHONPATH"  # the old game before the installed minatar
for seed in "${SEEDS[@]}"; do
  dir="runs/seaquest/$VARIANT/seed$seed"
  mkdir -p "$dir"
  $TRAIN experiment=minatar_dqn env.game=seaquest "seed=$seed" train.steps="${DQN_STEPS:-2000000}" torch_threads=1 \
    eval.every_steps=100_000 checkpoint.every=250_000 logger.console.show_progress=false "variant=$VARIANT" \
    "hydra.run.dir=$dir" >> "$dir/stdout.log" 2>&1 \
    || echo "run $VARIANT seed$seed exited with status $? (rerun this script to continue it)"
done
