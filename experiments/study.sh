# Sourced by the study scripts (experiments/*/run_study.sh), first thing:
#   source "$(dirname "${RLKIT_STUDY_SCRIPT:-$0}")/../study.sh"; run_from_copy "$@"

# bash reads a script while it runs it: the study runs from a copy instead, so editing its script mid-study
# changes nothing. Re-executes the script as that copy (removed at exit), then enters the script's directory.
run_from_copy() {
  if [ -z "${RLKIT_STUDY_SCRIPT:-}" ]; then
    local copy
    copy=$(mktemp "${TMPDIR:-/tmp}/rlkit-study.XXXXXX")
    cp "$0" "$copy"
    RLKIT_STUDY_SCRIPT="$0" exec bash "$copy" "$@"
  fi
  trap 'rm -f "$0"' EXIT  # the copy
  cd "$(dirname "$RLKIT_STUDY_SCRIPT")"
}

# `pin_code <commit>` makes the runs train with that commit's code (and configs), so commits made while a study
# runs do not change it. A git worktree of the commit is made once, next to HOME (RLKIT_STUDY_CODE may point at a
# checkout of it instead), and put first on PYTHONPATH.
pin_code() {
  local commit=$1
  local code="${RLKIT_STUDY_CODE:-${XDG_CACHE_HOME:-$HOME/.cache}/rlkit-study-$commit}"
  if [ ! -d "$code/rlkit/conf" ]; then
    [ -d "$code/rlkit" ] || git worktree add --detach "$code" "$commit" >/dev/null
    cp -r "$code/conf" "$code/rlkit/conf"  # the package reads its configs as rlkit.conf (pyproject maps conf/)
  fi
  export PYTHONPATH="$code${PYTHONPATH:+:$PYTHONPATH}"
  echo "training with the code of $commit in $code"
}
