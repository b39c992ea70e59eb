"""Check a node's `opts` against its contribution's JSON Schema, keys matched case-insensitively."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jsonschema import FormatChecker, exceptions, validators

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


# Only the formats floe gives a meaning to are checked: a descriptor's `"format": "cron"` or
# `"regex"` makes a bad value a config error with its line, not a trigger failing at run time.
FORMATS = FormatChecker(formats=())


@FORMATS.checks("cron", raises=ValueError)
def _is_cron(value: object) -> bool:
    if not isinstance(value, str):
        return True
    problem = cron_problem(value)
    if problem:
        raise ValueError(problem)
    return True


@FORMATS.checks("finite", raises=ValueError)
def _is_finite(value: object) -> bool:
    # NaN compares false with every bound, so `exclusiveMinimum: 0` lets it (and `.inf`)
    # through: a timeout of NaN would never fire.
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} is not a finite number")
    return True


@FORMATS.checks("regex", raises=re.error)
def _is_regex(value: object) -> bool:
    if isinstance(value, str):
        re.compile(value)
    return True


def cron_problem(expr: str) -> str:
    """Why `expr` is not a five-field cron expression (or an @hourly-style alias), or ""."""
    from croniter import croniter  # lazily: only apps with cron timers need it

    fields = expr.split()
    if not expr.strip().startswith("@") and len(fields) != 5:
        return (f"a cron expression has five fields (minute hour day month weekday), "
                f"not {len(fields)}")
    try:
        croniter(expr)
    except (ValueError, KeyError) as e:
        return str(e) or type(e).__name__
    return ""


@lru_cache(maxsize=128)
def _validator(schema_json: str) -> Any:
    # Keyed by the schema's JSON so every node of a type shares one compiled validator.
    schema = json.loads(schema_json)
    cls = validators.validator_for(schema, default=validators.Draft202012Validator)
    cls.check_schema(schema)
    return cls(schema, format_checker=FORMATS)


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
    if err.validator == "format" and err.validator_value == "finite":
        return f"{err.instance} is not a finite number"
    if err.validator == "format" and err.cause is not None:
        return f"bad {err.validator_value} expression {err.instance!r}: {err.cause}"
    if err.validator in ("anyOf", "oneOf") and err.context:
        # The default text prints the whole instance; the alternatives say what is missing.
        options = sorted({c.message for c in err.context if not c.relative_path})
        if options:
            return "needs one of: " + "; or ".join(options)
    return err.message
