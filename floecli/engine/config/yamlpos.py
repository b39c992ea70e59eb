"""Load YAML or JSON text into plain Python values, keeping the line of every key and item."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..errors import ConfigError, Problem
from .safeyaml import MAX_DEPTH, Budget, TooDeep, compose, too_deep

KeyPath = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
_MERGE = _TAG + "merge"
# SafeLoader's scalar constructors are stateless; one instance serves every load.
_CONSTRUCTOR = yaml.SafeLoader("")
_SCALARS = {
    _TAG + "int": _CONSTRUCTOR.construct_yaml_int,
    _TAG + "float": _CONSTRUCTOR.construct_yaml_float,
    _TAG + "bool": _CONSTRUCTOR.construct_yaml_bool,
    _TAG + "null": _CONSTRUCTOR.construct_yaml_null,
}
# YAML 1.1 wants a dot and a signed exponent in floats; JSON (and Go's yaml) read `1e5` as one.
_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?\Z")


def format_path(path: Iterable[str | int]) -> str:
    """`("flows", 0, "tasks", 2, "listen")` → `flows[0].tasks[2].listen`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass
class Positions:
    """1-based lines by key path, and the source text of every non-string scalar."""

    lines: dict[KeyPath, int] = field(default_factory=dict)
    raw: dict[KeyPath, str] = field(default_factory=dict)

    def line_of(self, path: Iterable[str | int]) -> int:
        """The line of `path`, else of its nearest ancestor that has one (0 if none)."""
        p = tuple(path)
        while p not in self.lines:
            if not p:
                return 0
            p = p[:-1]
        return self.lines[p]

    def raw_text(self, path: Iterable[str | int]) -> str | None:
        return self.raw.get(tuple(path))


@dataclass(frozen=True)
class Loaded:
    """A loaded document: its plain value, where each part came from, and soft problems."""

    data: Any
    positions: Positions
    problems: list[Problem]


def load_text(text: str, file: str = "<string>") -> Loaded:
    """Parse YAML (or JSON, which is YAML) keeping positions; syntax errors raise ConfigError."""
    if file.lower().endswith(".json"):
        # YAML accepts what JSON does not (a trailing comma, comments): a .json file must be
        # JSON for every other tool that reads it.
        _check_json(text, file)
    try:
        root, written = _compose_tolerating_tabs(text)
    except TooDeep as e:
        raise too_deep(file, e.mark.line + 1 if e.mark else 0) from None
    except yaml.YAMLError as e:
        return _json_fallback(text, file, e)
    return _Converter(file, Budget(file, written, len(text))).run(root)


def _check_json(text: str, file: str) -> None:
    try:
        json.loads(text)
    except json.JSONDecodeError as je:
        raise _invalid_json(file, je) from None
    except RecursionError:
        raise too_deep(file, _json_line(text, deep=True)) from None
    except ValueError as e:  # e.g. an integer of more than 4300 digits
        raise ConfigError(f"invalid JSON in {file}", [Problem(
            file, _json_line(text, deep=False), "", f"invalid JSON: {e}")]) from None


_MAX_DIGITS = 4300  # Python's limit on an integer's digits in text (sys.int_info)


def _json_line(text: str, *, deep: bool) -> int:
    """The line of the first place `text` nests deeper than MAX_DEPTH (deep) or holds a
    number longer than Python reads (not deep), outside strings; the errors json raises for
    these carry no position."""
    line, depth, digits, in_string, escaped = 1, 0, 0, False, False
    for c in text:
        if c == "\n":
            line += 1
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
            continue
        digits = digits + 1 if c.isdigit() else 0
        if c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        if (deep and depth > MAX_DEPTH) or (not deep and digits > _MAX_DIGITS):
            return line
    return 0


_MAX_TAB_FIXES = 10_000


def _compose_tolerating_tabs(text: str) -> tuple[Node | None, int]:
    """yaml.compose, but a tab used as a separator (`key:<TAB>value`, a trailing tab) is read
    as a space, as the original's YAML reader (Go yaml.v2) does. Only tabs PyYAML rejects
    after something else on their line change, one for one, so every line and column stays;
    a tab in indentation is still an error."""
    for _ in range(_MAX_TAB_FIXES):
        try:
            return compose(text)
        except yaml.scanner.ScannerError as e:
            mark = e.problem_mark
            i = mark.index if mark is not None else -1
            if not (0 <= i < len(text) and text[i] == "\t" and "'\\t'" in (e.problem or "")):
                raise
            line_start = text.rfind("\n", 0, i) + 1
            if not text[line_start:i].strip():
                raise
            text = text[:i] + " " + text[i + 1:]
    return compose(text)


