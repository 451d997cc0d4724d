"""The loop's options do what they say: bf16 autocast, evaluation cadence, the returned record."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from helpers import procedural_batches, tiny_model

from learnable_weights import LVAE
from learnable_weights.training import TrainConfig, train
from learnable_weights.weighting import LearnedWeighting


@pytest.mark.parametrize(("amp", "dtype"), [(False, torch.float32), (True, torch.bfloat16)])
def test_amp_runs_the_networks_in_bfloat16(amp: bool, dtype: torch.dtype) -> None:
    model = tiny_model()
    seen: list[torch.dtype] = []
    model.encoder.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    result = train(model, procedural_batches(), TrainConfig(steps=2, batch_size=8, amp=amp),
                   progress=False)  # fmt: skip
    assert seen == [dtype, dtype]
    assert all(isinstance(r["loss"], float) for r in result.history)


def test_evaluator_runs_every_eval_every_steps_and_at_the_end() -> None:
    calls: list[int] = []

    def evaluator(model: LVAE, step: int) -> dict[str, Any]:
        assert isinstance(model, LVAE)
        calls.append(step)
        return {"score": float(step)}

    config = TrainConfig(steps=7, batch_size=8, eval_every=3, log_every=2)
    result = train(tiny_model(), procedural_batches(), config, evaluator=evaluator,
                   progress=False)  # fmt: skip
    assert calls == [3, 6, 7]
    assert result.evaluations == [{"step": s, "score": float(s)} for s in (3, 6, 7)]
    assert [r["step"] for r in result.history] == [2, 4, 6, 7]
    assert result.step == 7 and result.checkpoint is None


def test_evaluator_also_runs_at_each_step_of_eval_at() -> None:
    calls: list[int] = []

    def evaluator(model: LVAE, step: int) -> dict[str, Any]:
        calls.append(step)
        return {}

    config = TrainConfig(
        steps=7,
        batch_size=8,
        eval_every=4,
        eval_at=[2, 5, 9],  # a list on purpose: stored as a tuple
        log_every=7,
    )
    train(tiny_model(), procedural_batches(), config, evaluator=evaluator, progress=False)
    assert config.eval_at == (2, 5, 9)
    assert calls == [2, 4, 5, 7]  # 9 lies beyond the run


def test_records_hold_the_learned_weights_of_a_learned_model_only() -> None:
    """With the default objective the network applies (1, β); the records also keep the learned
    weights themselves, as they stand after the logged step."""
    model = tiny_model("l-vae")
    config = TrainConfig(steps=3, batch_size=8, log_every=3)
    result = train(model, procedural_batches(), config, progress=False)
    (record,) = result.history
    assert isinstance(model.weighting, LearnedWeighting)
    assert record["weights"][0] == 1.0
    assert record["learned_weights"] == pytest.approx(model.weighting.learned_weights.tolist())
    assert record["learned_weights"][1] / record["learned_weights"][0] == pytest.approx(
        float(model.weighting.beta), rel=1e-5
    )
    vae = train(tiny_model("vae"), procedural_batches(), config, progress=False)
    assert "learned_weights" not in vae.history[0]
