# Shared by scripts/main.sh and scripts/test.sh: make (or reuse) a virtual environment and
# install learnable-weights into it with the extras the caller names.
#   LW_VENV        where the environment lives (default: .venv in the repository root);
#                  an already active virtual environment is used as it is.
#   LW_TORCH_SPEC  the torch requirement installed first (default: torch==2.13.0, the
#                  version the test suite runs on; e.g. LW_TORCH_SPEC="torch>=2.2").
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

lw_setup_env() {
    local extras="$1"
    if [ -z "${VIRTUAL_ENV:-}" ]; then
        local venv="${LW_VENV:-$repo_root/.venv}"
        if [ ! -x "$venv/bin/python" ]; then
            echo "creating virtual environment in $venv"
            python3 -m venv "$venv"
        fi
        # shellcheck disable=SC1091
        source "$venv/bin/activate"
    fi
    python -m pip install --quiet --upgrade pip
    if ! python -c "import torch" 2>/dev/null; then
        python -m pip install --quiet "${LW_TORCH_SPEC:-torch==2.13.0}"
    fi
    python -m pip install --quiet -e ".[${extras}]"
}
