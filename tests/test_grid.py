"""The training grid: blocks expand into jobs and replicas; bad blocks are refused."""

from __future__ import annotations

import pytest

from lossscale.config import ConfigError, load_schema, validate_config
from lossscale.optim import OPTIMIZERS
from lossscale.study.grid import Job, batches, expand, format_summary, summary
from lossscale.train.plan import estimate, format_plan, load_study, load_throughput, main


@pytest.fixture(scope="module")
def schema(root):
    return load_schema(root / "workflow/schemas/config.schema.yaml")


def blocks(schema, **blocks):
    return validate_config({"train": {"seeds": 2, "blocks": blocks}}, schema)


def test_blocks_share_replicas_and_each_trains_once(schema):
    config = blocks(
        schema,
        main={"tasks": ["diabetes"], "optimizers": ["adam", "sgd"], "alphas": [1, 10]},
        reg={
            "tasks": ["diabetes"],
            "optimizers": ["adam"],
            "alphas": [1, 10, 100],
            "regularizations": ["none", "l2"],
            "weight_decay": 0.5,
        },
    )
    grid = expand(config)
    assert list(grid) == [
        Job("diabetes", "adam", "float32", 0, 500),
        Job("diabetes", "sgd", "float32", 0, 500),
    ]
    adam = grid[Job("diabetes", "adam", "float32", 0, 500)]
    # none x {1, 10, 100} and l2 x {1, 10, 100}, 2 seeds; main's none x {1, 10} is shared
    assert len(adam) == 12 == len(set(adam))
    assert {(r.regularization, r.weight_decay) for r in adam} == {("none", 0.0), ("l2", 0.5)}
    rows = summary(config)
    assert [r["replicas"] for r in rows] == [8, 12, 16]  # main, reg, grid (shared once)
    assert rows[-1]["replica_steps"] == 16 * config["train"]["steps"]
    *_, total, jobs = format_summary(rows, per_job=3).splitlines()
    assert total.split() == ["grid", "2", "16", "8,000"]
    assert jobs == "2 cells in 1 training jobs of up to 3 (cells_per_job)"


def test_a_block_of_its_own_seeds_steps_and_batch_size_has_cells_of_its_own(schema):
    config = blocks(
        schema,
        main={"tasks": ["diabetes"], "optimizers": ["adam"], "alphas": [1, 10]},
        long={"tasks": ["diabetes"], "optimizers": ["adam"], "alphas": [1], "steps": 5000},
        noisy={
            "tasks": ["diabetes"],
            "optimizers": ["adam"],
            "alphas": [1, 10],
            "seeds": 3,
            "batch_size": 32,
        },
    )
    grid = expand(config)
    assert list(grid) == [
        Job("diabetes", "adam", "float32", 0, 500),
        Job("diabetes", "adam", "float32", 0, 5000),
        Job("diabetes", "adam", "float32", 32, 500),
    ]
    assert [len(r) for r in grid.values()] == [4, 2, 6]  # seeds: train's 2, train's 2, 3
    assert [job.path for job in grid][1:] == [
        "results/train/diabetes/adam/float32/full-5000.parquet",
        "results/train/diabetes/adam/float32/batch32-500.parquet",
    ]
    steps = [row["replica_steps"] for row in summary(config)]
    assert steps == [4 * 500, 2 * 5000, 6 * 500, 4 * 500 + 2 * 5000 + 6 * 500]


def test_lbfgs_on_minibatches_is_refused(schema):
    config = blocks(schema, b={"tasks": ["diabetes"], "optimizers": ["lbfgs"], "batch_size": 8})
    with pytest.raises(ConfigError, match=r"train\.blocks\.b\.batch_size: value 8 is not allowed"):
        expand(config)


def test_batches_cut_the_sorted_cells_into_runs():
    cells = [Job("t", opt, "float32", 0, 500) for opt in ("sgd", "adam", "nadam", "lion", "adamw")]
    runs = batches(cells, 2)
    assert [[c.optimizer for c in run] for run in runs] == [
        ["adam", "adamw"],
        ["lion", "nadam"],
        ["sgd"],
    ]
    assert batches(cells, 1) == [(c,) for c in sorted(cells)] and batches([], 4) == []
    with pytest.raises(ValueError, match="cells_per_job: value 0 is not allowed; allowed: >= 1"):
        batches(cells, 0)


