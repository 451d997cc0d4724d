#!/usr/bin/env bash
# The claim of issue 13 (docs/results.md): L-VAE with the library's default against the paper's
# baselines, no per-dataset tuning, on procedural dSprites and on colour dSprites.
#
#   bash studies/claim.sh                # train what is missing (seed by seed), then the tables
#   bash studies/claim.sh --tables-only  # only rebuild the tables and β figures from the files
#
# Reference networks, latent 10, batch 64, Adam lr 5e-4, 8,000 steps (the pilot's budget,
# studies/README.md); every metric at disentanglement_lib's study settings with DCI's fast
# importances (evaluation "study-fast-dci"); seeds 0 1 2; two runs at a time, one torch thread
# each. Models: compare_models.py's default list (l-vae, vae, beta-vae, annealed-vae,
# controlvae, dynamicvae, sigma-vae) and mdl-vae (L-VAE with one weight per latent dimension, the
# ablation's strongest row on DCI), the simplex form at barrier 5 (the ablation's strongest on MIG,
# whose barrier is in nats, to see whether it carries over to RGB data untuned), β-VAE at its
# registry default β = 4, σ-VAE with its Gaussian's mean on the decoder output itself as well as
# on its sigmoid (likelihood=sigma-optimal-identity: the reference's sigmoid saturates on dSprites
# and the model collapses, benchmarks/sigma_vae_saturation.py), and the KL schedules
# of the annealed VAE, ControlVAE and DynamicVAE fitted to the 8,000 steps (--fit-schedules:
# models.schedule_for_budget; their registry defaults time them for runs of 0.3 to 2 million
# steps). Resumes.
#
# One dataset after the other, procedural dSprites first, whose learned rows the ablation has
# already trained, so that its tables are whole hours before colour dSprites' are. On each, the
# baselines train first (table "baselines"), then L-VAE and mdL-VAE: the baselines do not depend
# on the library's default, the learned models' rows do, and a result file records the options
# its run resolved to, so a default changed while the baselines train costs no run. Then the
# tables that explain the claim's rows: "dynamicvae-phases" on each dataset (DynamicVAE without
# its slow first phase, which tests why it leads) and "constant-beta" on each dataset (β-VAE with
# β held at the value L-VAE's weights end at there, which tests whether learning the weights does
# more than pick a β). Last, two tables about the baselines' settings, procedural dSprites:
# "unfitted" (the three scheduled models with their registry schedules, seed 0, to show what the
# fitting changes) and "annealed-gamma" (the annealed VAE at γ = 100 beside the registry's 1000).
#
# On procedural dSprites a run that the ablation (studies/ablation.sh) trained identically (the
# VAE, β-VAE at β = 4, mdL-VAE, and L-VAE while its default is one of the ablation's rows) is
# evaluated here instead of trained again (--reuse-training: same model, seed, resolved
# configuration and training budget, and a replay of its first 80 steps matches exactly); its
# result file names that run (trained_in).
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
python="${PYTHON:-python}"
datasets=(procedural-dsprites color-dsprites)
common=(--steps 8000 --lr 5e-4 --evaluation study-fast-dci --jobs 2)
claim() {
  local reuse=()
  [[ "$1" == procedural-dsprites ]] && reuse=(--reuse-training studies/ablation)
  "$python" examples/compare_models.py --out "studies/claim-$1" --dataset "$1" "${common[@]}" \
    "${reuse[@]}" "${@:2}"
}
sigma_identity=(--variant sigma-vae likelihood=sigma-optimal-identity)
for dataset in "${datasets[@]}"; do
  claim "$dataset" --seeds 0 1 2 --fit-schedules --table baselines \
    --models vae beta-vae annealed-vae controlvae dynamicvae sigma-vae "${sigma_identity[@]}" "$@"
  # every row (table "results", with L-VAE's gaps to each in results-versus.md), then the paper's
  # six alone (table "claim", from the same files), where L-VAE's "top 2" counts what the paper
  # claims
  claim "$dataset" --seeds 0 1 2 --fit-schedules --versus l-vae \
    --models l-vae mdl-vae vae beta-vae annealed-vae controlvae dynamicvae sigma-vae \
    --variant l-vae parameterization=simplex bias_penalty=5 "${sigma_identity[@]}" "$@"
  # (claim-versus.md: which of L-VAE's gaps to the others are larger than the seeds' spread)
  claim "$dataset" --seeds 0 1 2 --fit-schedules --table claim --tables-only --versus l-vae \
    --models l-vae vae beta-vae controlvae dynamicvae sigma-vae "$@"
  # the same count with the σ-VAE that does not collapse in the reference's place
  claim "$dataset" --seeds 0 1 2 --fit-schedules --table claim-sigma-identity --tables-only \
    --versus l-vae --models l-vae vae beta-vae controlvae dynamicvae "${sigma_identity[@]}" "$@"
done
# DynamicVAE's controller holds the KL near a set point that starts at 0.5 nats and rises to 20
# over the first ~3,100 steps (fitted), with β near 50 at first. With the set point at 20 from the
# start (and β from 1), the same controller aims at the same KL without the slow release. On
# both datasets, so that colour dSprites tests the explanation found on procedural dSprites.
for dataset in "${datasets[@]}"; do
  claim "$dataset" --seeds 0 1 2 --fit-schedules --table dynamicvae-phases \
    --versus "dynamicvae[ramp_steps=4,window=24]" \
    --models dynamicvae --variant dynamicvae set_point_start=20 beta_init=1 "$@"
done
# L-VAE's β ends at 1.37 on procedural dSprites and 1.77 on colour dSprites (table "results",
# seeds 0 to 2): β-VAE at that β from the first step, beside L-VAE and the VAE, with the same
# seeds.
claim procedural-dsprites --seeds 0 1 2 --fit-schedules --table constant-beta --versus l-vae \
  --models l-vae vae --variant beta-vae beta=1.37 "$@"
claim color-dsprites --seeds 0 1 2 --fit-schedules --table constant-beta --versus l-vae \
  --models l-vae vae --variant beta-vae beta=1.77 "$@"
claim procedural-dsprites --seeds 0 --table unfitted \
  --models annealed-vae controlvae dynamicvae "$@"
# the annealed VAE at the run scripts' γ = 100 beside the registry's 1000, which slows its
# reconstruction (docs/models.md, benchmarks/annealed_vae_gamma.py)
claim procedural-dsprites --seeds 0 1 2 --fit-schedules --table annealed-gamma --models vae \
  annealed-vae --variant annealed-vae gamma=100 --versus "annealed-vae[capacity_steps=2667]" "$@"
