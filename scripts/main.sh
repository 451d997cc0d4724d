#!/usr/bin/env bash
# The main job: installs learnable-weights into a virtual environment and runs the quickstart
# (an L-VAE on generated images, about a minute on a laptop CPU). Extra arguments go to it.
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
lw_setup_env "examples"
python examples/quickstart.py "$@"
