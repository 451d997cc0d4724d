"""Logged records: means over the interval computed on the device, the applied β and weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from learnable_weights.training.logs import JsonLinesLog, StepStatistics, format_postfix
from learnable_weights.vae import VAEOutput


def output(loss: float, recon: float, kl_per_dim: list[float], weights: list[float]) -> VAEOutput:
    kl = torch.tensor(kl_per_dim)
    applied = torch.tensor(weights)
    beta = applied[1:] / applied[0] if len(weights) > 2 else applied[1] / applied[0]
    empty = torch.zeros(1, len(kl_per_dim))
    return VAEOutput(
        loss=torch.tensor(loss), recon_loss=torch.tensor(recon), kl=kl.sum(), kl_per_dim=kl,
        beta=beta, weights=applied, mu=empty, logvar=empty, z=empty, x_hat=empty,
    )  # fmt: skip


def test_record_holds_interval_means_and_the_last_weights() -> None:
    statistics = StepStatistics()
    statistics.add(output(10.0, 8.0, [1.0, 3.0], [0.5, 0.25]))
    statistics.add(output(20.0, 12.0, [2.0, 5.0], [0.5, 1.0]))
    record = statistics.record(step=2)
    assert record == {
        "step": 2, "loss": 15.0, "recon_loss": 10.0, "kl": 5.5, "kl_per_dim": [1.5, 4.0],
        "beta": 2.0, "weights": [0.5, 1.0],
    }  # fmt: skip
    assert statistics.count == 0
    with pytest.raises(RuntimeError, match="no step"):
        statistics.record(step=3)


def test_learned_weights_join_the_record_when_given() -> None:
    statistics = StepStatistics()
    statistics.add(output(10.0, 8.0, [1.0, 3.0], [1.0, 2.0]))
    record = statistics.record(step=1, learned_weights=torch.tensor([0.25, 0.5]))
    assert record["weights"] == [1.0, 2.0] and record["learned_weights"] == [0.25, 0.5]


def test_per_dimension_beta_is_a_list() -> None:
    statistics = StepStatistics()
    statistics.add(output(1.0, 1.0, [1.0, 1.0, 1.0], [0.5, 0.25, 1.0, 2.0]))
    record = statistics.record(step=1)
    assert record["beta"] == [0.5, 2.0, 4.0]
    assert record["weights"] == [0.5, 0.25, 1.0, 2.0]


def test_state_round_trip_keeps_a_half_interval() -> None:
    first, second = StepStatistics(), StepStatistics()
    first.add(output(4.0, 2.0, [1.0], [1.0, 1.0]))
    second.load_state_dict(first.state_dict())
    second.add(output(8.0, 6.0, [3.0], [1.0, 2.0]))
    assert second.record(step=2)["loss"] == 6.0


def test_json_lines_log_keeps_exactly_the_resumed_history(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text('{"step": 1}\n{"step": 2}\n{"step": 3}\n')  # step 3 came after the checkpoint
    log = JsonLinesLog(path, [{"step": 1}, {"step": 2}])
    log.write({"step": 3, "loss": float("nan")})
    log.close()
    lines = path.read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3]


def test_postfix_shows_loss_r_kl_weights_and_beta() -> None:
    record = {"loss": 1.5, "recon_loss": 2.0, "kl": 3.0, "weights": [0.5, 0.25], "beta": 0.5}
    assert format_postfix(record) == "loss 1.5 R 2 KL 3 w [0.5,0.25] β 0.5"
    many = {**record, "beta": [0.1, 0.2, 0.3, 0.4]}
    assert format_postfix(many).endswith("β [0.1..0.4]")
