#!/usr/bin/env bash
# The whole study of issue 13 in the order that settles the library's default first:
# the ablation's "candidates" rows (every seed), the claim (baselines first, L-VAE last), then
# the rest of the ablation. Each step resumes from the result files, so after an interruption
# the same command carries on where the study stopped.
#
#   bash studies/all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash studies/ablation.sh --part candidates
bash studies/claim.sh
bash studies/ablation.sh
