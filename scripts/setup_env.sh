#!/usr/bin/env bash
# Create the project's virtual environment if missing: torch first (a CPU build unless a
# CUDA torch is already there or a GPU is present), then the project with its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
STAMP="$VENV/.mofrr-installed"
if [ -f "$STAMP" ] && [ "$STAMP" -nt pyproject.toml ]; then
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  TORCH_VERSION=${TORCH_VERSION:-2.13.0}
  if $PIP install --no-index "torch==$TORCH_VERSION" 2>/dev/null; then
    echo "torch $TORCH_VERSION installed from local wheels"
  elif command -v nvidia-smi >/dev/null 2>&1; then
    $PIP install "torch==$TORCH_VERSION"
  else
    # an unreachable CPU index (a registry-only network) fails fast instead of retrying every package
    $PIP install --retries 0 --timeout 10 "torch==$TORCH_VERSION" --index-url "${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}" \
      || $PIP install "torch==$TORCH_VERSION"
  fi
fi
$PIP install -e ".[test]"
touch "$STAMP"
