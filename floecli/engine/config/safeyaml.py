"""Limits on what a YAML document may cost to load: nesting depth and alias expansion."""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import Node

from ..errors import ConfigError, Problem

# A real app document nests a handful of levels (flows, tasks, opts, a form's fields); JSON
# and YAML both allow any depth, and PyYAML's composer and our converter recurse per level.
MAX_DEPTH = 100
# Aliases let a tiny document expand into billions of nodes ("billion laughs", merge-key
# bombs). The converter may visit at most this many nodes beyond those written in the text,
# and copy at most this many characters of scalars through aliases.
ALIAS_NODES = 20_000
ALIAS_CHARS = 8 << 20


class TooDeep(yaml.YAMLError):
    def __init__(self, mark: yaml.Mark | None) -> None:
        super().__init__(f"nested deeper than {MAX_DEPTH} levels")
        self.mark = mark


class _Loader(yaml.SafeLoader):
    """SafeLoader whose composer counts the nodes it makes and refuses deep nesting."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.nodes = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:  # type: ignore[override]
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise TooDeep(self.peek_event().start_mark)
            self.nodes += 1
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self.depth -= 1


def compose(text: str) -> tuple[Node | None, int]:
    """The node tree of one YAML document and how many nodes the text itself holds.
    Raises yaml.YAMLError (TooDeep for deep nesting)."""
    loader = _Loader(text)
    try:
        return loader.get_single_node(), loader.nodes
    except (ValueError, OverflowError) as e:
        # PyYAML's scanner turns "\U99999999" into chr() of it and lets that escape.
        raise yaml.MarkedYAMLError(problem=f"unreadable escape or value ({e})",
                                   problem_mark=loader.get_mark()) from None
    finally:
        loader.dispose()


class Budget:
    """What converting a composed tree may still cost; exceeding it is a ConfigError."""

    def __init__(self, file: str, written_nodes: int, written_chars: int) -> None:
        self.file = file
        self.nodes = written_nodes + ALIAS_NODES
        self.chars = written_chars + ALIAS_CHARS

    def spend(self, node: Node, chars: int = 0) -> None:
        self.nodes -= 1
        self.chars -= chars
        if self.nodes < 0 or self.chars < 0:
            raise ConfigError(f"invalid YAML in {self.file}", [Problem(
                self.file, node.start_mark.line + 1, "",
                f"aliases expand to more than {ALIAS_NODES} extra nodes or "
                f"{ALIAS_CHARS >> 20} MiB of text: refused (an alias bomb?)")])


def too_deep(file: str, line: int) -> ConfigError:
    return ConfigError(f"invalid YAML in {file}", [Problem(
        file, line, "", f"nested deeper than {MAX_DEPTH} levels")])
