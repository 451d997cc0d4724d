#!/usr/bin/env bash
# Installs learnable-weights with every extra the tests use, plus disentanglement_lib 1.5 (without
# its TensorFlow dependencies) as the reference the metric tests compare against, then runs pytest.
# Extra arguments go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
lw_setup_env "dev,metrics,data"
python -m pip install --quiet --no-deps "disentanglement-lib==1.5"
python -m pip install --quiet absl-py six
LW_REQUIRE_REFERENCE=1 python -m pytest "$@"
