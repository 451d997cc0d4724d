"""learnable-weights: learnable loss-term weights for PyTorch (L-VAE, arXiv 2507.02619)."""

__version__ = "0.1.0.dev0"
