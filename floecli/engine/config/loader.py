"""Load and check an app document: every problem at once, each with file, line and key path."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..errors import ConfigError, Problem
from ..flow import AppConfig, TypeCatalog
from .build import build_app
from .flowfile import flow_file_kind, flow_file_rev, load_flow_file, merge_flow_file, parse_flow
from .reader import ERROR, Reader
from .yamlpos import load_text

# The largest app document floe reads (docs/app-document.md): real ones are a few KiB.
MAX_APP_CHARS = 1024 * 1024

__all__ = ["MAX_APP_CHARS", "check_app", "flow_file_kind", "flow_file_rev", "load_app",
           "load_flow_file",
           "merge_flow_file", "parse_app", "parse_flow"]


def check_app(text: str, file: str = "<string>", types: TypeCatalog | None = None,
              ) -> tuple[AppConfig | None, list[Problem]]:
    """The config (None when any problem is an error) and all problems, warnings included.

    With `types`, task types must exist and every node's opts must match its contribution's
    schema. Problems come sorted by line.
    """
    if len(text) > MAX_APP_CHARS:
        # Parsing keeps a position for every key: a few MB of keys would take hundreds of
        # MB of memory, so the size is checked before anything is parsed.
        return None, [Problem(file, 0, "", f"the app document is more than {MAX_APP_CHARS} "
                              "characters long: refused")]
    try:
        loaded = load_text(text, file)
    except ConfigError as e:
        return None, list(e.problems)
    reader = Reader(file, loaded.positions)
    config = build_app(loaded.data, reader, types, _base_dir(file))
    problems = sorted([*loaded.problems, *reader.problems], key=lambda p: p.line)
    if any(p.severity == ERROR for p in problems):
        return None, problems
    return replace(config, warnings=tuple(problems)), problems


def parse_app(text: str, file: str = "<string>", types: TypeCatalog | None = None) -> AppConfig:
    """The config of an app document's text; ConfigError listing the problems if any is an error."""
    config, problems = check_app(text, file, types)
    if config is None:
        count = sum(1 for p in problems if p.severity == ERROR)
        raise ConfigError(f"{file}: {count} error{'s' if count != 1 else ''} in the app document",
                          problems)
    return config


def load_app(path: str | Path, types: TypeCatalog | None = None) -> AppConfig:
    """Read and parse an app document file."""
    file = str(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(MAX_APP_CHARS + 1)  # no more than check_app reads
    except (OSError, UnicodeDecodeError) as e:
        detail = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise ConfigError(f"cannot read {file}: {detail}",
                          [Problem(file, 0, "", f"cannot read the app document: {detail}")]
                          ) from None
    return parse_app(text, file, types)


def _base_dir(file: str) -> Path | None:
    # `<string>`, `<embedded app.json>`: no directory to resolve local flow-files against.
    if not file or file.startswith("<"):
        return None
    return Path(file).parent
