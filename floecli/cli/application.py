"""The application object: the one seam every line the CLI prints goes through (results on
stdout; progress, problems and `Error <doing X>: <detail>` with its hint and ref on stderr)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

if TYPE_CHECKING:
    import typer

EXIT_ERROR = 1
EXIT_INVALID = 2  # an invalid app document or bad flags


class Application:
    """Owns stdout and stderr for one `floe` call, as Hatch's application object does."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self._out = out
        self._err = err

    @property
    def out(self) -> TextIO:
        return self._out or sys.stdout

    @property
    def err(self) -> TextIO:
        return self._err or sys.stderr

    def echo(self, line: str = "") -> None:
        """A line of the command's result, on stdout."""
        print(line, file=self.out, flush=True)

    def note(self, line: str) -> None:
        """A line about the work (a problem, a waiting lock, pip's chatter), on stderr."""
        print(line, file=self.err, flush=True)

    def json(self, value: Any) -> None:
        self.echo(json.dumps(value, indent=2))

    def table(self, columns: list[str], rows: list[list[str]]) -> None:
        from rich.console import Console
        from rich.table import Table

        t = Table(*columns)
        for row in rows:
            t.add_row(*row)
        Console(file=self.out).print(t)

    def error(self, doing: str, detail: object) -> None:
        """`Error <doing>: <detail>`; a FloeError with a hint adds `hint: ...` and, as pip
        does for its diagnostic errors, the error's stable ref."""
        from floecli.engine.errors import FloeError

        self.note(f"Error {doing}: {detail}")
        hint = getattr(detail, "hint", "") if isinstance(detail, FloeError) else ""
        if hint:
            self.note(f"hint: {hint}")
            self.note(f"ref: {detail.ref}")  # type: ignore[union-attr]

    def problems(self, doing: str, error: Any) -> None:
        """An invalid app document: `Error <doing>: <what>`, then every problem as
        FILE:LINE: path: message, as `floe validate` prints them."""
        problems = [p for p in getattr(error, "problems", []) if p.severity == "error"]
        if not problems:
            self.error(doing, error)
            return
        self.note(f"Error {doing}: {error.message}")
        for p in problems:
            self.note(str(p))

    def fail(self, doing: str, detail: object, code: int = EXIT_ERROR) -> NoReturn:
        import typer  # `floe --version` prints through here without loading typer

        self.error(doing, detail)
        raise typer.Exit(code)


APP = Application()


def fail(doing: str, detail: object, code: int = EXIT_ERROR) -> NoReturn:
    APP.fail(doing, detail, code)


def print_json(value: Any) -> None:
    APP.json(value)


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
