#!/usr/bin/env bash
# The ablation of issue 13 (docs/ablation.md): every row, then every table, from one folder.
#
#   bash studies/ablation.sh                # train what is missing (seed by seed), then the tables
#   bash studies/ablation.sh --tables-only  # only rebuild the tables and β figures from the files
#
# Procedural dSprites, reference networks, latent 10, batch 64, Adam lr 5e-4, 8,000 steps
# (the pilot's budget, studies/README.md), evaluation "pilot", seeds 0 1 2, two runs at a time
# with one torch thread each. Resumes: finished runs are skipped, interrupted ones continue from
# their last checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
python="${PYTHON:-python}"
only=("$@")
A=(--out studies/ablation --steps 8000 --lr 5e-4 --evaluation pilot --seeds 0 1 2 --jobs 2)
B=(--models vae beta-vae l-vae --option beta-vae:beta=4)
F=weighting_lr=0.05
table() { "$python" examples/compare_models.py "${A[@]}" "$@" "${only[@]}"; }

# every row in one sweep (table "all"), so that every row's seed 0 runs before any seed 1
table --table all --models l-vae \
  --variant l-vae $F --variant l-vae weighting_lr=0.005 \
  --variant l-vae network_objective=beta-vae $F \
  --variant l-vae bias_penalty=0 $F --variant l-vae bias_penalty=1 $F \
  --variant l-vae parameterization=simplex bias_penalty=5 \
  --variant l-vae parameterization=simplex bias_penalty=5 $F \
  --variant l-vae parameterization=simplex bias_penalty=20 $F \
  --variant l-vae bias_penalty=0.1 $F --variant l-vae bias_penalty=0.5 $F \
  --variant l-vae recon_scale=0.000244140625 kl_scale=0.1 $F \
  --variant l-vae uncertainty=liebel $F --variant l-vae bias_regularizer=abs-log-spread $F \
  --variant l-vae "init_log_variances=[0,-1.386]" --variant l-vae "init_log_variances=[0,-2.773]" \
  --variant mdl-vae $F --variant vae --variant beta-vae beta=4 --variant beta-vae beta=2 \
  --variant l-vae network_objective=beta-vae bias_penalty=0 $F \
  --variant l-vae network_objective=beta-vae bias_penalty=0.1 $F \
  --variant l-vae network_objective=beta-vae bias_penalty=1 $F \
  --variant l-vae network_objective=beta-vae parameterization=simplex bias_penalty=5 $F
# the weights' own learning rate (the network's is 5e-4), at the default λ = 0.25
table "${B[@]}" --table weights-lr --variant l-vae weighting_lr=0.005 --variant l-vae $F
# what the network minimises: the weighted loss (default) or R + β·KL with the learned β
table "${B[@]}" --table network --variant beta-vae beta=2 --variant l-vae $F \
  --variant l-vae network_objective=beta-vae $F
# the anti-bias strength λ (Kendall form, log-spread), weights at lr 0.05; β-VAE at β = 2, near
# where the learned β settles, tells the settled value from the way it was reached
table "${B[@]}" --table lambda --variant beta-vae beta=2 \
  --variant l-vae bias_penalty=0 $F --variant l-vae bias_penalty=0.1 $F \
  --variant l-vae $F --variant l-vae bias_penalty=0.5 $F --variant l-vae bias_penalty=1 $F
# the forms: abs-log-spread, Liebel, weights on the simplex (barrier 5 and 20)
table "${B[@]}" --table forms --variant l-vae $F \
  --variant l-vae bias_regularizer=abs-log-spread $F --variant l-vae uncertainty=liebel $F \
  --variant l-vae parameterization=simplex bias_penalty=5 \
  --variant l-vae parameterization=simplex bias_penalty=5 $F \
  --variant l-vae parameterization=simplex bias_penalty=20 $F
# the β-VAE objective with the learned β (the network minimises R + β·KL) crossed with λ and the
# simplex form: the rows above ran with the weighted objective
table "${B[@]}" --table network-lambda --variant l-vae network_objective=beta-vae bias_penalty=0 $F \
  --variant l-vae network_objective=beta-vae bias_penalty=0.1 $F \
  --variant l-vae network_objective=beta-vae $F \
  --variant l-vae network_objective=beta-vae bias_penalty=1 $F \
  --variant l-vae network_objective=beta-vae parameterization=simplex bias_penalty=5 $F
# the scale the weights see: sums (default) against per-element means (64x64 pixels, 10 dims)
table "${B[@]}" --table scale --variant l-vae $F \
  --variant l-vae recon_scale=0.000244140625 kl_scale=0.1 $F
# the weights' initial value (β starts at 4 and at 16), at the network's learning rate
table "${B[@]}" --table weights-init \
  --variant l-vae "init_log_variances=[0,-1.386]" --variant l-vae "init_log_variances=[0,-2.773]"
# one weight per latent dimension
table "${B[@]}" --table mdl --variant l-vae $F --variant mdl-vae $F
