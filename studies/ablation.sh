#!/usr/bin/env bash
# The ablation of issue 13 (docs/ablation.md): every row, then every table, from one folder.
#
#   bash studies/ablation.sh                # train what is missing (seed by seed), then the tables
#   bash studies/ablation.sh --tables-only  # only rebuild the tables and β figures from the files
#   bash studies/ablation.sh --part candidates [...]  # only the first sweep (table "candidates")
#
# Procedural dSprites, reference networks, latent 10, batch 64, Adam lr 5e-4, 8,000 steps
# (the pilot's budget, studies/README.md), evaluation "pilot", seeds 0 1 2, two runs at a time
# with one torch thread each. Resumes: finished runs are skipped, interrupted ones continue from
# their last checkpoint.
#
# Every L-VAE row spells out what the network minimises (network_objective) and, where it is not
# the network's 5e-4 (the budget's --weighting-lr network), the weights' learning rate, so that
# the rows keep their meaning whatever the library's defaults are. The library's default so far
# is the row "l-vae network_objective=beta-vae weighting_lr=0.05" (Kendall form, λ = 0.25); the
# "candidates" sweep runs first (every seed) because λ and the form are chosen from its rows.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
python="${PYTHON:-python}"
part=all
if [[ "${1:-}" == "--part" ]]; then
  part="${2:?--part needs candidates or all}"
  shift 2
fi
if [[ "$part" != all && "$part" != candidates ]]; then
  echo "ablation.sh: --part must be candidates or all, got '$part'" >&2
  exit 2
fi
only=("$@")
A=(--out studies/ablation --steps 8000 --lr 5e-4 --weighting-lr network --evaluation pilot
   --seeds 0 1 2 --jobs 2)
B=(--models vae beta-vae --option beta-vae:beta=4)
F=weighting_lr=0.05
W=network_objective=weighted   # the network minimises the weighted loss (the first default)
N=network_objective=beta-vae   # the network minimises R + β·KL with the learned β
table() { "$python" examples/compare_models.py "${A[@]}" "$@" "${only[@]}"; }

# 1. The rows that choose the rest of the default (table "candidates"), every seed of them first:
#    the chosen objective and rate (N, F) with each λ, regularizer form, scale and mdL-VAE, the
#    initial values at the network's rate, and the baselines.
table --table candidates --models vae --variant beta-vae beta=4 --variant beta-vae beta=2 \
  --variant l-vae $N $F --variant l-vae $N bias_penalty=0 $F \
  --variant l-vae $N bias_penalty=0.1 $F --variant l-vae $N bias_penalty=0.5 $F \
  --variant l-vae $N bias_penalty=1 $F \
  --variant l-vae $N bias_regularizer=abs-log-spread $F --variant l-vae $N uncertainty=liebel $F \
  --variant l-vae $N parameterization=simplex bias_penalty=5 $F \
  --variant l-vae $N parameterization=simplex bias_penalty=20 $F \
  --variant l-vae $N recon_scale=0.000244140625 kl_scale=0.1 $F --variant mdl-vae $N $F \
  --variant l-vae $N --variant l-vae $N "init_log_variances=[0,-1.386]" \
  --variant l-vae $N "init_log_variances=[0,-2.773]"
# the rows of the rule that chose λ and the form (docs/ablation.md, "The choice"), all of them
# `candidates` rows
table "${B[@]}" --table choice --variant l-vae $N bias_penalty=0.1 $F --variant l-vae $N $F \
  --variant l-vae $N bias_penalty=0.5 $F --variant l-vae $N bias_penalty=1 $F \
  --variant l-vae $N bias_regularizer=abs-log-spread $F --variant l-vae $N uncertainty=liebel $F
[[ "$part" == candidates ]] && exit 0
# 2. The first objective's rows (the network on the weighted loss), which found Findings 1 to 3.
table --table first-objective --models vae --variant beta-vae beta=4 \
  --variant l-vae $W --variant l-vae $W $F --variant l-vae $W weighting_lr=0.005 \
  --variant l-vae $W bias_penalty=0 $F --variant l-vae $W bias_penalty=0.1 $F \
  --variant l-vae $W bias_penalty=0.5 $F --variant l-vae $W bias_penalty=1 $F \
  --variant l-vae $W parameterization=simplex bias_penalty=5 \
  --variant l-vae $W parameterization=simplex bias_penalty=5 $F \
  --variant l-vae $W parameterization=simplex bias_penalty=20 $F \
  --variant l-vae $W recon_scale=0.000244140625 kl_scale=0.1 $F
# The tables of docs/ablation.md, from the same runs.
# the weights' own learning rate (the network's is 5e-4), at λ = 0.25
table "${B[@]}" --table weights-lr --variant l-vae $W --variant l-vae $W weighting_lr=0.005 \
  --variant l-vae $W $F --variant l-vae $N --variant l-vae $N $F
# what the network minimises: the weighted loss or R + β·KL with the learned β
table "${B[@]}" --table network --variant beta-vae beta=2 --variant l-vae $W \
  --variant l-vae $W $F --variant l-vae $N $F
# the anti-bias strength λ (Kendall form, log-spread), weights at lr 0.05, with either objective;
# β-VAE at β = 2, near where the learned β settles
table "${B[@]}" --table lambda --variant beta-vae beta=2 \
  --variant l-vae $N bias_penalty=0 $F --variant l-vae $N bias_penalty=0.1 $F \
  --variant l-vae $N $F --variant l-vae $N bias_penalty=0.5 $F \
  --variant l-vae $N bias_penalty=1 $F \
  --variant l-vae $W bias_penalty=0 $F --variant l-vae $W bias_penalty=0.1 $F \
  --variant l-vae $W $F --variant l-vae $W bias_penalty=0.5 $F \
  --variant l-vae $W bias_penalty=1 $F
# the forms: abs-log-spread, Liebel, weights on the simplex (barrier 5 and 20)
table "${B[@]}" --table forms --variant l-vae $N $F \
  --variant l-vae $N bias_regularizer=abs-log-spread $F --variant l-vae $N uncertainty=liebel $F \
  --variant l-vae $N parameterization=simplex bias_penalty=5 $F \
  --variant l-vae $N parameterization=simplex bias_penalty=20 $F \
  --variant l-vae $W parameterization=simplex bias_penalty=5 \
  --variant l-vae $W parameterization=simplex bias_penalty=5 $F \
  --variant l-vae $W parameterization=simplex bias_penalty=20 $F
# the scale the weights see: sums (default) against per-element means (64x64 pixels, 10 dims)
table "${B[@]}" --table scale --variant l-vae $N $F \
  --variant l-vae $N recon_scale=0.000244140625 kl_scale=0.1 $F --variant l-vae $W $F \
  --variant l-vae $W recon_scale=0.000244140625 kl_scale=0.1 $F
# the weights' initial value (β starts at 1, 4 and 16) at the network's learning rate
table "${B[@]}" --table weights-init --variant l-vae $N \
  --variant l-vae $N "init_log_variances=[0,-1.386]" \
  --variant l-vae $N "init_log_variances=[0,-2.773]"
# one weight per latent dimension
table "${B[@]}" --table mdl --variant l-vae $N $F --variant mdl-vae $N $F
