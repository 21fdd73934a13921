"""Config validation: defaults from the schema, short errors naming key, value, allowed."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from conftest import run_workflow

from lossscale.config import ConfigError, config_hash, load_schema, validate_config


@pytest.fixture(scope="module")
def schema(root):
    return load_schema(root / "workflow/schemas/config.schema.yaml")


def test_defaults_fill_an_empty_config(schema):
    config = validate_config({}, schema)
    main = config["train"]["blocks"]["main"]
    assert main["optimizers"][:3] == ["sgd", "adam", "nadam"] and main["seeds"] == 10
    assert config["train"]["blocks"]["tasks"]["seeds"] == 5  # train.seeds, inherited
    assert 1 in main["alphas"] and 2.0**10 in main["alphas"] and len(main["alphas"]) == 12
    assert config["train"]["blocks"]["phase"]["phase"] and not main["phase"]
    assert config["tasks"]["targets_e5"]["scale_output"] is False
    assert config["train"]["blocks"]["asker"]["alphas"] == [1, 1e5]
    assert config["optimizers"]["nadam"]["eps"] == 1e-7
    # a task's kind fills in that kind's defaults
    assert config["tasks"]["digits_focal"]["hidden"] == [32]
    assert "target_scale" not in config["tasks"]["digits"]


def test_a_block_or_task_of_ones_own_takes_the_defaults_of_its_kind(schema):
    config = validate_config(
        {
            "tasks": {"tiny": {"kind": "teacher_student", "target_scale": "1e-6"}},
            "train": {"blocks": {"b": {"tasks": ["tiny"], "optimizers": ["adam"]}}},
            "phase": {"layers": {"task": None}},
        },
        schema,
    )
    assert config["tasks"]["tiny"]["target_scale"] == 1e-6
    assert config["tasks"]["tiny"]["examples"] == 800
    block = config["train"]["blocks"]["b"]
    assert block["precisions"] == ["float32"] and block["regularizations"] == ["none"]
    assert len(block["alphas"]) == 19 and block["alphas"][-1] == 2.0**20


def test_default_config_file_is_valid_and_equals_schema_defaults(root, schema):
    config = validate_config(yaml.safe_load((root / "config.yaml").read_text()), schema)
    assert config == validate_config({}, schema)


def test_yaml_style_exponents_are_numbers(schema):
    block = {"tasks": ["diabetes"], "optimizers": ["adam"], "alphas": ["1e5", 1]}
    config = validate_config({"train": {"blocks": {"main": block}}}, schema)
    assert config["train"]["blocks"]["main"]["alphas"] == [1e5, 1]


def test_every_schema_key_has_description_and_default(schema):
    def walk(node, path):
        for key, sub in node.get("properties", {}).items():
            assert "description" in sub, f"{path}{key} has no description"
            assert "default" in sub, f"{path}{key} has no default"
            if sub.get("type") == "object":
                extra = sub.get("additionalProperties")
                # closed, or a mapping of names whose values have a schema of their own
                assert extra is False or isinstance(extra, dict), f"{path}{key} is open"
                walk(sub, f"{path}{key}.")

    walk(schema, "")
    for name, sub in schema["$defs"].items():
        extra = sub.get("additionalProperties")
        assert extra is False or isinstance(extra, dict), f"$defs.{name} is open"
        walk(sub, f"$defs.{name}.")


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {"train": {"blocks": {"main": {"alphas": [-1, 1]}}}},
            "train.blocks.main.alphas[0]: value -1 is not allowed; allowed: a value > 0",
        ),
        (
            {"train": {"blocks": {"main": {"optimizers": ["adam", "rmsprop2"]}}}},
            'train.blocks.main.optimizers[1]: value "rmsprop2" is not allowed; allowed: one of '
            '"sgd", "adam", "adamw"',
        ),
        (
            {"tasks": {"x": {"kind": "mnist"}}},
            'tasks.x.kind: value "mnist" is not allowed; allowed: one of "diabetes", "digits"',
        ),
        (
            {"tasks": {"x": {"kind": "digits", "target_scale": 2}}},
            "tasks.x.target_scale: unknown key; known keys: activation, channels, hidden, kind, lr, model",
        ),
        (
            {"tasks": {"My-Task": {"kind": "digits"}}},
            'tasks.My-Task: name "My-Task" is not allowed; allowed: a name matching',
        ),
        ({"train": {"seeds": 0}}, "train.seeds: value 0 is not allowed; allowed: a value >= 1"),
        (
            {"train": {"steps": "three"}},
            'train.steps: value "three" is not allowed; allowed: a whole number (finite)',
        ),
        (
            {"trian": {}},
            "trian: unknown key; known keys: cells_per_job, cluster, derivations, device,",
        ),
        (
            {"train": {"blocks": {"b": {"tasks": ["diabetes"], "alphas": [10, 100]}}}},
            "train.blocks.b.alphas: value [10, 100] is not allowed; allowed: a list containing 1",
        ),
        (
            {"tasks": {"x": {"kind": "digits", "lr": {"sgdd": 0.1}}}},
            'tasks.x.lr.sgdd: name "sgdd" is not allowed; allowed: one of "sgd", "adam",',
        ),
        (
            {"tasks": {"x": {"kind": "digits", "lr": {"sgd": 0}}}},
            "tasks.x.lr.sgd: value 0 is not allowed; allowed: a value > 0",
        ),
        (
            {"train": {"blocks": {"b": {"tasks": ["diabetes"], "batch_size": -1}}}},
            "train.blocks.b.batch_size: value -1 is not allowed; allowed: a value >= 0",
        ),
        (
            {"train": {"blocks": {"b": {"tasks": ["diabetes"], "seeds": 0}}}},
            "train.blocks.b.seeds: value 0 is not allowed; allowed: a value >= 1",
        ),
        (
            {"optimizers": {"adam": {"eps": -1e-8}}},
            "optimizers.adam.eps: value -1e-08 is not allowed; allowed: a value >= 0",
        ),
        (
            {"optimizers": {"adam": {"betas": [0.9]}}},
            "optimizers.adam.betas: value [0.9] is not allowed; allowed: a list of at least 2 items",
        ),
    ],
)
def test_bad_values_are_reported_with_key_value_and_allowed(schema, config, expected):
    with pytest.raises(ConfigError) as err:
        validate_config(config, schema)
    assert expected in str(err.value)


def test_all_problems_are_reported_at_once(schema):
    with pytest.raises(ConfigError, match=r"2 problem\(s\)") as err:
        validate_config({"threads": 0, "device": "tpu"}, schema)
    assert "threads:" in str(err.value) and "device:" in str(err.value)


def test_config_hash_tracks_content(schema):
    base = validate_config({}, schema)
    changed = validate_config({"train": {"seeds": 4}}, schema)
    assert config_hash(base) == config_hash(validate_config({}, schema))
    assert config_hash(base) != config_hash(changed)
    # where the jobs run is no part of the study
    placed = validate_config({"cluster": {"partition": "gpu", "account": "lab"}}, schema)
    assert placed["cluster"]["partition"] == "gpu"
    assert config_hash(base) == config_hash(placed)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "train: {blocks: {main: {alphas: [-1, 1]}}}",
            "train.blocks.main.alphas[0]: value -1 is not allowed",
        ),
        ("train: {blocks: {main: {optimizers: [adamz]}}}", 'value "adamz" is not allowed'),
        (
            "train: {blocks: {b: {tasks: [diabetes], optimizers: [sgd], compensations: [eps]}}}",
            "sgd has no scalar eps",
        ),
        ("train: {seeds: 0}", "train.seeds: value 0 is not allowed"),
        ("learning_rate: 0.1", "learning_rate: unknown key"),
        (
            "train: {blocks: {main: {alphas: [.nan, 1]}}}",
            "train.blocks.main.alphas[0]: value NaN is not allowed; allowed: a finite number",
        ),
        # a typo that would expand to a billion replicas: refused at once, with the sizes
        ("train: {seeds: 900000}", "limits.replicas: the blocks ask for"),
    ],
)
def test_workflow_stops_before_any_job_and_writes_nothing(root, tmp_path, override, expected):
    bad = tmp_path / "bad.yaml"
    bad.write_text(override + "\n")
    result = run_workflow(tmp_path, bad, cores=1, timeout=120)
    assert result.returncode != 0
    assert expected in result.stderr
    assert not (tmp_path / "results").exists()
    assert not (tmp_path / "paper").exists()


def test_optimizer_defaults_are_the_optimizers_own_defaults(schema):
    """The schema's optimizer section mirrors each optimizer's keywords and defaults,
    except weight decay (set per replica by the blocks) and documented study choices."""
    from lossscale.train.variants import optimizer_keywords

    overrides = {  # documented in the schema's descriptions
        ("sgd", "lr"): 1e3,
        ("nadam", "eps"): 1e-7,
        ("lbfgs", "max_iter"): 1,
        ("lbfgs", "history_size"): 10,
    }
    section = schema["properties"]["optimizers"]["properties"]
    enum = schema["$defs"]["block"]["properties"]["optimizers"]["items"]["enum"]
    assert list(section) == enum
    for name in enum:
        keywords = optimizer_keywords(name)
        keywords = {k: v for k, v in keywords.items() if k not in SET_PER_REPLICA}
        assert set(section[name]["properties"]) == set(keywords), name
        for key, default in keywords.items():
            expected = overrides.get((name, key), default)
            expected = list(expected) if isinstance(expected, tuple) else expected
            assert section[name]["properties"][key]["default"] == expected, (name, key)


SET_PER_REPLICA = {"weight_decay", "decoupled_weight_decay"}


def test_every_optimizer_trains_with_its_config_defaults(schema, tiny_task):
    from lossscale.train.engine import train_stacked

    config = validate_config({}, schema)
    enum = schema["$defs"]["block"]["properties"]["optimizers"]["items"]["enum"]
    for name in enum:
        history = train_stacked(tiny_task, [0, 0], [1.0, 1e3], name, config["optimizers"][name], 3)
        assert history.columns["train_loss"].shape == (4, 2), name
        assert np.isfinite(history.columns["train_loss"]).all(), name
