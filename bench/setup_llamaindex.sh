#!/usr/bin/env bash
# A separate environment for bench/ingest_vs_llamaindex.py: ragkit plus LlamaIndex
# (core, HuggingFace embeddings, Chroma vector store). Kept out of .venv so the
# product never depends on LlamaIndex.
#
#   bash bench/setup_llamaindex.sh     # creates .venv-bench
set -euo pipefail
cd "$(dirname "$0")/.."
bash setup.sh --no-demo >/dev/null   # builds or reuses the cached llama-cpp-python wheel
PYTHON=${PYTHON:-python3}
[ -x .venv-bench/bin/python ] || "$PYTHON" -m venv .venv-bench
PY=.venv-bench/bin/python
pip_install() { "$PY" -m pip install --quiet --disable-pip-version-check "$@"; }
"$PY" -c "import torch" 2>/dev/null || pip_install "${TORCH_SPEC:-torch==2.13.0}"
cpu_key=$( (grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || uname -m) | sha1sum | cut -c1-12)
wheel_cache=${RAGKIT_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ragkit/wheels}/$cpu_key
pip_install --find-links "$wheel_cache" -e ".[all]" psutil \
  llama-index-core llama-index-embeddings-huggingface llama-index-vector-stores-chroma
echo "==> ready: .venv-bench/bin/python bench/ingest_vs_llamaindex.py ../shared/data/fastapi_docs"
