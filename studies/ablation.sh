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
#
# Every L-VAE row spells out what the network minimises (network_objective) and, where it is not
# the network's 5e-4 (the budget's --weighting-lr network), the weights' learning rate, so that
# the rows keep their meaning whatever the library's defaults are. The library's default, chosen
# here, is the row "l-vae network_objective=beta-vae weighting_lr=0.05" (Kendall form, λ = 0.25).
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
python="${PYTHON:-python}"
only=("$@")
A=(--out studies/ablation --steps 8000 --lr 5e-4 --weighting-lr network --evaluation pilot
   --seeds 0 1 2 --jobs 2)
B=(--models vae beta-vae --option beta-vae:beta=4)
F=weighting_lr=0.05
W=network_objective=weighted   # the network minimises the weighted loss (the first default)
N=network_objective=beta-vae   # the network minimises R + β·KL with the learned β
table() { "$python" examples/compare_models.py "${A[@]}" "$@" "${only[@]}"; }

# every row in one sweep (table "all"), so that every row's seed 0 runs before any seed 1
table --table all --models vae \
  --variant l-vae $W --variant l-vae $W $F --variant l-vae $W weighting_lr=0.005 \
  --variant l-vae $N $F \
  --variant l-vae $W bias_penalty=0 $F --variant l-vae $W bias_penalty=1 $F \
  --variant l-vae $W parameterization=simplex bias_penalty=5 \
  --variant l-vae $W parameterization=simplex bias_penalty=5 $F \
  --variant l-vae $W parameterization=simplex bias_penalty=20 $F \
  --variant l-vae $W bias_penalty=0.1 $F --variant l-vae $W bias_penalty=0.5 $F \
  --variant l-vae $W recon_scale=0.000244140625 kl_scale=0.1 $F \
  --variant l-vae $W uncertainty=liebel $F --variant l-vae $W bias_regularizer=abs-log-spread $F \
  --variant l-vae $W "init_log_variances=[0,-1.386]" \
  --variant l-vae $W "init_log_variances=[0,-2.773]" \
  --variant mdl-vae $W $F --variant beta-vae beta=4 --variant beta-vae beta=2 \
  --variant l-vae $N bias_penalty=0 $F --variant l-vae $N bias_penalty=0.1 $F \
  --variant l-vae $N bias_penalty=1 $F \
  --variant l-vae $N parameterization=simplex bias_penalty=5 $F
# the weights' own learning rate (the network's is 5e-4), at the default λ = 0.25
table "${B[@]}" --table weights-lr --variant l-vae $W --variant l-vae $W weighting_lr=0.005 \
  --variant l-vae $W $F
# what the network minimises: the weighted loss or R + β·KL with the learned β
table "${B[@]}" --table network --variant beta-vae beta=2 --variant l-vae $W \
  --variant l-vae $W $F --variant l-vae $N $F
# the anti-bias strength λ (Kendall form, log-spread), weights at lr 0.05; β-VAE at β = 2, near
# where the learned β settles, tells the settled value from the way it was reached
table "${B[@]}" --table lambda --variant beta-vae beta=2 \
  --variant l-vae $W bias_penalty=0 $F --variant l-vae $W bias_penalty=0.1 $F \
  --variant l-vae $W $F --variant l-vae $W bias_penalty=0.5 $F --variant l-vae $W bias_penalty=1 $F
# the forms: abs-log-spread, Liebel, weights on the simplex (barrier 5 and 20)
table "${B[@]}" --table forms --variant l-vae $W $F \
  --variant l-vae $W bias_regularizer=abs-log-spread $F --variant l-vae $W uncertainty=liebel $F \
  --variant l-vae $W parameterization=simplex bias_penalty=5 \
  --variant l-vae $W parameterization=simplex bias_penalty=5 $F \
  --variant l-vae $W parameterization=simplex bias_penalty=20 $F
# the β-VAE objective crossed with λ and the simplex form: the rows above ran with the weighted one
table "${B[@]}" --table network-lambda --variant l-vae $N bias_penalty=0 $F \
  --variant l-vae $N bias_penalty=0.1 $F --variant l-vae $N $F --variant l-vae $N bias_penalty=1 $F \
  --variant l-vae $N parameterization=simplex bias_penalty=5 $F
# the scale the weights see: sums (default) against per-element means (64x64 pixels, 10 dims)
table "${B[@]}" --table scale --variant l-vae $W $F \
  --variant l-vae $W recon_scale=0.000244140625 kl_scale=0.1 $F
# the weights' initial value (β starts at 4 and at 16), at the network's learning rate
table "${B[@]}" --table weights-init --variant l-vae $W \
  --variant l-vae $W "init_log_variances=[0,-1.386]" \
  --variant l-vae $W "init_log_variances=[0,-2.773]"
# one weight per latent dimension
table "${B[@]}" --table mdl --variant l-vae $W $F --variant mdl-vae $W $F
