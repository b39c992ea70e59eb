"""The app document's JSON Schema: valid, in sync with docs/, and with opts plugged in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

import floecli
from floecli.engine.config import TypeCatalog, app_schema, parse_app

REPO = Path(__file__).resolve().parents[3]
BUNDLES = floecli.data_path("bundles")
DATA = Path(__file__).parent / "data"


def bundle_catalog() -> TypeCatalog:
    """The built-in contributions' types, read straight from their descriptors."""
    tasks, triggers = {}, {}
    for path in sorted(BUNDLES.glob("*/descriptor.json")):
        d = json.loads(path.read_text())
        (tasks if d["type"] == "floe:task" else triggers)[d["name"]] = d.get("opts") or {}
    return TypeCatalog(tasks=tasks, triggers=triggers)


def errors(doc: object, types: TypeCatalog | None = None) -> list[str]:
    validator = Draft202012Validator(app_schema(types))
    return sorted(e.message for e in validator.iter_errors(doc))


def test_docs_copy_in_sync() -> None:
    want = json.dumps(app_schema(None), indent=2) + "\n"
    assert (REPO / "docs" / "app.schema.json").read_text() == want


def test_schemas_are_valid() -> None:
    Draft202012Validator.check_schema(app_schema(None))
    Draft202012Validator.check_schema(app_schema(bundle_catalog()))


def test_default_app_is_valid() -> None:
    doc = json.loads((REPO / "default-app.json").read_text())
    assert errors(doc) == []
    assert errors(doc, bundle_catalog()) == []
    parse_app(json.dumps(doc), "default-app.json", bundle_catalog())


def test_sample_checks_apart_from_unknown_keys() -> None:
    import yaml

    doc = yaml.safe_load((DATA / "sample.yml").read_text())
    assert errors(doc) == ["Unevaluated properties are not allowed ('subs' was unexpected)"]


TYPES = TypeCatalog(
    tasks={"exec": {"type": "object", "properties": {"cmd": {"type": "string"}},
                    "required": ["cmd"], "$defs": {"s": {"type": "string"}}},
           "end": {}},
    triggers={"data": {"type": "object"}},
)


def _app(*tasks: dict[str, object], triggers: tuple[dict[str, object], ...] = ()) -> object:
    return {"flows": [{"id": "f", "triggers": list(triggers), "tasks": list(tasks)}]}


@pytest.mark.parametrize(("doc", "want"), [
    (_app({"name": "a", "type": "exec", "opts": {"cmd": "x"}}), []),
    (_app({"name": "a", "type": "exec", "opts": {}}), ["'cmd' is a required property"]),
    (_app({"name": "a", "type": "exce"}), ["'exce' is not one of ['end', 'exec']"]),
    (_app({"name": "m", "class": "merge", "type": "all", "wait": ["task.a.good"]}), []),
    (_app({"name": "m", "class": "merge", "type": "some", "wait": ["x"]}),
     ["'some' is not one of ['all', 'any']"]),
    (_app({"name": "m", "class": "merge"}), ["'wait' is a required property"]),
    (_app(triggers=({"name": "t", "type": "git-push"},)), []),
    (_app({"name": "a", "type": "end", "listne": "x"}),
     ["Unevaluated properties are not allowed ('listne' was unexpected)"]),
    (_app({"type": "end"}), ["{'type': 'end'} is not valid under any of the given schemas"]),
    ({"common": {"store-type": "ec2"}}, ["'ec2' is not one of ['memory', 'local', 'postgres']"]),
])
def test_with_types(doc: object, want: list[str]) -> None:
    assert errors(doc, TYPES) == want


def test_base_schema_does_not_restrict_types() -> None:
    assert errors(_app({"name": "a", "type": "anything", "opts": {"x": 1}})) == []
