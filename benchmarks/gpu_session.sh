#!/usr/bin/env bash
# Issue 13's GPU checks as one prepared run on a lent CUDA machine, in about 8 minutes: the CUDA tests
# (pytest -m gpu), the learner with and without compile, fused Adam and channels-last on and off, DQN on
# Pong against Stable-Baselines3 (rlkit synchronous, pipelined and with the learner thread), and DER (also
# with the learner thread) / Rainbow agent steps/s. Logs and figures go to $OUT.
#
# The device image has torch but not rlkit's other dependencies, and no network: they travel as wheels.
#   here, once:    bash benchmarks/gpu_session.sh --fetch-wheels     # -> .whl/ (keep it out of git:
#                                                                    #    echo /.whl/ >> .git/info/exclude)
#   on the device: bash benchmarks/gpu_session.sh                    # carry .whl; timeout ~540 s
# Prepared on a machine without a GPU: it has not run on one yet.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/rlkit-gpu}"
PY="${PYTHON:-python3}"
WHEELS=(gymnasium==1.4.0 farama-notifications==0.0.6 ale-py==0.12.1 hydra-core==1.3.8 omegaconf==2.3.0
        stable-baselines3==2.9.2)

if [ "${1:-}" = "--fetch-wheels" ]; then  # the device runs CPython 3.12 on x86-64
  mkdir -p .whl
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl "${WHEELS[@]}"
  "$PY" -m pip wheel -q --no-deps -w .whl antlr4-python3-runtime==4.9.3  # hydra's parser: an sdist only
  ls .whl
  exit 0
fi

mkdir -p "$OUT"
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || { echo "wheels missing: run 'bash benchmarks/gpu_session.sh --fetch-wheels' where pip has a network"; exit 1; }
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1 WANDB_MODE=disabled HOME=/tmp/rlkit-home \
       MPLCONFIGDIR=/tmp/rlkit-home/mpl
mkdir -p "$HOME"
[ -d rlkit/conf ] || cp -r conf rlkit/conf  # an installed rlkit reads its configs as rlkit.conf
{ nvidia-smi -L; "$PY" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"; } \
  2>&1 | tee "$OUT/machine.txt"

step() {  # step <name> <seconds> <command...>: one check, its log in $OUT/<name>.log, never stops the rest
  local name=$1 limit=$2; shift 2
  echo "== $name ($(date -u +%H:%M:%S), limit ${limit}s): $*"
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  echo "   exit $? ($(date -u +%H:%M:%S)); last lines:"; tail -n 4 "$OUT/$name.log"
}

step cuda_tests 120 "$PY" -m pytest -q -m gpu -p no:cacheprovider tests
step learner 60 "$PY" benchmarks/learner_atari.py --device cuda --repeats 2
step compile 105 "$PY" benchmarks/learner_compile.py --device cuda --agents dqn rainbow der --repeats 1
step knobs 45 "$PY" benchmarks/learner_knobs.py --device cuda --presets der rainbow --repeats 2
step sb3 170 "$PY" benchmarks/e2e_sb3.py --device cuda --torch-threads 1 --pipelined --learner-thread --skip-memory \
  --rounds 1 --steps 3000
for case in "der experiment=atari100k_der env.game=road_runner" \
            "der_thread experiment=atari100k_der env.game=road_runner train.learner_thread=true" \
            "rainbow experiment=rainbow_atari env.game=pong"; do
  set -- $case
  step "sps_$1" 50 "$PY" -m rlkit.cli.train "${@:2}" device=cuda train.steps=5000 train.learning_starts_steps=2000 \
    train.log_every_steps=1000 eval.every_steps=0 eval.final_episodes=1 eval.max_steps=1 checkpoint.every=0 \
    logger.console.show_progress=false logger.tensorboard.enabled=false "hydra.run.dir=/tmp/rlkit-gpu-runs/$1"
  grep -h '"charts/SPS"' "/tmp/rlkit-gpu-runs/$1/metrics.jsonl" > "$OUT/sps_$1.jsonl" 2>/dev/null
done
ls -la "$OUT"