def _json_fallback(text: str, file: str, yaml_error: yaml.YAMLError) -> Loaded:
    # PyYAML rejects tabs where JSON allows them as whitespace; JSON that json accepts is
    # still read through YAML (with tabs turned into spaces) so that it keeps its lines.
    is_json = file.lower().endswith(".json") or text.lstrip().startswith(("{", "["))
    if not is_json:
        raise _syntax_error(text, file, yaml_error) from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise _syntax_error(text, file, yaml_error) from None
    try:
        # Valid JSON has no raw tab inside strings, so every tab is whitespace.
        root, written = compose(text.replace("\t", " "))
    except TooDeep as e:
        raise too_deep(file, e.mark.line + 1 if e.mark else 0) from None
    except yaml.YAMLError:
        return Loaded(data, Positions({(): 1}), [])
    return _Converter(file, Budget(file, written, len(text))).run(root)


def _invalid_json(file: str, e: json.JSONDecodeError) -> ConfigError:
    return ConfigError(f"invalid JSON in {file}",
                       [Problem(file, e.lineno, "", f"invalid JSON: {e.msg}")])


def _syntax_error(text: str, file: str, e: yaml.YAMLError) -> ConfigError:
    line = 0
    message = str(e)
    if isinstance(e, yaml.MarkedYAMLError):
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 0
        message = e.problem or message
        if e.context:
            message = f"{message} ({e.context})"
    elif isinstance(e, yaml.reader.ReaderError):
        line = text.count("\n", 0, e.position) + 1
        message = f"unacceptable character #x{e.character:04x}"
    return ConfigError(f"invalid YAML in {file}",
                       [Problem(file, line, "", f"invalid YAML: {message}")])


class _Converter:
    """Walks a composed node tree into plain values, recording positions as it goes."""

    def __init__(self, file: str, budget: Budget) -> None:
        self.file = file
        self.budget = budget
        self.positions = Positions()
        self.problems: list[Problem] = []
        self._open: set[int] = set()  # nodes being converted, to stop recursive aliases

    def run(self, root: Node | None) -> Loaded:
        if root is None:
            self.positions.lines[()] = 1
            return Loaded(None, self.positions, [])
        self.positions.lines[()] = root.start_mark.line + 1
        data = self.value(root, ())
        return Loaded(data, self.positions, self.problems)

    def value(self, node: Node, path: KeyPath) -> Any:
        if isinstance(node, ScalarNode):
            self.budget.spend(node, len(node.value))
            return self.scalar(node, path)
        self.budget.spend(node)
        if id(node) in self._open:
            raise ConfigError(f"invalid YAML in {self.file}", [Problem(
                self.file, node.start_mark.line + 1, format_path(path),
                "an alias refers to itself")])
        self._open.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return self.sequence(node, path)
            return self.mapping(node, path)
        finally:
            self._open.discard(id(node))

    def scalar(self, node: ScalarNode, path: KeyPath) -> Any:
        construct = _SCALARS.get(node.tag)
        if construct is not None:
            try:
                value = construct(node)
            except (ValueError, KeyError, IndexError, TypeError, OverflowError) as e:
                # `!!int yes`, `!!bool maybe`, an integer of 5000 digits: refused, placed.
                shown = node.value if len(node.value) <= 40 else node.value[:40] + "..."
                reason = f": {e}" if isinstance(e, ValueError) and "limit" in str(e) else ""
                self.problem(node, path, f"{shown!r} is not a valid "
                                         f"{node.tag.rsplit(':', 1)[-1]}{reason}")
                return node.value
        elif node.tag == _TAG + "str" and node.style is None and _NUMBER.match(node.value):
            value = float(node.value)
        else:
            value = node.value  # strings, and timestamps or custom tags kept as written
        if not isinstance(value, str):
            self.positions.raw[path] = node.value
        return value

    def sequence(self, node: SequenceNode, path: KeyPath) -> list[Any]:
        out = []
        for i, item in enumerate(node.value):
            self.positions.lines[(*path, i)] = item.start_mark.line + 1
            out.append(self.value(item, (*path, i)))
        return out

    def mapping(self, node: MappingNode, path: KeyPath) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        own: dict[str, Any] = {}
        # Merged keys first, so the mapping's own keys win and keep their own lines.
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                self.merge_into(merged, value_node, path)
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                continue
            if not isinstance(key_node, ScalarNode):
                self.problem(key_node, path, "a mapping key must be a plain value")
                continue
            # Keys are kept as written so that nested opts become string-keyed maps.
            key = key_node.value
            child = (*path, key)
            if key in own:
                self.problem(key_node, child, f"duplicate key '{key}'")
                continue
            self.positions.lines[child] = key_node.start_mark.line + 1
            own[key] = self.value(value_node, child)
        return {**merged, **own}

    def merge_into(self, merged: dict[str, Any], node: Node, path: KeyPath) -> None:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        for source in sources:
            if not isinstance(source, MappingNode):
                self.problem(source, path, "a merge key (<<) needs a mapping")
                continue
            value = self.value(source, path)
            merged.update({k: v for k, v in value.items() if k not in merged})

    def problem(self, node: Node, path: KeyPath, message: str) -> None:
        found = Problem(self.file, node.start_mark.line + 1, format_path(path), message)
        if found not in self.problems:  # an anchor read through several aliases says it once
            self.problems.append(found)
