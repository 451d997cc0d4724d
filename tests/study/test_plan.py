"""Sweep plans: stable run identifiers, grids on the chosen models only, shards that partition."""

from __future__ import annotations

import pytest

from learnable_weights.study import RunSpec, parse_option, parse_shard, plan_runs, select_shard


def test_plan_expands_models_grid_and_seeds_in_order() -> None:
    runs = plan_runs(
        ["vae", "beta-vae", "l-vae"],
        [0, 1],
        fixed={"beta-vae": {"beta": 16}},
        grids={"l-vae": {"bias_penalty": [0, 0.25]}},
    )
    assert [r.label for r in runs] == [
        "vae",
        "vae",
        "beta-vae[beta=16]",
        "beta-vae[beta=16]",
        "l-vae[bias_penalty=0]",
        "l-vae[bias_penalty=0]",
        "l-vae[bias_penalty=0.25]",
        "l-vae[bias_penalty=0.25]",
    ]
    assert [r.seed for r in runs] == [0, 1] * 4
    assert runs[4].options_dict() == {"bias_penalty": 0}
    assert runs[4].run_id == "l-vae_bias_penalty=0__seed0"
    assert len({r.run_id for r in runs}) == len(runs)


def test_variants_add_rows_after_the_models() -> None:
    runs = plan_runs(
        ["vae"],
        [0],
        variants=[("l-vae", {"parameterization": "simplex", "bias_penalty": 2}), ("l-vae", {})],
    )
    assert [r.label for r in runs] == [
        "vae",
        "l-vae[bias_penalty=2,parameterization=simplex]",
        "l-vae",
    ]
    with pytest.raises(ValueError, match="share an identifier"):
        plan_runs(["l-vae"], [0], variants=[("l-vae", {})])


def test_run_ids_depend_only_on_model_options_and_seed() -> None:
    a = RunSpec("l-vae", 3, (("bias_penalty", 0.1), ("uncertainty", "liebel")))
    b = plan_runs(
        ["l-vae"],
        [3],
        fixed={"l-vae": {"uncertainty": "liebel", "bias_penalty": 0.1}},
    )[0]
    assert a == b and a.run_id == b.run_id


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shards_partition_the_runs(count: int) -> None:
    runs = plan_runs(["vae", "beta-vae", "l-vae"], [0, 1, 2])
    shards = [select_shard(runs, i, count) for i in range(1, count + 1)]
    flat = [run for shard in shards for run in shard]
    assert sorted(r.run_id for r in flat) == sorted(r.run_id for r in runs)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


def test_parsers_and_errors() -> None:
    assert parse_shard("2/8") == (2, 8)
    assert parse_option("bias_penalty=0,0.1,1") == ("bias_penalty", [0, 0.1, 1])
    assert parse_option("uncertainty=liebel") == ("uncertainty", ["liebel"])
    assert parse_option("init_log_variances=[0,-1.5],2") == ("init_log_variances", [[0, -1.5], 2])
    for bad in ("0/3", "4/3", "2-3"):
        with pytest.raises(ValueError, match="i/n"):
            parse_shard(bad)
    with pytest.raises(ValueError, match="name=value"):
        parse_option("bias_penalty")
    with pytest.raises(ValueError, match="distinct"):
        plan_runs(["vae"], [0, 0])
    with pytest.raises(ValueError, match="not in the sweep"):
        plan_runs(["vae"], [0], grids={"l-vae": {"bias_penalty": [0]}})
    with pytest.raises(ValueError, match="not in the sweep"):
        plan_runs(["vae"], [0], fixed={"l-vae": {"bias_penalty": 0}})


def test_two_grids_multiply_and_fixed_options_join() -> None:
    runs = plan_runs(
        ["beta-vae", "l-vae"],
        [0],
        fixed={"l-vae": {"uncertainty": "liebel"}},
        grids={"beta-vae": {"beta": [4, 16]}, "l-vae": {"bias_penalty": [0, 1], "init": [0, 2]}},
    )
    assert [r.label for r in runs[:2]] == ["beta-vae[beta=4]", "beta-vae[beta=16]"]
    assert len(runs) == 2 + 4
    assert runs[-1].options_dict() == {"bias_penalty": 1, "init": 2, "uncertainty": "liebel"}
