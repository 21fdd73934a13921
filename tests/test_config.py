"""Config validation: defaults from the schema, short errors naming key, value, allowed."""

from __future__ import annotations

import pytest
import yaml
from conftest import run_workflow

from lossscale.config import ConfigError, config_hash, load_schema, validate_config


@pytest.fixture(scope="module")
def schema(root):
    return load_schema(root / "workflow/schemas/config.schema.yaml")


def test_defaults_fill_an_empty_config(schema):
    config = validate_config({}, schema)
    assert config["train"]["optimizers"] == ["sgd", "adam", "nadam"]
    assert 1 in config["train"]["alphas"]
    assert config["optimizers"]["nadam"]["eps"] == 1e-7


def test_default_config_file_is_valid_and_equals_schema_defaults(root, schema):
    config = validate_config(yaml.safe_load((root / "config.yaml").read_text()), schema)
    assert config == validate_config({}, schema)


def test_yaml_style_exponents_are_numbers(schema):
    config = validate_config({"train": {"alphas": ["1e5", 1]}}, schema)
    assert config["train"]["alphas"] == [1e5, 1]


def test_every_schema_key_has_description_and_default(schema):
    def walk(node, path):
        for key, sub in node.get("properties", {}).items():
            assert "description" in sub, f"{path}{key} has no description"
            assert "default" in sub, f"{path}{key} has no default"
            if sub.get("type") == "object":
                assert sub.get("additionalProperties") is False, f"{path}{key} is open"
                walk(sub, f"{path}{key}.")

    walk(schema, "")


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {"train": {"alphas": [-1, 1]}},
            "train.alphas[0]: value -1 is not allowed; allowed: a value > 0",
        ),
        (
            {"train": {"optimizers": ["adam", "rmsprop2"]}},
            'train.optimizers[1]: value "rmsprop2" is not allowed; allowed: one of "sgd", "adam", "adamw"',
        ),
        ({"train": {"seeds": 0}}, "train.seeds: value 0 is not allowed; allowed: a value >= 1"),
        (
            {"train": {"steps": "three"}},
            'train.steps: value "three" is not allowed; allowed: a value of type integer',
        ),
        ({"trian": {}}, "trian: unknown key; known keys: derivations, device,"),
        (
            {"train": {"alphas": [10, 100]}},
            "train.alphas: value [10, 100] is not allowed; allowed: a list containing 1",
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


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("train: {alphas: [-1, 1]}", "train.alphas[0]: value -1 is not allowed"),
        ("train: {optimizers: [adamz]}", 'value "adamz" is not allowed; allowed: one of'),
        ("train: {seeds: 0}", "train.seeds: value 0 is not allowed"),
        ("learning_rate: 0.1", "learning_rate: unknown key"),
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


def test_optimizer_defaults_are_the_stacked_optimizers_defaults(schema):
    """The schema's optimizer section mirrors each optimizer's keywords and defaults."""
    from lossscale.train.stacked_optim import STACKED

    overrides = {("sgd", "lr"): 1e3, ("nadam", "eps"): 1e-7}  # documented in the schema
    section = schema["properties"]["optimizers"]["properties"]
    assert set(section) == set(STACKED)
    for name, cls in STACKED.items():
        flat = {k: v for k, v in section[name]["properties"].items() if k not in cls.pairs}
        paired = {f for flats in cls.pairs.values() for f in flats}
        assert set(flat) | paired == set(cls.spec), name
        for key, sub in flat.items():
            assert sub["default"] == overrides.get((name, key), cls.spec[key].default), key
        for key, flats in cls.pairs.items():
            assert section[name]["properties"][key]["default"] == [
                cls.spec[f].default for f in flats
            ]


def test_every_optimizer_trains_with_its_config_defaults(schema, tiny_task):
    from lossscale.train.engine import train_stacked

    config = validate_config({}, schema)
    enum = schema["properties"]["train"]["properties"]["optimizers"]["items"]["enum"]
    for name in enum:
        history = train_stacked(tiny_task, [0, 0], [1.0, 1e3], name, config["optimizers"][name], 3)
        assert history.columns["train_loss"].shape == (4, 2), name
