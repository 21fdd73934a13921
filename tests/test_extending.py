"""The recipes of docs/extending.md, followed on a copy of the repository.

Each test copies the repository's code, adds a toy exactly where its recipe says (the
files in ``tests/recipes`` and the registry entries below), checks the toy through its
registry, and runs the workflow on a small study that uses it, up to the Markdown paper.
That the copy needs no other edit is what the recipe promises.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

RECIPES = ROOT / "tests/recipes"
#: What the workflow needs of the repository (the rest is tests, docs and CI).
COPIED = ("src", "workflow", "paper", "Snakefile", "config.yaml", "environment.yml")

#: The toy optimizer's registry entry (study/optimizers.py, appended to ``_ENTRIES``).
SOFTSIGN_ENTRY = """
    Optimizer(
        "softsign",
        "SoftSign",
        "lossscale.train.stacked_optim.softsign:StackedSoftSign",
        "lossscale.optim.softsign:SoftSign",
        {"lr": Real(1e-3, low_open=True), "eps": Real(1e-8)},
        decay="none",
        eps_in_denominator=True,
        exact=("eps",),
        ours=True,
    ),"""
#: The toy figure's registry entry (figures/__init__.py, appended to ``REGISTRY``).
FIGURE_ENTRY = """
    Figure(
        "final_metric",
        slices.main_block,
        train="final",
        caption="Final training metric against the loss scale, one line per optimizer.",
    ),"""


def copy_repository(dest: Path) -> Path:
    """The parts of this repository the workflow needs, copied under ``dest``."""
    ignore = shutil.ignore_patterns("__pycache__", "build", "*.egg-info")
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        else:
            shutil.copy2(src, dest / name)
    return dest


def copy_recipe(repo: Path, recipe: str, target: str) -> None:
    shutil.copyfile(RECIPES / recipe, repo / target)


def insert(path: Path, anchor: str, text: str, after: bool = False) -> None:
    """Insert ``text`` before (or after) the one occurrence of ``anchor`` in ``path``."""
    content = path.read_text()
    assert content.count(anchor) == 1, f"{path}: the recipe's anchor {anchor!r} moved"
    new = anchor + text if after else text + anchor
    path.write_text(content.replace(anchor, new))


def add_optimizer(repo: Path) -> None:
    """Recipe 1: implementation, registry entry, claims."""
    copy_recipe(repo, "softsign.py", "src/lossscale/optim/softsign.py")
    copy_recipe(repo, "stacked_softsign.py", "src/lossscale/train/stacked_optim/softsign.py")
    insert(repo / "src/lossscale/study/optimizers.py", "\n)\n\n#: The registry", SOFTSIGN_ENTRY)
    copy_recipe(repo, "softsign.yaml", "src/lossscale/derivations/claims/softsign.yaml")


def add_task(repo: Path) -> None:
    """Recipe 2: a model (module and registration), a task (builder, registration,
    schema section)."""
    copy_recipe(repo, "linear.py", "src/lossscale/models/linear.py")
    models = repo / "src/lossscale/models/base.py"
    insert(models, "\n}\n", '\n    "linear": "lossscale.models.linear:StackedLinear",')
    copy_recipe(repo, "sine.py", "src/lossscale/tasks/sine.py")
    tasks = repo / "src/lossscale/tasks/__init__.py"
    insert(tasks, "\n}\n", '\n    "sine": "lossscale.tasks.sine:sine_task",')
    schema = yaml.safe_load((RECIPES / "sine.yaml").read_text())
    section = textwrap.indent(yaml.safe_dump(schema, sort_keys=False), "  ")
    insert(repo / "workflow/schemas/config.schema.yaml", "\n$defs:\n", section, after=True)


def add_figure(repo: Path) -> None:
    """Recipe 3: the figure's module and its registry entry."""
    copy_recipe(repo, "final_metric.py", "src/lossscale/figures/final_metric.py")
    insert(repo / "src/lossscale/figures/__init__.py", "\n)\nFIGURES = ", FIGURE_ENTRY)


def in_copy(repo: Path, code: str) -> subprocess.CompletedProcess:
    """Run Python ``code`` against the copy's package; fail with its output."""
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def smoke_run(repo: Path, work: Path, block: dict, tasks: dict | None = None) -> Path:
    """The copy's workflow on a one-block study, up to the paper's and supplement's sources."""
    config = yaml.safe_load((ROOT / "workflow/configs/smoke.yaml").read_text())
    config["train"]["blocks"] = {"main": block}
    config.pop("phase", None)
    if tasks:  # in place of the default tasks, one of which the layer probe names
        config["tasks"] = tasks
        config["phase"] = {"layers": {"task": None}}
    work.mkdir()
    (work / "study.yaml").write_text(yaml.safe_dump(config))
    cmd = [
        *(sys.executable, "-m", "snakemake", "--snakefile", str(repo / "Snakefile")),
        *("--directory", str(work), "--configfile", str(work / "study.yaml")),
        *("--replace-workflow-config", "--cores=2", "paper/build/paper.md"),
    ]
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    return work


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return copy_repository(tmp_path / "repo")


