"""`floe uninstall REF...`: remove contributions, and the dependencies nothing else needs."""

from __future__ import annotations

import typer

from ..output import change_line, fail, require_project


def register(app: typer.Typer) -> None:
    @app.command()
    def uninstall(
        refs: list[str] = typer.Argument(..., metavar="REF...", help="installed refs"),
        force: bool = typer.Option(False, "--force", help="remove even if a flow uses it"),
        verbose: bool = typer.Option(False, "--verbose", help="print each step"),
    ) -> None:
        """Uninstall contributions: vendor/ files, app.json import and floe.lock entry."""
        from floecli.project.contributions import Installer
        from floecli.project.errors import InstallError, ProjectError

        from ..progress import Progress

        project = require_project()
        try:
            with Progress(len(refs), verbose=verbose) as progress:
                changes = Installer(project, step=progress.step,
                                    echo=progress.echo_or_none).uninstall(refs, force=force)
                for change in changes:
                    progress.result(change_line(change))
        except InstallError as e:
            fail(f"uninstalling {e.target}" if e.target else "uninstalling contribution", e)
        except ProjectError as e:
            fail("uninstalling contribution", e)
