"""The JSON Schema of the app document, with the installed node types' opts plugged in."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from ..flow import TypeCatalog

SCHEMA_FILE = "app.schema.json"


def base_schema() -> dict[str, Any]:
    """The app document schema without any node type (docs/app.schema.json is a copy)."""
    # importlib.resources, so it also reads from inside a built zipapp.
    text = resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def app_schema(types: TypeCatalog | None = None) -> dict[str, Any]:
    """The schema editors use: with `types`, node types complete and each node's opts are
    checked against its contribution's schema (an if/then on `type`)."""
    schema = base_schema()
    if types is None:
        return schema
    defs = schema["$defs"]
    task_rules = defs["task"]["allOf"]
    task_rules[1]["else"]["properties"]["type"] = {"enum": sorted(types.tasks)}
    task_rules.extend(_opts_rules("task", types.tasks))
    # An unknown trigger type is only a warning, so it is suggested but not enforced.
    trigger_rules = defs["trigger"]["allOf"]
    trigger_rules[1]["properties"]["type"] = {
        "anyOf": [{"enum": sorted(types.triggers)}, {"type": "string"}]}
    trigger_rules.extend(_opts_rules("trigger", types.triggers))
    return schema


def _opts_rules(kind: str, schemas: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    rules = []
    for name in sorted(schemas):
        if not schemas[name]:
            continue
        opts = copy.deepcopy(dict(schemas[name]))
        # Its own $id keeps a contribution's internal `#/...` refs pointing into itself.
        opts.setdefault("$id", f"urn:floe:{kind}:{name}:opts")
        rules.append({
            "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
            "then": {"properties": {"opts": opts}},
        })
    return rules
