"""Check a node's `opts` against its contribution's JSON Schema, keys matched case-insensitively."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jsonschema import exceptions, validators

from .reader import Reader
from .yamlpos import KeyPath


def check_opts(opts: Mapping[str, Any], schema: Mapping[str, Any], path: KeyPath,
               reader: Reader) -> None:
    """Record one error per schema violation, placed at the offending key under `path`."""
    if not schema:
        return
    try:
        validator = _validator(json.dumps(schema, sort_keys=True))
    except exceptions.SchemaError as e:
        reader.warn(path, f"the opts schema of this node type is invalid: {e.message}")
        return
    origin: dict[KeyPath, KeyPath] = {}
    lowered = _lower_keys(dict(opts), (), origin)
    found = sorted(validator.iter_errors(lowered), key=lambda e: [str(p) for p in e.absolute_path])
    for err in found:
        rel = tuple(err.absolute_path)
        reader.error((*path, *origin.get(rel, rel)), _message(err))


@lru_cache(maxsize=128)
def _validator(schema_json: str) -> Any:
    # Keyed by the schema's JSON so every node of a type shares one compiled validator.
    schema = json.loads(schema_json)
    cls = validators.validator_for(schema, default=validators.Draft202012Validator)
    cls.check_schema(schema)
    return cls(schema)


def _lower_keys(value: Any, orig: KeyPath, origin: dict[KeyPath, KeyPath]) -> Any:
    # Contributions declare lower-case keys, while configs written for the reference use
    # any case (`Form`, `Title`); `origin` maps each lowered path back to the written one.
    lowered_path = tuple(p.lower() if isinstance(p, str) else p for p in orig)
    origin[lowered_path] = orig
    if isinstance(value, dict):
        return {str(k).lower(): _lower_keys(v, (*orig, k), origin) for k, v in value.items()}
    if isinstance(value, list):
        return [_lower_keys(v, (*orig, i), origin) for i, v in enumerate(value)]
    return value


def _message(err: exceptions.ValidationError) -> str:
    if err.validator in ("anyOf", "oneOf") and err.context:
        # The default text prints the whole instance; the alternatives say what is missing.
        options = sorted({c.message for c in err.context if not c.relative_path})
        if options:
            return "needs one of: " + "; or ".join(options)
    return err.message
