#!/usr/bin/env bash
# The committed Atari-100k study: DER (seeds 0-1; seed 2 added later, with SEEDS=2) and DrQ(eps) (seed 0) on three
# games, two runs at a time, one torch thread each. Run dirs: experiments/atari100k/runs/<game>/<variant>/seed<N>
# (git-ignored); running this again continues unfinished runs from their checkpoints (every 20K steps) and skips
# finished ones. Then `collect` copies each run's small files into results/ and writes the report.
#   bash experiments/atari100k/run_study.sh [train [der|drq_eps]]  # train (hours on a 2-core CPU)
#   bash experiments/atari100k/run_study.sh train der_ce_priority  # diagnostic: DER with cross-entropy PER
#                                                                  # priorities (README.md), to diagnostics/
#   bash experiments/atari100k/run_study.sh train der_dopamine     # diagnostic: Dopamine's DER.gin (the published
#                                                                  # re-run column's agent), to diagnostics/
#   bash experiments/atari100k/run_study.sh collect                # results/ + report/ (rlkit-report --reference)
# PARALLEL=N runs N at a time (default 2). GAMES="road_runner" limits it to those games; SEEDS="2 3" sets the DER
# (and diagnostic) seeds (default 0 1), DRQ_SEEDS those of DrQ(eps) (default 0).
set -euo pipefail
source "$(dirname "${RLKIT_STUDY_SCRIPT:-$0}")/../study.sh"
run_from_copy "$@"  # editing this file mid-study changes nothing (../study.sh)
TRAIN="${RLKIT_TRAIN:-rlkit-train}"
REPORT="${RLKIT_REPORT:-rlkit-report}"
read -r -a GAMES <<< "${GAMES:-road_runner kung_fu_master freeway}"
read -r -a SEEDS <<< "${SEEDS:-0 1}"
read -r -a DRQ_SEEDS <<< "${DRQ_SEEDS:-0}"
JOBS=()
ONLY="${2:-}"
for game in "${GAMES[@]}"; do
  if [ -z "$ONLY" ] || [ "$ONLY" = der ]; then for seed in "${SEEDS[@]}"; do JOBS+=("der $game $seed"); done; fi
  if [ -z "$ONLY" ] || [ "$ONLY" = drq_eps ]; then for seed in "${DRQ_SEEDS[@]}"; do JOBS+=("drq_eps $game $seed"); done; fi
  case "$ONLY" in der_ce_priority|der_dopamine) for seed in "${SEEDS[@]}"; do JOBS+=("$ONLY $game $seed"); done ;; esac
done
[ "${1:-train}" = collect ] || [ "${#JOBS[@]}" -gt 0 ] || { echo "no runs for variant '$ONLY' (der, drq_eps, der_ce_priority or der_dopamine)" >&2; exit 2; }

run_one() {
  set -- $1
  local variant=$1 game=$2 seed=$3
  local dir="runs/$game/$variant/seed$seed"
  local experiment="atari100k_$variant" extra=()
  if [ "$variant" = der_ce_priority ]; then  # diagnostic: DER with one knob changed (README.md)
    experiment=atari100k_der
    extra=(c51.priority=cross_entropy "variant=$variant")
  elif [ "$variant" = der_dopamine ]; then  # diagnostic: Dopamine's DER (README.md)
    # dopamine/labs/atari_100k/configs/DER.gin (google/dopamine 5873f54) as overrides of atari100k_der: the Nature
    # CNN with SAME padding and Xavier init, one noisy 512-unit layer shared by the dueling streams, n = 10,
    # cross-entropy PER priorities with importance weights 1/sqrt(P) over the batch max (beta 0.5), epsilon
    # 1 -> 0.01 over 2,000 steps after the first 1,600 on top of the noise, no gradient clipping, the first update
    # with 1,601 transitions stored
    experiment=atari100k_der
    extra=(network/torso=nature_cnn +network.torso.padding=same +network.torso.init=xavier_uniform
      "network.hidden_sizes=[512]" dueling.shared_hidden=true agent.n_step=10 c51.priority=cross_entropy
      per.beta_start=0.5 per.beta_end=0.5 exploration=epsilon epsilon.start=1.0 epsilon.end=0.01
      epsilon.decay_steps=2000 epsilon.start_step=1599 agent.max_grad_norm=null train.learning_starts_steps=1601
      "variant=$variant")
  fi
  mkdir -p "$dir"
  $TRAIN "experiment=$experiment" "env.game=$game" "seed=$seed" "${extra[@]}" torch_threads=1 \
    checkpoint.every=20_000 logger.console.show_progress=false "hydra.run.dir=$dir" >> "$dir/stdout.log" 2>&1 \
    || echo "run $variant $game seed$seed exited with status $? (rerun this script to continue it)"
}

if [ "${1:-train}" = "collect" ]; then
  # the study's variants go to results/ and report/; diagnostic runs (any other variant, e.g. der_ce_priority:
  # DER with one knob changed, run by hand with variant=<name>) to diagnostics/, reported beside DER's runs
  for dir in runs/*/*/seed*; do
    [ -f "$dir/summary.json" ] || { echo "unfinished: $dir"; continue; }
    variant=$(basename "$(dirname "$dir")")
    case "$variant" in der|drq_eps) out="results/${dir#runs/}" ;; *) out="diagnostics/results/${dir#runs/}" ;; esac
    mkdir -p "$out/.hydra"
    cp "$dir/config.yaml" "$dir/metrics.jsonl" "$dir/summary.json" "$out/"
    cp "$dir/.hydra/overrides.yaml" "$out/.hydra/" 2>/dev/null || true
  done
  $REPORT results --out report --reference drq_eps --reference der
  if [ -d diagnostics/results ]; then
    $REPORT results/*/der diagnostics/results --out diagnostics/report --baseline der --reference der
  fi
  exit 0
fi
# The runs train with the code they started with: later commits changed the network config layout and
# the checkpoints' network identity, so a newer checkout could not continue them (pin_code, ../study.sh).
# Dopamine's DER needs the dueling C51 head's shared hidden layer, which 849f0ff lacks: it trains with cb44941.
if [ "$ONLY" = der_dopamine ]; then pin_code cb44941; else pin_code 849f0ff; fi
export -f run_one
export TRAIN
printf '%s\n' "${JOBS[@]}" | xargs -P "${PARALLEL:-2}" -I{} bash -c 'run_one "{}"'
