"""Shared test configuration: tests marked ``cuda`` skip on machines without a CUDA device."""

from __future__ import annotations

import pytest
import torch


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (run benchmarks/gpu_checks.sh on one)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
