"""Progress of the project commands: a rich progress bar on a terminal, plain lines otherwise;
with --verbose, every line pip and git print, on stderr."""

from __future__ import annotations

from types import TracebackType
from typing import Any


class Progress:
    def __init__(self, total: int = 0, *, verbose: bool = False) -> None:
        from .application import APP

        self.app = APP
        self.total = total
        self.verbose = verbose
        self._bar: Any = None
        self._task: Any = None
        self._started = False

    def __enter__(self) -> Progress:
        if self.app.out.isatty() and not self.verbose:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn
            from rich.progress import Progress as Bar

            self._bar = Bar(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                            MofNCompleteColumn(), transient=True,
                            console=Console(file=self.app.out))
            self._task = self._bar.add_task("", total=self.total or None)
            self._bar.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()

    def step(self, message: str) -> None:
        """The work about to start ("Installing exec")."""
        if self._bar is not None:
            if self._started:
                self._bar.advance(self._task)
            self._started = True
            self._bar.update(self._task, description=message)
        else:
            self.app.echo(message)

    def result(self, line: str) -> None:
        """A line of the command's outcome ("Installed task: exec 1.0.0")."""
        if self._bar is not None:
            self._bar.console.print(line, markup=False, highlight=False)
        else:
            self.app.echo(line)

    def echo(self, line: str) -> None:
        self.app.note(line)

    @property
    def echo_or_none(self) -> Any:
        return self.echo if self.verbose else None


def run_changes(project: Any, doing: str, unchanged: str, count: int, verbose: bool,
                operation: Any) -> None:
    """Run `operation(installer)` (install, uninstall or update) with progress, print a line
    per changed contribution, and turn failures into `Error <doing> <ref>: <detail>`."""
    from floecli.project.contributions import Installer
    from floecli.project.errors import InstallError, ProjectError, os_failure

    from .application import change_line, fail

    try:
        with Progress(count, verbose=verbose) as progress:
            installer = Installer(project, step=progress.step, echo=progress.echo_or_none,
                                  notify=progress.echo)
            for change in operation(installer):
                progress.result(change_line(change, unchanged))
    except InstallError as e:
        fail(f"{doing} {e.target or 'contribution'}", e)
    except ProjectError as e:
        fail(f"{doing} contribution", e)
    except OSError as e:  # a full disk while copying vendor/, a file that cannot be read
        fail(f"{doing} contribution", os_failure(e, doing))
