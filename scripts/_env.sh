# Shared by scripts/main.sh and scripts/test.sh: make (or reuse) a virtual environment and
# install learnable-weights into it with the extras the caller names.
#   LW_VENV        where the environment lives (default: .venv in the repository root);
#                  an already active virtual environment is used as it is.
#   LW_TORCH_SPEC  the torch requirement installed first (default: torch==2.13.0, the
#                  version the test suite runs on; e.g. LW_TORCH_SPEC="torch>=2.2").
#   LW_REFERENCE_DIR  where scripts/test.sh keeps disentanglement_lib (default: the folder
#                  lw-reference inside the environment; see lw_install_reference).
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

# disentanglement_lib 1.5, the reference the metric tests compare against, declares TensorFlow-era
# requirements (tensorflow-probability==0.7, ...) that its metric modules do not use: they need
# only absl-py and six besides the metrics extra. It is installed without them into a folder of its
# own, $LW_REFERENCE_DIR, outside site-packages; only the test run puts that folder on PYTHONPATH.
# pip never sees it, so no later install (this script's, scripts/main.sh's) reports the
# requirements as missing.
lw_install_reference() {
    export LW_REFERENCE_DIR="${LW_REFERENCE_DIR:-$(python -c 'import sys; print(sys.prefix)')/lw-reference}"
    if ! PYTHONPATH="$LW_REFERENCE_DIR" python -c "import importlib.metadata as m, absl.logging, six
assert m.version('disentanglement-lib') == '1.5'" 2>/dev/null; then
        python -m pip install --quiet --no-deps --upgrade --target "$LW_REFERENCE_DIR" \
            "disentanglement-lib==1.5" absl-py six
    fi
}
