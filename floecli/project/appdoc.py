"""The app document (app.json) loaded and saved losslessly: an edit rewrites one top-level value
and leaves every other byte (key order, unknown keys, indentation, inline objects) as it was."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from json.decoder import scanstring
from pathlib import Path
from typing import Any

from .errors import ProjectError
from .fsutil import atomic_write

_WS = re.compile(r"[ \t\n\r]*")
# where a missing `imports` goes: after the last of these metadata keys present (flogo's order)
_IMPORTS_AFTER = ("description", "version", "type", "name")


@dataclass(frozen=True)
class _Member:
    key_start: int  # index of the key's opening quote
    value_start: int
    value_end: int


class AppDocument:
    """The text of an app document and the JSON object it holds."""

    def __init__(self, text: str, source: str = "app.json") -> None:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ProjectError(f"{source}:{e.lineno}: invalid JSON: {e.msg}") from None
        if not isinstance(data, dict):
            raise ProjectError(f"{source}: the app document must be a JSON object")
        self.text = text
        self.data: dict[str, Any] = data
        self.source = source

    @classmethod
    def read(cls, path: Path) -> AppDocument:
        try:
            return cls(path.read_text(encoding="utf-8"), str(path))
        except (OSError, UnicodeDecodeError) as e:
            raise ProjectError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None

    @classmethod
    def from_json_or_yaml(cls, text: str, source: str) -> AppDocument:
        """JSON is kept verbatim; YAML becomes JSON with two-space indentation in YAML's key
        order, since a project's app.json is JSON."""
        try:
            json.loads(text)
            return cls(text, source)
        except json.JSONDecodeError:
            pass
        import yaml  # only YAML input needs it

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{source}:{mark.line + 1}" if mark else source
            raise ProjectError(f"{where}: neither JSON nor YAML: "
                               f"{getattr(e, 'problem', None) or e}") from None
        if not isinstance(data, dict):
            raise ProjectError(f"{source}: the app document must be a mapping")
        return cls(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", source)

    @property
    def name(self) -> str:
        value = self.data.get("name")
        return value if isinstance(value, str) else ""

    @property
    def imports(self) -> list[str]:
        value = self.data.get("imports")
        return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []

    def with_value(self, key: str, value: Any) -> AppDocument:
        """A copy with top-level `key` set to `value`, spliced into the text."""
        members, close = self._members()
        indent = self._indent(members)
        if key in members:
            m = members[key]
            old = self.text[m.value_start:m.value_end]
            rendered = _render(value, indent, multiline="\n" in old)
            text = self.text[:m.value_start] + rendered + self.text[m.value_end:]
        else:
            multiline = "\n" in self.text.strip()
            rendered = _render(value, indent, multiline=multiline and isinstance(value, list)
                               and bool(value))
            member = f"{json.dumps(key)}: {rendered}"
            after = next((members[k] for k in _IMPORTS_AFTER if k in members), None) \
                if key == "imports" else None
            if after is None and members:
                after = max(members.values(), key=lambda m: m.value_end)
            sep = "\n" + indent if multiline else " "
            if after is None:  # `{}`
                text = self.text[:close] + (sep + member + "\n" if multiline else member) \
                    + self.text[close:]
            else:
                text = self.text[:after.value_end] + "," + sep + member \
                    + self.text[after.value_end:]
        return AppDocument(text, self.source)

    def with_imports(self, imports: list[str]) -> AppDocument:
        return self if imports == self.imports and "imports" in self.data \
            else self.with_value("imports", imports)

    def save(self, path: Path) -> None:
        atomic_write(path, self.text)

    def _members(self) -> tuple[dict[str, _Member], int]:
        text, decoder = self.text, json.JSONDecoder()
        i = _WS.match(text, 0).end() + 1  # past "{"
        members: dict[str, _Member] = {}
        while True:
            i = _WS.match(text, i).end()
            if text[i] == "}":
                return members, i
            key_start = i
            key, i = scanstring(text, i + 1)
            i = _WS.match(text, i).end() + 1  # past ":"
            start = _WS.match(text, i).end()
            _, end = decoder.raw_decode(text, start)
            members[key] = _Member(key_start, start, end)
            i = _WS.match(text, end).end()
            if text[i] == ",":
                i += 1

    def _indent(self, members: dict[str, _Member]) -> str:
        """The indentation of top-level keys (two spaces when the document is one line)."""
        for m in members.values():
            line_start = self.text.rfind("\n", 0, m.key_start) + 1
            prefix = self.text[line_start:m.key_start]
            if line_start and not prefix.strip():
                return prefix
        return "  "


def _render(value: Any, indent: str, *, multiline: bool) -> str:
    if not (multiline and isinstance(value, list) and value):
        return json.dumps(value, ensure_ascii=False)
    # Items one level deeper than the key: top-level keys sit at one indent unit.
    inner = indent + indent
    items = (",\n").join(inner + json.dumps(v, ensure_ascii=False) for v in value)
    return "[\n" + items + "\n" + indent + "]"
