"""Typed reads of plain YAML values that record a placed Problem instead of stopping."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import Problem
from .yamlpos import KeyPath, Positions, format_path

ERROR = "error"
WARNING = "warning"


def describe(value: Any) -> str:
    """A value as a message shows it: `'abc'`, `12`, `a list`, `a mapping`, `nothing`."""
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def near_miss(word: str, known: Iterable[str]) -> str:
    """The known word `word` is most likely a typo of, or "" when none is close."""
    found = difflib.get_close_matches(word.lower(), list(known), n=1, cutoff=0.8)
    return found[0] if found else ""


class Reader:
    """Reads values out of one document, collecting every problem with its file and line."""

    def __init__(self, file: str, positions: Positions | None = None) -> None:
        self.file = file
        self.positions = positions or Positions()
        self.problems: list[Problem] = []

    def error(self, path: KeyPath, message: str) -> None:
        self._add(path, message, ERROR)

    def warn(self, path: KeyPath, message: str) -> None:
        self._add(path, message, WARNING)

    def _add(self, path: KeyPath, message: str, severity: str) -> None:
        self.problems.append(Problem(self.file, self.positions.line_of(path), format_path(path),
                                     message, severity))

    def mapping(self, value: Any, path: KeyPath, what: str) -> dict[str, Any] | None:
        """`value` if it is a mapping, {} if absent, else None with an error."""
        if value is None:
            return {}
        if isinstance(value, dict):
            return value
        self.error(path, f"expected {what} (a mapping), not {describe(value)}")
        return None

    def known_keys(self, m: Mapping[str, Any], path: KeyPath, known: Iterable[str]) -> None:
        # The reference ignores unknown keys silently; a warning keeps the configs written
        # for it loading. A near-miss of a known key (`listn`) is a typo that would leave a
        # step silently dead, so it is an error that names the key meant.
        allowed = list(known)
        for key in m:
            if key in allowed:
                continue
            meant = near_miss(str(key), allowed)
            if meant:
                self.error((*path, key), f"unknown key '{key}': did you mean '{meant}'?")
            else:
                self.warn((*path, key), f"unknown key '{key}'")

    def string(self, m: Mapping[str, Any], path: KeyPath, key: str, default: str = "") -> str:
        value = m.get(key)
        return default if value is None else self._scalar_text(value, (*path, key), "a string")

    def integer(self, m: Mapping[str, Any], path: KeyPath, key: str, default: int = 0) -> int:
        value = m.get(key)
        if value is None:
            return default
        return self._int(value, (*path, key), default)

    def boolean(self, m: Mapping[str, Any], path: KeyPath, key: str) -> bool:
        value = m.get(key)
        if value is None:
            return False
        if isinstance(value, bool):
            return value
        self.error((*path, key), f"expected true or false, not {describe(value)}")
        return False

    def items(self, m: Mapping[str, Any], path: KeyPath, key: str, what: str) -> list[Any]:
        """The list under `key` ([] if absent), or [] with an error if it is not a list."""
        return self._list(m, path, key, what)

    def strings(self, m: Mapping[str, Any], path: KeyPath, key: str) -> tuple[str, ...]:
        items = self._list(m, path, key, "a list of strings")
        return tuple(self._scalar_text(v, (*path, key, i), "a string") for i, v in enumerate(items))

    def integers(self, m: Mapping[str, Any], path: KeyPath, key: str) -> tuple[int, ...]:
        items = self._list(m, path, key, "a list of integers")
        return tuple(self._int(v, (*path, key, i), 0) for i, v in enumerate(items))

    def _list(self, m: Mapping[str, Any], path: KeyPath, key: str, what: str) -> list[Any]:
        value = m.get(key)
        if value is None:
            return []
        if isinstance(value, list):
            return value
        self.error((*path, key), f"expected {what}, not {describe(value)}")
        return []

    def _scalar_text(self, value: Any, path: KeyPath, what: str) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, list | dict) or value is None:
            self.error(path, f"expected {what}, not {describe(value)}")
            return ""
        # Go's yaml puts the scalar as written into a string field (`version: 1.10`).
        raw = self.positions.raw_text(path)
        return raw if raw is not None else str(value)

    def _int(self, value: Any, path: KeyPath, default: int) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        self.error(path, f"expected an integer, not {describe(value)}")
        return default
