"""Multi-task learning with `LearnableWeightedLoss`: three heads whose losses differ by 10^6.

Not a VAE: a shared MLP trunk on 16 random inputs feeds three heads,

* ``profile``: a 32-point curve, squared error summed over the points (as a reconstruction loss
  is): about 10^2;
* ``kind``: one of 3 balanced classes, cross-entropy: about 1;
* ``gap``: a length of about a centimetre, in metres, squared error: about 10^-4;

each a nonlinear function of its own four inputs, so the trunk must learn features for all three.
The script trains the same network three ways on the same data and batches:

1. **fixed equal weights**, ``loss = L_profile + L_kind + L_gap``: the gradient reaching the
   trunk is almost all the profile's, so ``kind`` and ``gap`` are learned by their heads on
   features made for the profile;
2. **learned weights, ``bias_penalty=0``** (pure uncertainty weighting, Kendall, Gal and Cipolla,
   CVPR 2018): each weight settles near ``w_i = 1 / (2 L_i)`` (the script prints ``w_i L_i``,
   which goes to 1/2), so every task pulls on the trunk with the same strength whatever its units;
3. **learned weights, the library's default ``bias_penalty=0.25``**, the setting made for
   L-VAE: its anti-bias regulariser pulls the log-weights together (for two terms the weight
   ratio stays below e^2 ≈ 7.4; here the three weights end within a factor of about 10), so the
   weights cannot undo units that differ by orders of magnitude.

Each log-variance starts at the log of its task's loss on the first batch
(``init_log_variances``), where uncertainty weighting would put it; started at 0, the weights
would spend their first thousands of Adam steps (each moves a log-variance by about the
learning rate) climbing to log(10^2) and falling to log(10^-4) while the network trains with the
wrong balance. The log-variances get their own learning rate through `parameter_groups`.

At the end it prints, for each way, the weights where they settled and the per-task test error:
root-mean-square error over the target's standard deviation (1 = predicting the mean) for the
regressions, the error rate (2/3 = chance) for the classes, and the best errors possible given
the noise in the targets.

What you see (``python examples/multitask.py``, seed 0, on a 2-core x86-64 CPU shared with
other jobs (load average 7), one thread: 16 s of training, 20 s in all): equal weights leave the
class near chance (error 0.54) and the gap worse than predicting its mean (1.08); uncertainty
weighting learns both (0.13 and 0.33, against floors of 0.07 and 0.26) for a slightly worse
profile (0.27 against 0.24; floor 0.22), its weights spanning 10^6 (profile 0.04, kind 1.3, gap
4·10^4); the default ``bias_penalty=0.25`` learns the class (0.13) but not the gap (1.17), its
weights within a factor of 11.

Which setting to pick: for losses of different tasks in different units, use
``LearnableWeightedLoss(names=..., bias_penalty=0, init_log_variances=[log of each first
loss])``. Keep the default regulariser for a VAE, where it stops the learned β from running
away (docs/objective.md).

    python examples/multitask.py              # 3 x 1500 steps
    python examples/multitask.py --steps 300  # a quick look
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from learnable_weights import LearnableWeightedLoss, parameter_groups
from learnable_weights.weighted_loss import DEFAULT_BIAS_PENALTY

TASKS = ("profile", "kind", "gap")
INPUTS = 16
PROFILE_POINTS = 32
PROFILE_NOISE = 0.5  # standard deviation of the noise on each profile point
LABEL_NOISE = 0.1  # fraction of the class labels drawn uniformly at random
GAP_NOISE = 3e-3  # metres


def make_tasks(n: int, generator: torch.Generator) -> tuple[Tensor, dict[str, Tensor]]:
    """Inputs ``(n, 16)`` ~ N(0, I) and noisy targets: ``profile`` ``(n, 32)``, ``kind`` ``(n,)``
    classes in {0, 1, 2} (a third each; 10% of the labels drawn at random), ``gap`` ``(n,)``
    metres. Inputs 0-3 drive the profile, 4-6 the class, 8-11 the gap; the others are unused.
    Each target has noise that no network can predict (:func:`noise_floor`)."""
    x = torch.randn(n, INPUTS, generator=generator)
    noise = torch.randn(n, PROFILE_POINTS + 1, generator=generator)
    t = torch.linspace(0, 1, PROFILE_POINTS)
    frequency, phase = 1 + torch.sigmoid(x[:, :1]) * 2, x[:, 1:2]
    profile = 3 * torch.sin(2 * math.pi * frequency * t + phase) + x[:, 2:3] * x[:, 3:4] * t
    profile = profile + PROFILE_NOISE * noise[:, :PROFILE_POINTS]
    # The sector of (x4, x5), shifted by one when x6 > 0: 3 balanced classes.
    sector = ((torch.atan2(x[:, 5], x[:, 4]) + math.pi) / (2 * math.pi) * 3).long().clamp(max=2)
    kind = (sector + (x[:, 6] > 0).long()) % 3
    relabel = torch.rand(n, generator=generator) < LABEL_NOISE
    kind = torch.where(relabel, torch.randint(0, 3, (n,), generator=generator), kind)
    gap = 1e-2 * (torch.tanh(2 * x[:, 8] - x[:, 9]) + x[:, 10] * torch.cos(x[:, 11]))
    gap = gap + GAP_NOISE * noise[:, PROFILE_POINTS]
    return x, {"profile": profile, "kind": kind, "gap": gap}


class SharedTrunk(nn.Module):
    """A two-layer MLP trunk and one linear head per task."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Linear(INPUTS, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU()
        )
        self.heads = nn.ModuleDict(
            {
                "profile": nn.Linear(width, PROFILE_POINTS),
                "kind": nn.Linear(width, 3),
                "gap": nn.Linear(width, 1),
            }
        )

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        features = self.trunk(x)
        return {name: head(features) for name, head in self.heads.items()}


