"""Reading and checking a contribution's descriptor.json."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ContributionError

DESCRIPTOR_FILE = "descriptor.json"
TYPE_TASK = "floe:task"
TYPE_TRIGGER = "floe:trigger"
REQUIRED = ("name", "type", "version", "main")


@dataclass(frozen=True)
class Descriptor:
    name: str
    type: str
    version: str
    main: str
    title: str = ""
    description: str = ""
    homepage: str = ""
    opts: Mapping[str, Any] = field(default_factory=dict)  # JSON Schema of the node's opts
    outputs: Mapping[str, Any] = field(default_factory=dict)
    # opts keys that data pushed by a user (a form, a trigger's event) may set; nothing else
    # of an event reaches the node's opts (DECISIONS §2)
    inputs: tuple[str, ...] = ()
    path: Path = Path()  # the contribution's directory

    @property
    def kind(self) -> str:
        """`task` or `trigger`."""
        return self.type.split(":", 1)[1]

    @property
    def file(self) -> Path:
        return self.path / DESCRIPTOR_FILE

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "version": self.version,
                "title": self.title, "description": self.description,
                "homepage": self.homepage, "main": self.main, "opts": dict(self.opts),
                "outputs": dict(self.outputs), "inputs": list(self.inputs)}


def read_descriptor(directory: Path) -> Descriptor:
    """Load and check `<directory>/descriptor.json`; every defect is a ContributionError."""
    file = directory / DESCRIPTOR_FILE
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ContributionError(f"{directory} has no {DESCRIPTOR_FILE}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ContributionError(f"cannot read {file}: {e}") from None
    except json.JSONDecodeError as e:
        raise ContributionError(f"{file}:{e.lineno}: invalid JSON: {e.msg}") from None
    if not isinstance(raw, dict):
        raise ContributionError(f"{file}: must hold a JSON object")
    missing = [k for k in REQUIRED if not isinstance(raw.get(k), str) or not raw.get(k)]
    if missing:
        raise ContributionError(f"{file}: missing or empty {', '.join(missing)}")
    if raw["type"] not in (TYPE_TASK, TYPE_TRIGGER):
        raise ContributionError(
            f"{file}: type must be {TYPE_TASK} or {TYPE_TRIGGER}, not {raw['type']!r}")
    module, sep, attr = raw["main"].partition(":")
    if not sep or not module or not attr:
        raise ContributionError(f"{file}: main must be 'module:attribute', not {raw['main']!r}")
    opts = raw.get("opts") or {}
    if not isinstance(opts, dict):
        raise ContributionError(f"{file}: opts must be a JSON Schema object")
    _check_schema(file, opts)
    inputs = raw.get("inputs") or []
    if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
        raise ContributionError(f"{file}: inputs must be a list of opts names")
    return Descriptor(
        name=raw["name"], type=raw["type"], version=raw["version"], main=raw["main"],
        title=str(raw.get("title") or ""), description=str(raw.get("description") or ""),
        homepage=str(raw.get("homepage") or ""), opts=opts,
        outputs=raw.get("outputs") if isinstance(raw.get("outputs"), dict) else {},
        inputs=tuple(inputs), path=directory.resolve(),
    )


def _check_schema(file: Path, schema: dict[str, Any]) -> None:
    import jsonschema  # lazily: only needed when descriptors are read

    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as e:
        raise ContributionError(f"{file}: opts is not a valid JSON Schema: {e.message}") from None
