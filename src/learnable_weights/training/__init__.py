"""Training L-VAE and its baselines: the loop the examples share, usable without them.

`train` runs the steps (device batches, Adam over `learnable_weights.parameter_groups`, optional
bf16 autocast and ``torch.compile``, evaluation hooks) and writes checkpoints that resume exactly,
JSON-lines and TensorBoard logs and a progress bar; under ``torchrun`` it trains with
DistributedDataParallel. Modules: `config` (settings and presets), `batches` (batch sources),
`checkpoint` (atomic files), `logs`, `distributed`, `rng`, `loop`, and `cli` (the command line of
``examples/train_*.py``, which needs the ``examples`` extra for its progress bar and pictures).

Example::

    from learnable_weights import data, models
    from learnable_weights.nets import reference_networks
    from learnable_weights.training import SamplerBatches, TrainConfig, train

    dataset = data.ProceduralDSprites()
    model = models.build("l-vae", *reference_networks(1, 10), latent_dim=10)
    batches = SamplerBatches(dataset, 64, device="cpu", seed=0)
    result = train(model, batches, TrainConfig(steps=1000, lr=1e-3), out_dir=Path("run"))
"""

from learnable_weights.training.batches import BatchSource, LoaderBatches, SamplerBatches
from learnable_weights.training.checkpoint import CheckpointError
from learnable_weights.training.config import PRESETS, Preset, TrainConfig
from learnable_weights.training.distributed import DistributedContext, share_controller_kl
from learnable_weights.training.loop import Evaluator, TrainResult, train

__all__ = [
    "PRESETS",
    "BatchSource",
    "CheckpointError",
    "DistributedContext",
    "Evaluator",
    "LoaderBatches",
    "Preset",
    "SamplerBatches",
    "TrainConfig",
    "TrainResult",
    "share_controller_kl",
    "train",
]
