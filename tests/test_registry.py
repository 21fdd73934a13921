"""The optimizer registry against the implementations, the schema and the import graph."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from lossscale.config import ConfigError, load_schema, validate_config
from lossscale.report.bib import read_bib
from lossscale.study import optimizers
from lossscale.study.spec import Real
from lossscale.train.stacked_optim import PER_REPLICA_CLASSES, STACKED, StackedOptimizer
from lossscale.train.stacked_optim.per_replica import hyperparameters

ROOT = Path(__file__).resolve().parents[1]
#: Keywords of the lone classes that are no setting of the study.
NOT_SETTINGS = {"maximize"}
#: A config whose only task is ``t``: one block of it, no per-layer probe.
ONLY_TASK_T = {
    "train": {"blocks": {"b": {"tasks": ["t"], "optimizers": ["adam"]}}},
    "phase": {"layers": {"task": None}},
}


def _same(a, b) -> bool:
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return (a == b and type(a) is type(b)) or (isinstance(a, float | int) and a == b)


@pytest.mark.parametrize("name", list(optimizers.OPTIMIZERS))
def test_keywords_match_the_reference_class(name):
    """Every keyword of an entry exists in the class it reproduces, with its default; a
    per-replica entry has every keyword the class has (but maximize)."""
    entry = optimizers.get(name)
    lone = hyperparameters(optimizers.reference(name))
    for key, default in entry.keywords.items():
        assert key in lone, f"{name}.{key} is not a keyword of {entry.reference}"
        assert _same(default, lone[key]), f"{name}.{key}: {default!r} != {lone[key]!r}"
    if entry.kind == "per_replica":
        assert set(entry.keywords) == set(lone) - NOT_SETTINGS


def test_implementations_are_the_registered_ones():
    assert list(STACKED) == list(optimizers.names(kind="stacked"))
    assert list(PER_REPLICA_CLASSES) == list(optimizers.names(kind="per_replica"))
    for name, cls in STACKED.items():
        assert issubclass(cls, StackedOptimizer) and cls.name == name
        assert cls.spec == dict(optimizers.get(name).spec)


def test_schema_sections_follow_the_registry():
    schema = load_schema()
    sections = schema["properties"]["optimizers"]["properties"]
    assert list(sections) == list(optimizers.OPTIMIZERS)
    block = schema["$defs"]["block"]["properties"]["optimizers"]["items"]
    assert block["enum"] == list(optimizers.OPTIMIZERS)
    # weight decay is the blocks' (per replica), never an optimizer setting
    assert all("weight_decay" not in s["properties"] for s in sections.values())
    assert sections["nadam"]["properties"]["eps"]["default"] == 1e-7  # the study's default
    assert sections["adam"]["properties"]["betas"]["default"] == [0.9, 0.999]
    lr = optimizers.get("lion").spec["lr"]
    assert isinstance(lr, Real) and lr.low_open
    assert sections["lion"]["properties"]["lr"]["exclusiveMinimum"] == 0.0


def test_schema_rejects_what_the_spec_does_not_allow():
    schema = load_schema()
    with pytest.raises(ConfigError, match=r"optimizers\.adam\.beta1"):
        validate_config({"optimizers": {"adam": {"beta1": 0.5}}}, schema)
    with pytest.raises(ConfigError, match=r"optimizers\.lion\.lr"):
        validate_config({"optimizers": {"lion": {"lr": 0.0}}}, schema)
    with pytest.raises(ConfigError, match=r"train\.blocks\.main\.optimizers"):
        validate_config({"train": {"blocks": {"main": {"optimizers": ["adamm"]}}}}, schema)


def test_lookup_names_what_is_allowed():
    with pytest.raises(KeyError, match="value 'adamm' is not allowed; allowed: sgd, adam"):
        optimizers.get("adamm")


def test_selections_read_the_registry():
    assert optimizers.eps_optimizers() == (
        "adam",
        "adamw",
        "nadam",
        "radam",
        "adamax",
        "rmsprop",
        "adagrad",
    )
    assert optimizers.exact_optimizers("none") == ("rprop", "lion", "signsgd")
    assert optimizers.exact_optimizers("lr") == ("sgd",)
    assert "radam" not in optimizers.exact_optimizers("eps")  # its first steps ignore eps


def test_citations_exist():
    keys = set(read_bib(ROOT / "paper/templates/refs.bib"))
    for entry in optimizers.OPTIMIZERS.values():
        assert entry.cite is None or entry.cite in keys, entry.name


@pytest.mark.parametrize(
    "module",
    [
        "lossscale.study.grid",
        "lossscale.stats.paired",
        "lossscale.stats.phase",
        "lossscale.figures",
        "lossscale.report",
        "lossscale.report.context",
    ],
)
def test_study_stats_figures_and_report_import_no_torch(module):
    code = f"import sys, {module}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", f"{module} imports torch"


def test_task_kinds_models_and_builders_agree():
    """The schema's task kinds are the task builders' (each a ``$defs`` section whose
    settings are the builder's keywords), and every registered model loads."""
    import inspect

    from lossscale.config import task_kinds
    from lossscale.imports import load
    from lossscale.models import MODELS, StackedModel
    from lossscale.tasks import TASKS

    schema = load_schema()
    assert task_kinds(schema) == list(TASKS)
    for kind, reference in TASKS.items():
        keywords = set(inspect.signature(load(reference)).parameters) - {"dtype", "device"}
        settings = set(schema["$defs"][kind]["properties"]) - {"kind", "lr"}
        assert keywords == settings, kind
    assert all(issubclass(load(reference), StackedModel) for reference in MODELS.values())
    with pytest.raises(
        ConfigError, match=r'tasks\.t\.kind: value "cnn" is not allowed; allowed: one of "diabetes"'
    ):
        validate_config({"tasks": {"t": {"kind": "cnn"}}}, schema)


def test_every_task_kind_names_the_model_it_builds():
    """The torch-free ``task_model`` (the methods' and figures' family of a task) is the
    model each kind's builder builds, for every kind and every value of a ``model``
    setting."""
    import torch

    from lossscale.models import MODELS
    from lossscale.study.cells import task_model
    from lossscale.tasks import TASKS, make_task

    schema = load_schema()
    for kind in TASKS:
        section = schema["$defs"][kind]
        choices = section["properties"].get("model", {}).get("enum", [None])
        assert ("x-model" in section) == (choices == [None]), kind
        for model in choices:
            raw = {"kind": kind} if model is None else {"kind": kind, "model": model}
            alone = {"tasks": {"t": raw}, **ONLY_TASK_T}
            settings = validate_config(alone, schema)["tasks"]["t"]
            built = make_task("t", settings, torch.float32, "cpu").model.name
            assert task_model(settings) == built and built in MODELS, (kind, model)
