"""Which runs a sweep holds: models × option variants × seeds, named stably, split into shards.

A sweep is the cartesian product of model names, option variants (e.g. ``bias_penalty`` at
0, 0.1 and 0.25 for the learned models) and seeds. Each run has a stable identifier derived from
its model, options and seed only, so the same run gets the same result file on any machine and
any day, and ``--shard i/n`` picks the same share of runs wherever it is called.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RunSpec", "parse_option", "parse_shard", "plan_runs", "select_shard"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.=+-]+")


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep.

    Attributes:
        model: a registry name (`learnable_weights.models.available`).
        seed: the run's seed.
        options: the model's options (keyword arguments of `learnable_weights.models.build`)
            and the run's training options (``weighting_lr``), sorted by name.
    """

    model: str
    seed: int
    options: tuple[tuple[str, Any], ...] = field(default=())

    @property
    def label(self) -> str:
        """The model and its options: what a table row aggregates over seeds."""
        if not self.options:
            return self.model
        inner = ",".join(f"{key}={_format(value)}" for key, value in self.options)
        return f"{self.model}[{inner}]"

    @property
    def run_id(self) -> str:
        """A file-name-safe identifier, unique within a sweep: ``<label>__seed<seed>``."""
        return _UNSAFE.sub("_", self.label).strip("_") + f"__seed{self.seed}"

    def options_dict(self) -> dict[str, Any]:
        """The options as a dict."""
        return dict(self.options)


def plan_runs(
    models: Sequence[str],
    seeds: Sequence[int],
    *,
    fixed: Mapping[str, Mapping[str, Any]] | None = None,
    grids: Mapping[str, Mapping[str, Sequence[Any]]] | None = None,
    variants: Sequence[tuple[str, Mapping[str, Any]]] = (),
) -> list[RunSpec]:
    """Expands a sweep into its runs, in a stable order (model, variant, seed).

    Args:
        models: registry names, in table order.
        seeds: the seeds every variant runs with.
        fixed: per model, options every run of that model gets (e.g.
            ``{"beta-vae": {"beta": 16}}``).
        grids: per model, option name -> the values to sweep, as a cartesian product (e.g.
            ``{"l-vae": {"bias_penalty": [0, 0.1, 0.25]}}``); each combination is one table row.
        variants: further rows after those of ``models``, each a model (in ``models`` or not)
            with its options, e.g. ``("l-vae", {"parameterization": "simplex",
            "bias_penalty": 2})``: for rows that no grid expresses, such as different forms of
            one model side by side.
    """
    if not models and not variants:
        raise ValueError("a sweep needs at least one model or variant")
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct and non-empty, got {list(seeds)}")
    fixed, grids = fixed or {}, grids or {}
    unknown = sorted((set(fixed) | set(grids)) - set(models))
    if unknown:
        raise ValueError(f"options given for models not in the sweep: {unknown}")
    runs: list[RunSpec] = []
    for model in models:
        grid = grids.get(model, {})
        names = sorted(grid)
        for values in itertools.product(*(grid[name] for name in names)):
            options = {**fixed.get(model, {}), **dict(zip(names, values, strict=True))}
            for seed in seeds:
                runs.append(RunSpec(model, int(seed), tuple(sorted(options.items()))))
    for model, variant in variants:
        for seed in seeds:
            runs.append(RunSpec(model, int(seed), tuple(sorted(dict(variant).items()))))
    ids = [run.run_id for run in runs]
    if len(set(ids)) != len(ids):
        raise ValueError("two runs of the sweep share an identifier; make their options differ")
    return runs


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` (1 ≤ i ≤ n) -> ``(i, n)``; e.g. the Slurm array index over the array size."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if match is None:
        raise ValueError(f"a shard is written i/n, e.g. 2/8; got {text!r}")
    index, count = int(match.group(1)), int(match.group(2))
    if not 1 <= index <= count:
        raise ValueError(f"a shard i/n needs 1 <= i <= n; got {text!r}")
    return index, count


def select_shard(runs: Sequence[RunSpec], index: int, count: int) -> list[RunSpec]:
    """Shard ``index`` of ``count`` (1-based): every ``count``-th run starting at ``index``.

    Interleaving spreads each model's runs over the shards, so shards take similar times.
    """
    if not 1 <= index <= count:
        raise ValueError(f"shard {index}/{count} does not exist")
    return list(runs[index - 1 :: count])


def parse_option(text: str) -> tuple[str, list[Any]]:
    """``"name=v1,v2"`` -> ``(name, [v1, v2])`` with each value read as JSON when it parses
    (numbers, ``true``, ``null``, lists such as ``[0,-1.4]``, whose commas do not split) and kept
    as a string otherwise."""
    name, sep, values = text.partition("=")
    if not sep or not name.strip() or not values.strip():
        raise ValueError(f"an option is written name=value[,value...]; got {text!r}")
    return name.strip(), [_parse_value(v.strip()) for v in _top_level_split(values)]


def _top_level_split(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for position, char in enumerate(text):
        depth += (char in "[{") - (char in "]}")
        if char == "," and depth == 0:
            parts.append(text[start:position])
            start = position + 1
    parts.append(text[start:])
    return parts


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _format(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value