def task_losses(outputs: Mapping[str, Tensor], targets: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Each task's own loss in its own units: summed squared error over the profile's points,
    cross-entropy, squared error in metres²; all averaged over the batch."""
    profile_error = (outputs["profile"] - targets["profile"]).square().sum(1).mean()
    return {
        "profile": profile_error,
        "kind": nn.functional.cross_entropy(outputs["kind"], targets["kind"]),
        "gap": nn.functional.mse_loss(outputs["gap"].squeeze(1), targets["gap"]),
    }


@torch.no_grad()
def task_errors(net: SharedTrunk, x: Tensor, targets: Mapping[str, Tensor]) -> dict[str, float]:
    """Test errors: RMSE / std of the target for the regressions, error rate for the classes."""
    outputs = net(x)
    errors = {}
    for name in ("profile", "gap"):
        prediction = outputs[name].reshape(targets[name].shape)
        rmse = (prediction - targets[name]).square().mean().sqrt()
        errors[name] = float(rmse / targets[name].std())
    errors["kind"] = float((outputs["kind"].argmax(1) != targets["kind"]).float().mean())
    return {name: errors[name] for name in TASKS}


def noise_floor(targets: Mapping[str, Tensor]) -> dict[str, float]:
    """The errors of a perfect predictor, in :func:`task_errors`' units: the noise's standard
    deviation over the target's, and for the classes the relabelled fraction that lands on
    another class (2/3 of :data:`LABEL_NOISE`)."""
    return {
        "profile": PROFILE_NOISE / float(targets["profile"].std()),
        "kind": LABEL_NOISE * 2 / 3,
        "gap": GAP_NOISE / float(targets["gap"].std()),
    }


@dataclass(frozen=True)
class Result:
    """How one way of weighting ended: the weights applied last, ``w_i L_i`` on the test set
    (1/2 when uncertainty weighting has settled) and the per-task test errors."""

    label: str
    weights: dict[str, float]
    weighted_losses: dict[str, float]
    errors: dict[str, float]


Data = tuple[Tensor, dict[str, Tensor], Tensor, dict[str, Tensor]]


def train(
    label: str,
    bias_penalty: float | None,
    data: Data,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    weighting_lr: float,
    seed: int,
    verbose: bool = True,
) -> Result:
    """Trains a fresh `SharedTrunk` with fixed equal weights (``bias_penalty=None``) or with a
    `LearnableWeightedLoss` of that ``bias_penalty``."""
    x_train, y_train, x_test, y_test = data
    torch.manual_seed(seed)
    net = SharedTrunk()
    batches = torch.Generator().manual_seed(seed)

    def batch() -> dict[str, Tensor]:
        index = torch.randint(0, x_train.shape[0], (batch_size,), generator=batches)
        return task_losses(net(x_train[index]), {k: v[index] for k, v in y_train.items()})

    criterion: LearnableWeightedLoss | None = None
    if bias_penalty is None:
        optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    else:
        with torch.no_grad():
            first = batch()
        criterion = LearnableWeightedLoss(
            names=TASKS,
            bias_penalty=bias_penalty,
            init_log_variances=[math.log(float(first[name])) for name in TASKS],
        )
        # The criterion's log-variances must be in the optimizer: parameter_groups over both
        # modules gives them their own learning rate and no weight decay.
        both = nn.ModuleList([net, criterion])
        optimizer = torch.optim.Adam(parameter_groups(both, weighting_lr=weighting_lr), lr=lr)
    report_every = max(1, steps // 5)
    if verbose:
        print(f"\n{label}")
    for step in range(1, steps + 1):
        losses = batch()
        loss = torch.stack(list(losses.values())).sum() if criterion is None else criterion(losses)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if verbose and (step % report_every == 0 or step == steps):
            terms = "  ".join(f"L_{k} {v.item():8.3g}" for k, v in losses.items())
            shown = "" if criterion is None else "   weights " + _format(_weights(criterion))
            print(f"  step {step:5d}  {terms}{shown}")
    weights = dict.fromkeys(TASKS, 1.0) if criterion is None else _weights(criterion)
    with torch.no_grad():
        test_losses = task_losses(net(x_test), y_test)
    weighted = {name: weights[name] * float(test_losses[name]) for name in TASKS}
    return Result(label, weights, weighted, task_errors(net, x_test, y_test))


def _weights(criterion: LearnableWeightedLoss) -> dict[str, float]:
    return {name: float(w) for name, w in criterion.weights_by_name().items()}


def _format(values: Mapping[str, float]) -> str:
    return "  ".join(f"{name} {value:.3g}" for name, value in values.items())


def main(argv: list[str] | None = None) -> list[Result]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3, help="the network's learning rate")
    parser.add_argument(
        "--weighting-lr", type=float, default=0.01, help="the log-variances' learning rate"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.steps < 1 or args.batch_size < 1:
        parser.error("--steps and --batch-size must be >= 1")

    torch.set_num_threads(1)  # a network this small runs fastest on one thread
    generator = torch.Generator().manual_seed(args.seed)
    data = (*make_tasks(8192, generator), *make_tasks(4096, generator))
    options = {
        "steps": args.steps,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "weighting_lr": args.weighting_lr,
        "seed": args.seed,
    }
    start = time.perf_counter()
    results = [
        train("fixed equal weights", None, data, **options),
        train("learned, bias_penalty=0 (uncertainty weighting)", 0.0, data, **options),
        train("learned, default bias_penalty=0.25", DEFAULT_BIAS_PENALTY, data, **options),
    ]
    elapsed = time.perf_counter() - start

    print(f"\nafter {args.steps} steps each ({elapsed:.0f} s in all); test set of 4096 points")
    print("err: profile and gap RMSE / target std (1 = predicting the mean), kind error rate")
    print(
        f"{'weighting':<50}"
        + "".join(f"{'w_' + t:>12}" for t in TASKS)
        + "".join(f"{'w·L_' + t:>12}" for t in TASKS)
        + "".join(f"{'err_' + t:>12}" for t in TASKS)
    )
    for result in results:
        print(
            f"{result.label:<50}"
            + "".join(f"{result.weights[t]:>12.3g}" for t in TASKS)
            + "".join(f"{result.weighted_losses[t]:>12.3g}" for t in TASKS)
            + "".join(f"{result.errors[t]:>12.3f}" for t in TASKS)
        )
    floor = noise_floor(data[3])
    print(f"{'best possible (the noise in the targets)':<50}{'':>72}", end="")
    print("".join(f"{floor[t]:>12.3f}" for t in TASKS))
    return results


if __name__ == "__main__":
    main()
