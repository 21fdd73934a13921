"""CITATION.cff and .zenodo.json: valid against their schemas (vendored in tests/schemas,
see its README) and consistent with pyproject.toml."""

from __future__ import annotations

import copy
import json
import tomllib

import jsonschema
import pytest
import yaml

SCHEMAS = "tests/schemas"


@pytest.fixture(scope="module")
def pyproject(root):
    return tomllib.loads((root / "pyproject.toml").read_text())["project"]


@pytest.fixture(scope="module")
def cff(root):
    return yaml.safe_load((root / "CITATION.cff").read_text())


@pytest.fixture(scope="module")
def zenodo(root):
    return json.loads((root / ".zenodo.json").read_text())


@pytest.fixture(scope="module")
def cff_validator(root):
    schema = json.loads((root / SCHEMAS / "cff-1.2.0.schema.json").read_text())
    assert schema["$id"] == "https://citation-file-format.github.io/1.2.0/schema.json"
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())


@pytest.fixture(scope="module")
def zenodo_validator(root):
    schema = json.loads((root / SCHEMAS / "zenodo-deposit.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _errors(validator, instance) -> list[str]:
    return [e.message for e in validator.iter_errors(instance)]


def test_citation_cff_is_valid_cff_1_2_0(cff, cff_validator):
    assert cff["cff-version"] == "1.2.0"
    assert _errors(cff_validator, cff) == []


def test_citation_cff_agrees_with_pyproject(cff, pyproject):
    assert cff["type"] == "software"
    assert cff["version"] == pyproject["version"]
    assert cff["license"] == pyproject["license"]
    assert cff["authors"] == [{"name": "The lossscale developers"}]
    cite = cff["preferred-citation"]
    assert cite["type"] == "report"
    assert cite["filename"] == "paper/build/paper.pdf"


@pytest.mark.parametrize(
    "break_it",
    [
        lambda c: c.pop("authors"),
        lambda c: c.pop("message"),
        lambda c: c.update(license="MIT License"),  # not an SPDX id
        lambda c: c.update({"repository-code": "not a url"}),
        lambda c: c["preferred-citation"].update(type="paper"),  # not a CFF type
        lambda c: c.update(autors=[{"name": "typo"}]),
    ],
    ids=["no-authors", "no-message", "license", "url", "citation-type", "unknown-key"],
)
def test_the_cff_schema_rejects_broken_metadata(cff, cff_validator, break_it):
    broken = copy.deepcopy(cff)
    break_it(broken)
    assert _errors(cff_validator, broken)


def test_zenodo_json_is_valid_deposit_metadata(zenodo, zenodo_validator):
    assert _errors(zenodo_validator, zenodo) == []


def test_zenodo_json_agrees_with_citation_cff(zenodo, cff, pyproject):
    assert zenodo["title"] == cff["title"]
    assert zenodo["upload_type"] == "software"
    assert zenodo["version"] == pyproject["version"]
    assert zenodo["license"] == pyproject["license"].lower()  # Zenodo's vocabulary id
    assert [c["name"] for c in zenodo["creators"]] == [a["name"] for a in cff["authors"]]
    assert zenodo["keywords"] == cff["keywords"]


@pytest.mark.parametrize(
    "break_it",
    [
        lambda z: z.pop("creators"),
        lambda z: z.pop("description"),
        lambda z: z.pop("license"),  # required for open access
        lambda z: z.update(upload_type="code"),
        lambda z: z.update(creators=[{"affiliation": "no name"}]),
        lambda z: z.update(related_identifiers=[{"identifier": "10.5281/x", "relation": "x"}]),
        lambda z: z.update(keyword=["typo"]),
    ],
    ids=[
        "no-creators",
        "no-description",
        "no-license",
        "upload-type",
        "creator",
        "relation",
        "unknown-key",
    ],
)
def test_the_zenodo_schema_rejects_broken_metadata(zenodo, zenodo_validator, break_it):
    broken = copy.deepcopy(zenodo)
    break_it(broken)
    assert _errors(zenodo_validator, broken)
