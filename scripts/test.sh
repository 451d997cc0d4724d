#!/usr/bin/env bash
# Installs learnable-weights with every extra the tests use, plus disentanglement_lib 1.5 (without
# its TensorFlow dependencies, in a folder of its own: see lw_install_reference in _env.sh) as the
# reference the metric tests compare against, then runs pytest. Extra arguments go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
lw_setup_env "dev,metrics,data"
lw_install_reference
PYTHONPATH="$LW_REFERENCE_DIR${PYTHONPATH:+:$PYTHONPATH}" LW_REQUIRE_REFERENCE=1 python -m pytest "$@"
