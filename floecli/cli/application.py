"""The application object: the one seam every line the CLI prints goes through (results on
stdout; progress and problems on stderr). Errors are printed by floecli.engine.errors.report,
the renderer the engine's own command line shares: `Error <doing X>: <detail>`, `hint:`,
`ref:`."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from floecli.engine.errors import EXIT_FAILURE, EXIT_INVALID, UsageError, report

if TYPE_CHECKING:
    import typer

__all__ = ["APP", "EXIT_FAILURE", "EXIT_INVALID", "Application", "fail", "usage_error"]


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

    def error(self, doing: str, detail: BaseException | str, *, hint: str | None = None,
              code: int | None = None) -> int:
        """`Error <doing>: <detail>` with its hint and ref, on stderr; the exit status."""
        return report(doing, detail, hint=hint, code=code, err=self.err)

    def fail(self, doing: str, detail: BaseException | str, code: int | None = None, *,
             hint: str | None = None) -> NoReturn:
        import typer  # `floe --version` prints through here without loading typer

        raise typer.Exit(self.error(doing, detail, hint=hint, code=code))


APP = Application()


def fail(doing: str, detail: BaseException | str, code: int | None = None, *,
         hint: str | None = None) -> NoReturn:
    """Print the error and end the command: with the error's own exit status (2 for an invalid
    app document or bad flags, 1 otherwise) unless `code` says otherwise."""
    APP.fail(doing, detail, code, hint=hint)


def usage_error(verb: str, message: str, hint: str = "") -> UsageError:
    """Bad flags, arguments or input the command cannot start on: exit 2, pointing at the
    verb's help unless a better hint is given."""
    return UsageError(message, hint=hint or f"run 'floe {verb} --help' for its usage")


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