def test_default_grid_has_every_optimizer_and_a_reference_per_setting(schema):
    grid = expand(validate_config({}, schema))
    optimizers = {job.optimizer for job in grid}
    # every optimizer but AdamW, which is Adam with regularization `decoupled`
    assert optimizers == set(OPTIMIZERS) - {"adamw"}
    for job, replicas in grid.items():
        settings = {(r.regularization, r.compensation, r.weight_decay) for r in replicas}
        for setting in settings:
            alphas = {
                r.alpha
                for r in replicas
                if (r.regularization, r.compensation, r.weight_decay) == setting
            }
            assert 1.0 in alphas, (job, setting)


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (
            {"tasks": ["mnist"], "optimizers": ["adam"]},
            'train.blocks.b.tasks[0]: value "mnist" is not allowed; allowed: diabetes,',
        ),
        (
            {"tasks": ["diabetes"], "optimizers": ["sgd"], "compensations": ["eps"]},
            "optimizer 'sgd' with regularization 'none' and compensation 'eps' is not allowed: "
            "sgd has no scalar eps",
        ),
        (
            {"tasks": ["diabetes"], "optimizers": ["adamw"], "regularizations": ["coupled"]},
            "adamw's weight decay is always decoupled",
        ),
        (
            {"tasks": ["diabetes"], "optimizers": ["sgd"], "regularizations": ["decoupled"]},
            "sgd has no decoupled weight decay",
        ),
        (
            {"tasks": ["diabetes"], "optimizers": ["lbfgs"], "regularizations": ["coupled"]},
            "lbfgs has no weight decay (use regularization l2)",
        ),
        (
            {
                "tasks": ["diabetes"],
                "optimizers": ["adam"],
                "regularizations": ["coupled"],
                "weight_decay": 0,
            },
            "train.blocks.b.weight_decay: value 0 is not allowed",
        ),
    ],
)
def test_impossible_blocks_are_refused_naming_key_and_value(schema, block, message):
    with pytest.raises(ConfigError) as err:
        expand(blocks(schema, b=block))
    assert message in str(err.value)


def test_schema_refuses_unknown_block_keys_and_values(schema):
    with pytest.raises(ConfigError) as err:
        blocks(schema, b={"tasks": ["diabetes"], "optimizers": ["adam"], "alpha": [1]})
    assert "train.blocks.b.alpha: unknown key" in str(err.value)
    with pytest.raises(ConfigError) as err:
        blocks(schema, b={"tasks": ["diabetes"], "optimizers": ["adam"], "alphas": ["2^x", 1]})
    assert 'train.blocks.b.alphas[0]: value "2^x" is not allowed' in str(err.value)


def test_powers_of_two_are_exact(schema):
    config = blocks(
        schema, b={"tasks": ["diabetes"], "optimizers": ["adam"], "alphas": ["2^-20", 1, "2^ 3"]}
    )
    assert config["train"]["blocks"]["b"]["alphas"] == [2.0**-20, 1, 8.0]


def test_command_line_prints_the_summary_or_a_clear_error(tmp_path, capsys, root):
    assert main([str(root / "config.yaml")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:4] == ["block", "cells", "replicas", "replica-steps"]
    assert "main" in out and "grid" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "train: {blocks: {b: {tasks: [diabetes], optimizers: [sgd], compensations: [eps]}}}\n"
    )
    assert main([str(bad)]) == 2
    assert "sgd has no scalar eps" in capsys.readouterr().err


def test_readme_shows_the_default_grid_as_make_grid_prints_it(root):
    readme = (root / "README.md").read_text()
    shown = readme.split("$ make grid\n", 1)[1].split("```", 1)[0].rstrip("\n")
    config = load_study(root / "config.yaml", replace=False)
    throughput = load_throughput()
    assert shown == format_plan(estimate(config, throughput), throughput, config["cells_per_job"])
