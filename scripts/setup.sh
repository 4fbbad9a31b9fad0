#!/usr/bin/env bash
# Create .venv and install rlkit into it (editable). Usage: bash scripts/setup.sh [test]
#   TORCH_SPEC       torch requirement installed first (default: torch==2.13.0)
#   TORCH_INDEX_URL  extra index for a CUDA build, e.g. https://download.pytorch.org/whl/cu128
#   PYTHON           interpreter that creates the venv (default: python3, >= 3.10)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
extras=""
if [ "${1:-}" = "test" ]; then extras="[test]"; fi

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
# setuptools >= 77 reads the SPDX `project.license` string of pyproject.toml.
"${PIP[@]}" install --upgrade "pip>=23" "setuptools>=77" wheel
# torch first and pinned: a bare `torch` requirement would let pip pick a multi-GB CUDA build.
if [ -n "${TORCH_INDEX_URL:-}" ]; then
  "${PIP[@]}" install "$TORCH_SPEC" --extra-index-url "$TORCH_INDEX_URL"
else
  "${PIP[@]}" install "$TORCH_SPEC"
fi
# conf/ maps onto rlkit.conf, so the editable install uses setuptools' import finder, which always
# adds a 10-line "Editable installation" notice; silence just that one (informational) warning.
PYTHONWARNINGS="${PYTHONWARNINGS:+$PYTHONWARNINGS,}ignore:Editable installation" \
  "${PIP[@]}" install -e ".${extras}"
.venv/bin/python -c "import torch, rlkit; print(f'rlkit {rlkit.__version__} ready: torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}')"
