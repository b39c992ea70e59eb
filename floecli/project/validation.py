"""The one check of an app document that `floe validate`, `create` and `build` share: read as
UTF-8 by the engine's own reader, node types and opts checked against the contributions the
project (or the directory) has, every problem placed by file and line."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from floecli.engine.errors import ConfigError, Problem

if TYPE_CHECKING:
    from floecli.engine.flow import AppConfig


def read_text(path: Path, display: str | None = None) -> str:
    """The document's text; ConfigError (with a placed problem) for what cannot be read."""
    file = display or str(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        detail = e.strerror or str(e)
        raise ConfigError(f"cannot read {file}: {detail}",
                          [Problem(file, 0, "", f"cannot read the app document: {detail}")]
                          ) from None
    return decode(data, file)


def decode(data: bytes, file: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise ConfigError(f"{file}:{line}: not UTF-8 text",
                          [Problem(file, line, "", f"not UTF-8 text (byte {e.start})")]) from None


def check_text(text: str, file: str, vendor: Sequence[Path] | None = None, *,
               builtin: bool = False) -> tuple[AppConfig | None, list[Problem]]:
    """The config (None on any error) and every problem. With `vendor`, node types must be
    among those contributions (plus the built-in bundles when `builtin`)."""
    from floecli.engine.config.loader import check_app

    if not text.strip():
        return None, [Problem(file, 1, "", "the app document is empty")]
    types = None
    if vendor is not None:
        from floecli.engine.contributions.registry import Registry

        types = Registry.discover(list(vendor), builtin=builtin).catalog()
    return check_app(text, file, types)


def require_valid(text: str, file: str, vendor: Sequence[Path] | None = None, *,
                  builtin: bool = False) -> AppConfig:
    """The config, or ConfigError carrying every problem."""
    config, problems = check_text(text, file, vendor, builtin=builtin)
    errors = [p for p in problems if p.severity == "error"]
    if config is None or errors:
        count = len(errors)
        raise ConfigError(f"{file}: {count} error{'s' if count != 1 else ''} in the app "
                          "document", errors)
    return config
