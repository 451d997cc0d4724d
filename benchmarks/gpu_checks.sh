#!/usr/bin/env bash
# Every check that needs a CUDA GPU, in one run (docs/benchmarks.md, "GPU checks").
#
#   bash benchmarks/gpu_checks.sh [RESULTS_DIR]     # default: $OUT if set, else ./gpu-results
#
# Meant for a GPU machine lent for a few minutes. It uses that machine's python3 (torch with CUDA,
# numpy, scipy, scikit-learn, pytest, hypothesis; tqdm, matplotlib and pillow for the training
# run) with this checkout on PYTHONPATH, fetches nothing, and bounds every step in time (about 6
# minutes in all when nothing hangs, at most 13). GPU_CHECKS_ONLY="step ..." runs only the named
# steps, e.g. GPU_CHECKS_ONLY="throughput train_paper" to fit a 10-minute slot in two calls.
# disentanglement_lib 1.5, which the speed comparison runs side by side, is installed from a
# wheel in .whl/ when one is there: beforehand, where pip can reach PyPI, run
#   pip download --no-deps -d .whl "disentanglement-lib==1.5"
# Each step's output goes to RESULTS_DIR/<step>.txt; the exit status is non-zero if any failed.
set -uo pipefail
results="${1:-${OUT:-gpu-results}}"
mkdir -p "$results"
python="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G ".whl/*.whl" >/dev/null; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --target /tmp/lw-site .whl/*.whl &&
        export PYTHONPATH="$PYTHONPATH:/tmp/lw-site"
fi

failed=()
step() { # step NAME SECONDS COMMAND...: run it under a time limit, log it, remember a failure
    local name=$1 seconds=$2
    shift 2
    if [[ -n "${GPU_CHECKS_ONLY:-}" && " $GPU_CHECKS_ONLY " != *" $name "* ]]; then return; fi
    echo "== $name: $*" | tee "$results/$name.txt"
    timeout "$seconds" "$@" 2>&1 | tee -a "$results/$name.txt"
    local status=${PIPESTATUS[0]}
    if [[ $status -ne 0 ]]; then failed+=("$name (exit $status)"); fi
}

step environment 30 bash -c "nvidia-smi; $python -c 'import torch, numpy, sklearn; \
print(\"torch\", torch.__version__, torch.cuda.get_device_name(), \"numpy\", numpy.__version__, \
\"scikit-learn\", sklearn.__version__)'"
# The tests marked `cuda` (skipped on machines without a GPU): the deferred non-finite check,
# bf16 autocast, rendering and sampling on the device, evaluate() on the device.
step cuda_tests 150 "$python" -m pytest -q -m cuda -p no:cacheprovider
# Training-step overhead of the learned weighting against a hand-written beta-VAE step.
step step_overhead 90 "$python" benchmarks/step_overhead.py --device cuda --steps 300 --model l-vae
# Rendering all 737,280 procedural dSprites images on the GPU.
step procedural_render 60 "$python" benchmarks/procedural_dsprites_speed.py --device cuda
# evaluate()'s sampling pipelines against disentanglement_lib's, observations read from an npz
# file (as with the real dSprites) so that the encoder, not the rendering, is what is compared.
step metric_speed 240 "$python" benchmarks/metric_speed.py --only sampling --device cuda \
    --encode-batch 4096 --dataset npz --sampling-points 1000 --repeats 2
# Training throughput: our loop against a bare loop over pre-made device batches and a DataLoader
# loop over the dataset file (goal on a GPU: ours >= 5x the DataLoader loop).
step throughput 150 "$python" benchmarks/throughput.py --device cuda --steps 300 --rounds 3 \
    --workers 8
# The example end to end on the GPU: paper preset (reference networks, batch 64, lr 1e-4), 2000
# steps, quick evaluation, pictures; procedural dSprites if the machine has no dSprites file.
step train_paper 150 "$python" examples/train_dsprites.py --preset paper --steps 2000 \
    --device cuda --eval quick --no-progress --out "$results/train_paper" --overwrite

echo "failed: ${failed[*]:-none}" | tee "$results/summary.txt"
[[ ${#failed[@]} -eq 0 ]]