def test_the_recipes_anchor_where_the_docs_say(repo):
    """Without any recipe the copy is this repository: its registries lack the toys."""
    in_copy(
        repo,
        """
        from lossscale.figures import FIGURES
        from lossscale.models import MODELS
        from lossscale.study import optimizers
        from lossscale.tasks import TASKS
        assert "softsign" not in optimizers.OPTIMIZERS and "sine" not in TASKS
        assert "linear" not in MODELS and "final_metric" not in FIGURES
        """,
    )


@pytest.mark.slow
def test_recipe_add_an_optimizer(repo, tmp_path):
    add_optimizer(repo)
    in_copy(
        repo,
        """
        import torch
        from lossscale.config import load_schema
        from lossscale.derivations.claims import load_ledger
        from lossscale.models import Stack
        from lossscale.optim.softsign import SoftSign
        from lossscale.train.stacked_optim import STACKED, make_stacked_optimizer

        schema = load_schema()
        assert "softsign" in schema["properties"]["optimizers"]["properties"]
        assert "softsign" in STACKED
        assert {"softsign-eps", "softsign-eps-counter"} <= {c.id for c in load_ledger().claims}
        # each replica is the lone optimizer with its own lr and eps
        gen = torch.Generator().manual_seed(0)
        start = torch.randn(3, 4, 5, generator=gen, dtype=torch.float64)
        grads = [torch.randn(3, 4, 5, generator=gen, dtype=torch.float64) for _ in range(5)]
        lr, eps = [1e-3, 1e-2, 0.1], [1e-8, 1.0, 1e-3]
        stacked = start.clone().requires_grad_()
        opt = make_stacked_optimizer("softsign", Stack([stacked], 3), {"lr": lr, "eps": eps})
        for g in grads:
            stacked.grad = g.clone()
            opt.step()
        for r in range(3):
            lone = start[r].clone().requires_grad_()
            ref = SoftSign([lone], lr=lr[r], eps=eps[r])
            for g in grads:
                lone.grad = g[r].clone()
                ref.step()
            torch.testing.assert_close(stacked[r], lone, rtol=1e-12, atol=0)
        assert not torch.equal(stacked.detach(), start)
        """,
    )
    block = {"tasks": ["diabetes"], "optimizers": ["softsign", "adam"], "alphas": [1, 1e5]}
    work = smoke_run(repo, tmp_path / "work", block)
    claims = pd.read_csv(work / "results/derivations/claims.csv")
    toy = claims[claims["claim_id"].str.startswith("softsign")]
    assert set(toy["claim_id"]) == {"softsign-eps", "softsign-eps-counter"}
    assert (toy["verdict"] == "confirmed").all() and len(toy) == 6  # 3 alphas each
    comparisons = pd.read_csv(work / "results/stats/comparisons.csv")
    assert set(comparisons["optimizer"]) == {"softsign", "adam"}
    assert "SoftSign" in (work / "paper/build/supplement.md").read_text()


@pytest.mark.slow
def test_recipe_add_a_task_and_its_model(repo, tmp_path):
    add_task(repo)
    in_copy(
        repo,
        """
        import torch
        from lossscale.config import validate_config, load_schema
        from lossscale.models import build_model
        from lossscale.tasks import make_task

        config = validate_config(
            {
                "tasks": {"sine": {"kind": "sine"}},
                "train": {"blocks": {"b": {"tasks": ["sine"], "optimizers": ["adam"]}}},
                "phase": {"layers": {"task": None}},
            },
            load_schema(),
        )
        settings = config["tasks"]["sine"]
        assert settings["harmonics"] == 3 and settings["target_scale"] == 1e-5
        task = make_task("sine", settings, torch.float64, "cpu")
        model = build_model(task.model, [0, 1, 0])
        out = model(task.x_train)
        assert out.shape == (3, len(task.y_train)) and torch.equal(out[0], out[2])
        for r in range(3):
            torch.testing.assert_close(model.lone_module(r)(task.x_train), out[r].detach())
        """,
    )
    block = {"tasks": ["sine"], "optimizers": ["adam", "sgd"], "alphas": [1, 1e5]}
    tasks = {"sine": {"kind": "sine", "lr": {"sgd": 1e4}}}
    work = smoke_run(repo, tmp_path / "work", block, tasks)
    comparisons = pd.read_csv(work / "results/stats/comparisons.csv")
    assert set(comparisons["task"]) == {"sine"}
    assert set(zip(comparisons["optimizer"], comparisons["alpha"], strict=True)) == {
        (optimizer, alpha) for optimizer in ("adam", "sgd") for alpha in (1.0, 1e5)
    }
    adam = pd.read_parquet(work / "results/train/sine/adam/float32/full-20.parquet")
    assert adam["train_metric"].notna().all() and len(adam) == 2 * 2 * 5  # seeds x alphas x records
    assert "| sine |" in (work / "paper/build/supplement.md").read_text()


@pytest.mark.slow
def test_recipe_add_a_figure(repo, tmp_path):
    add_figure(repo)
    block = {"tasks": ["diabetes"], "optimizers": ["adam", "sgd"], "alphas": [1, 1e5]}
    work = smoke_run(repo, tmp_path / "work", block)
    assert (work / "results/figures/final_metric.png").stat().st_size > 1000
    paper = (work / "paper/build/supplement.md").read_text()
    assert "### Further figures" in paper
    assert "Final training metric against the loss scale, one line per optimizer." in paper
    assert "figures/final_metric.png" in paper
    context = json.loads((work / "results/report/context.json").read_text())
    assert "final_metric" in context["figures"]
