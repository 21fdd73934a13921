"""`make grid`: the plan of a study, its FLOPs and hours, and the paper-scale config."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from lossscale.config import ConfigError
from lossscale.study import grid, optimizers
from lossscale.train import plan

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "workflow/configs/paper.yaml"
SMOKE = ROOT / "workflow/configs/smoke.yaml"
#: The paper-scale study's loss scales.
ALL_ALPHAS = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1, 10, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7,
              1e8, 2**10]  # fmt: skip
REDUCED_ALPHAS = [1e-8, 1, 1e4]
THROUGHPUT = {
    "cpu": {"machine": "test CPU", "threads": 2, "date": "2026-12-04",
            "gflops": {"mlp": 40.0, "cnn": 4.0, "transformer": 2.0}},
}  # fmt: skip


def test_merged_follows_snakemake():
    base = {"a": 1, "train": {"seeds": 5, "blocks": {"main": {"tasks": ["x"], "seeds": 3}}}}
    overlay = {"train": {"blocks": {"main": {"seeds": 10}, "new": {"tasks": ["y"]}}}, "b": [1]}
    assert plan.merged(base, overlay) == {
        "a": 1,
        "b": [1],
        "train": {
            "seeds": 5,
            "blocks": {"main": {"tasks": ["x"], "seeds": 10}, "new": {"tasks": ["y"]}},
        },
    }


def test_the_paper_config_validates_and_expands_to_the_paper_scale_study():
    config = plan.load_study(PAPER, replace=False)
    blocks = config["train"]["blocks"]
    elementwise = set(optimizers.names(kind="stacked"))
    assert set(blocks["tasks"]["optimizers"]) == elementwise
    assert set(blocks["models"]["optimizers"]) == elementwise
    assert config["train"]["seeds"] == 20 and blocks["main"]["seeds"] == 20
    assert blocks["models"]["batch_size"] > 0 and config["tasks"]["modular"]["width"] == 128
    assert len(blocks["main"]["alphas"]) == 18
    jobs = grid.expand(config)
    default = grid.expand(plan.load_study(ROOT / "config.yaml", replace=False))
    assert len(jobs) > len(default)
    assert sum(map(len, jobs.values())) > 5 * sum(map(len, default.values()))
    assert {"digits_cnn", "modular"} <= {job.task for job in jobs}


def test_the_mlp_step_flops_are_its_matmuls():
    """PyTorch's count for a full-batch MLP step: forward 2 N S (S: the weights'
    entries), backward 2 N S for the weights and 2 N (S - first layer) for the inputs,
    plus the held-out forward once every ``record_every`` steps."""
    config = plan.load_study(ROOT / "config.yaml", replace=False)
    settings = config["tasks"]["diabetes"]
    family, flops = plan._step_flops("diabetes", json.dumps(settings), 0, 10)
    sizes = (10, 32, 32, 1)
    weights = sum(a * b for a, b in itertools.pairwise(sizes))
    n_train, n_test = 331, 111
    assert family == "mlp"
    assert flops == 2 * n_train * (3 * weights - 10 * 32) + 2 * n_test * weights / 10


def test_the_plan_prints_hours_from_the_recorded_throughput(tmp_path, capsys):
    path = tmp_path / "throughput.json"
    path.write_text(json.dumps(THROUGHPUT))
    config = plan.load_study(SMOKE, replace=True)
    rows = plan.estimate(config, plan.load_throughput(path))
    assert [r["block"] for r in rows][-1] == "grid"
    by_block, total = {r["block"]: r for r in rows[:-1]}, rows[-1]
    # every smoke cell but block models' is an MLP on diabetes in float32 or float16 (a
    # lower bound); block models trains the transformer
    for name, row in by_block.items():
        rate = 2e9 if name == "models" else 40e9
        assert row["cpu_hours"] == pytest.approx(row["flops"] / rate / 3600 * 2), name
    # the grid counts a cell that several blocks name once; block models shares none
    models = by_block["models"]["flops"]
    seconds = (total["flops"] - models) / 40e9 + models / 2e9
    assert total["cpu_hours"] == pytest.approx(seconds / 3600 * 2)
    assert total["lower_bound"]
    text = plan.format_plan(rows, THROUGHPUT, 1)
    assert "CPU-core h" in text and "test CPU, 2 threads, measured 2026-12-04" in text
    assert "gpu: no measurement recorded" in text and "a lower bound" in text
    assert plan.main([str(SMOKE), "--replace"]) == 0
    assert "replica-steps" in capsys.readouterr().out


def test_a_damaged_throughput_file_is_named(tmp_path):
    path = tmp_path / "throughput.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match=r"throughput\.json: not valid JSON .*--record"):
        plan.load_throughput(path)


def test_a_bad_config_is_an_error_naming_the_key(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"train": {"seeds": 0}}))
    assert plan.main([str(path)]) == 2
    assert "train.seeds" in capsys.readouterr().err


def reduced_paper_config() -> dict:
    """``paper.yaml`` merged into ``config.yaml`` as ``make paper CONFIG=...`` runs it,
    cut to what a CI run affords: 2 seeds, a few steps, three loss scales per block (the
    phase blocks keep their factors), the transformer on p = 23 (not 97)."""
    config = plan.merged(
        yaml.safe_load((ROOT / "config.yaml").read_text()), yaml.safe_load(PAPER.read_text())
    )
    config["derivations"] = {**config.get("derivations", {}), "steps": 20}
    config["train"].update(seeds=2, steps=6, record_every=3, checkpoint_every=0)
    for block in config["train"]["blocks"].values():
        block.update({k: 2 for k in ("seeds",) if k in block})
        block.update({k: 12 for k in ("steps",) if k in block})
        if not block.get("phase"):
            block["alphas"] = REDUCED_ALPHAS
    config["tasks"]["modular"]["modulus"] = 23
    config["stats"] = {**config["stats"], "bootstrap_resamples": 100}
    return config


@pytest.mark.slow
def test_the_paper_config_runs_end_to_end_at_reduced_size(tmp_path):
    """Every block, task and model of the paper-scale study, at 2 seeds and a few steps,
    through training, statistics, figures and the Markdown paper."""
    from conftest import run_workflow

    path = tmp_path / "paper_reduced.yaml"
    path.write_text(yaml.safe_dump(reduced_paper_config()))
    work = tmp_path / "work"
    work.mkdir()
    done = run_workflow(work, path, extra=["paper/build/paper.md"], timeout=1500)
    assert done.returncode == 0, done.stderr[-4000:]
    comparisons = pd.read_csv(work / "results/stats/comparisons.csv")
    models = comparisons[comparisons["task"].isin(["digits_cnn", "modular"])]
    assert set(models["optimizer"]) == set(optimizers.names(kind="stacked"))
    assert set(models["alpha"]) == {float(a) for a in REDUCED_ALPHAS}
    assert (comparisons["n_seeds"] == 2).all()
    assert (
        "transformer, width 128, 2 blocks, 4 heads"
        in (work / "paper/build/supplement.md").read_text()
    )
