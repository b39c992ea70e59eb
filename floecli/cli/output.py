"""The one place the CLI prints errors: `Error <doing X>: <detail>` and the exit status."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer

EXIT_ERROR = 1
EXIT_INVALID = 2  # an invalid app document or bad flags


def fail(doing: str, detail: object, code: int = EXIT_ERROR) -> NoReturn:
    print(f"Error {doing}: {detail}", file=sys.stderr)
    raise typer.Exit(code)


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2))


def require_project() -> Any:
    """The engine project in the current directory, or `Error validating project: ...`."""
    from pathlib import Path

    from floecli.project.errors import ProjectError
    from floecli.project.layout import EngineProject

    try:
        return EngineProject.open(Path.cwd())
    except ProjectError as e:
        fail("validating project", e)


def change_line(change: Any, unchanged: str = "Unchanged") -> str:
    """`Installed task: exec 1.0.0`, one line per contribution a command changed."""
    e = change.entry
    words = {"installed": "Installed", "unchanged": unchanged, "updated": "Updated",
             "uninstalled": "Uninstalled"}
    if change.action == "updated" and change.old_version and change.old_version != e.version:
        return f"Updated {e.kind}: {e.ref} {change.old_version} -> {e.version}"
    return f"{words[change.action]} {e.kind}: {e.ref} {e.version}"


def is_verbose(ctx: typer.Context, flag: bool) -> bool:
    """The command's own --verbose, or the one given before the verb (`floe --verbose ...`)."""
    return flag or bool(ctx.find_root().params.get("verbose"))
