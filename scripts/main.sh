#!/usr/bin/env bash
# The main job: installs learnable-weights into a virtual environment and trains L-VAE on dSprites
# with the quick preset (examples/train_dsprites.py: five to eight minutes on a 2-core CPU,
# evaluation included). Without the dSprites file and without a network it trains on procedural
# dSprites and says so. Extra arguments go to the script (e.g. --device cuda, --preset paper,
# --model beta-vae).
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
lw_setup_env "examples,metrics,data"
out="runs/main-$(date +%Y%m%d-%H%M%S)"
python examples/train_dsprites.py --preset quick --out "$out" "$@"
echo "The pictures (traversal.png, traversal.gif, reconstructions.png, training_curves.png)" \
  "are in $out/pictures"
echo "Metrics, versions and timings: $out/results.json; the log: $out/log.jsonl"
