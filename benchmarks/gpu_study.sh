#!/usr/bin/env bash
# The study's comparison at a larger budget on one CUDA GPU (issue 13, "ready for a GPU"),
# bounded to fit a lent GPU's ten-minute slot.
#
#   bash benchmarks/gpu_study.sh [RESULTS_DIR]     # default: $OUT if set, else ./gpu-study
#
# Trains the rows of studies/claim.sh (L-VAE, mdL-VAE, L-VAE's simplex form at barrier 5, the
# paper's baselines and σ-VAE with the identity link) on procedural dSprites, seeds 0 and 1,
# 20,000 steps each at lr 5e-4, ten runs at a time on the device, evaluated like the CPU claim
# (every metric, evaluation "study-fast-dci") at steps 5,000, 10,000 and 20,000 (tables
# results-step5000.md, results-step10000.md, results.md), the KL schedules fitted to the 20,000
# steps as in studies/claim.sh (--fit-schedules); stops after GPU_STUDY_SECONDS (default 540).
# The sweep resumes: finished runs leave result files in RESULTS_DIR/claim-20000/runs/, and
# running the script again (or with a larger limit) continues where it stopped. Copy that folder
# into studies/ to keep it, then rebuild the tables with --tables-only.
set -uo pipefail
results="${1:-${OUT:-gpu-study}}"
mkdir -p "$results"
python="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}"
models=(l-vae mdl-vae vae beta-vae annealed-vae controlvae dynamicvae sigma-vae
        --variant l-vae parameterization=simplex bias_penalty=5
        --variant sigma-vae likelihood=sigma-optimal-identity)
sweep=(--models "${models[@]}" --out "$results/claim-20000" --seeds 0 1 --steps 20000 --lr 5e-4
       --eval-steps 5000 10000 --evaluation study-fast-dci --fit-schedules --device cuda)
timeout "${GPU_STUDY_SECONDS:-540}" "$python" examples/compare_models.py "${sweep[@]}" --jobs 10 \
    2>&1 | tee "$results/gpu_study.txt"
status=${PIPESTATUS[0]}
# tables from whatever finished, even when the time limit stopped the sweep
"$python" examples/compare_models.py "${sweep[@]}" --tables-only 2>&1 | tee -a "$results/gpu_study.txt"
exit "$status"
