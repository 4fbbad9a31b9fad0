#!/usr/bin/env bash
# The committed MinAtar study: DQN and Rainbow with Revisiting Rainbow's settings (experiment=minatar_dqn,
# minatar_rainbow) on the five games, seeds 0-2, two runs at a time, one torch thread each. Run dirs:
# experiments/minatar/runs/<game>/<variant>/seed<N> (git-ignored); running this again continues unfinished
# runs from their checkpoints and skips finished ones. Then `collect` copies each run's small files into
# results/ and writes the report.
#   bash experiments/minatar/run_study.sh [train [dqn|rainbow]]   # train (hours on a 2-core CPU)
#   bash experiments/minatar/run_study.sh train rainbow_fixed_noise  # diagnostic: Rainbow with the noise sampled once
#                                                                 # (as their networks_new.py), to diagnostics/
#   bash experiments/minatar/run_study.sh collect                 # results/ + report/ (rlkit-report, with
#                                                                 # the published curves: --reference revisiting_rainbow)
# PARALLEL=N runs N at a time (default 2; 1 beside another job on two cores). GAMES="seaquest freeway" limits a
# chain to those games, so two chains of one variant (PARALLEL=1 each) never take the same run; SEEDS="1 2" limits
# it to those seeds (on a machine without the earlier runs' dirs, where finished runs would otherwise train again).
# Budgets (agent steps; the papers train 10M): DQN_STEPS (default 2M), RAINBOW_STEPS (default 1M), chosen
# from the speeds measured here with one thread (README.md); the published curves are compared at these steps.
set -euo pipefail
source "$(dirname "${RLKIT_STUDY_SCRIPT:-$0}")/../study.sh"
run_from_copy "$@"  # editing this file mid-study changes nothing (../study.sh)
TRAIN="${RLKIT_TRAIN:-rlkit-train}"
REPORT="${RLKIT_REPORT:-rlkit-report}"
DQN_STEPS="${DQN_STEPS:-2000000}"
RAINBOW_STEPS="${RAINBOW_STEPS:-1000000}"
read -r -a GAMES <<< "${GAMES:-asterix breakout freeway seaquest space_invaders}"
read -r -a SEEDS <<< "${SEEDS:-0 1 2}"
ONLY="${2:-}"
JOBS=()
for seed in "${SEEDS[@]}"; do
  for game in "${GAMES[@]}"; do
    [ -z "$ONLY" ] || [ "$ONLY" = dqn ] && JOBS+=("dqn $game $seed $DQN_STEPS")
    [ -z "$ONLY" ] || [ "$ONLY" = rainbow ] && JOBS+=("rainbow $game $seed $RAINBOW_STEPS")
    [ "$ONLY" = rainbow_fixed_noise ] && JOBS+=("rainbow_fixed_noise $game $seed $RAINBOW_STEPS")  # only by name
  done
done

run_one() {
  set -- $1
  local variant=$1 game=$2 seed=$3 steps=$4
  local dir="runs/$game/$variant/seed$seed"
  local experiment="minatar_$variant" extra=()
  case "$variant/$game" in
    dqn/breakout) extra=(loss.kind=mse) ;;  # their dqn_breakout.gin: mse_inf = True
    rainbow_fixed_noise/*)  # diagnostic: Rainbow with their noise, drawn once and never again (README.md)
      experiment=minatar_rainbow
      extra=(agent.noise.resample_on_act=false agent.noise.resample_on_update=false "variant=$variant") ;;
  esac
  mkdir -p "$dir"
  $TRAIN "experiment=$experiment" "env.game=$game" "seed=$seed" "train.steps=$steps" "${extra[@]}" \
    torch_threads=1 eval.every_steps=100_000 checkpoint.every=250_000 logger.console.show_progress=false \
    "hydra.run.dir=$dir" >> "$dir/stdout.log" 2>&1 \
    || echo "run $variant $game seed$seed exited with status $? (rerun this script to continue it)"
}

if [ "${1:-train}" = "collect" ]; then
  # the study's variants go to results/ and report/; diagnostic runs (any other variant, e.g. dqn_seaquest_v1_0_10
  # from seaquest_v1_0_10.sh) to diagnostics/, reported beside the study's runs of the same game
  for dir in runs/*/*/seed*; do
    [ -f "$dir/summary.json" ] || { echo "unfinished: $dir"; continue; }
    variant=$(basename "$(dirname "$dir")")
    case "$variant" in dqn|rainbow) out="results/${dir#runs/}" ;; *) out="diagnostics/results/${dir#runs/}" ;; esac
    mkdir -p "$out/.hydra"
    cp "$dir/config.yaml" "$dir/summary.json" "$out/"
    gzip -9 -n -c "$dir/metrics.jsonl" > "$out/metrics.jsonl.gz"  # every episode: ~4 MB raw for Breakout
    rm -f "$out/metrics.jsonl"
    cp "$dir/.hydra/overrides.yaml" "$out/.hydra/" 2>/dev/null || true
  done
  $REPORT results --out report --reference revisiting_rainbow
  if [ -d diagnostics/results ]; then  # with the study's runs of the games that have diagnostic runs
    studied=()
    for game in diagnostics/results/*; do studied+=("results/$(basename "$game")"); done
    $REPORT "${studied[@]}" diagnostics/results --out diagnostics/report --baseline dqn --reference revisiting_rainbow
  fi
  exit 0
fi
# The runs train with the code of one commit (pin_code, ../study.sh): fused Adam, the same rule as before up to float
# rounding. The first three DQN runs (asterix, breakout and freeway seed 0) trained with earlier commits (README).
pin_code 833307b
export -f run_one
export TRAIN
printf '%s\n' "${JOBS[@]}" | xargs -P "${PARALLEL:-2}" -I{} bash -c 'run_one "{}"'
