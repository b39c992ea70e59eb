"""`floe update [REF...|--all]`: move contributions to the newest version their ref allows."""

from __future__ import annotations

import typer

from ..output import change_line, fail, require_project


def register(app: typer.Typer) -> None:
    @app.command()
    def update(
        refs: list[str] | None = typer.Argument(None, metavar="[REF...]", help="installed refs"),
        all_: bool = typer.Option(False, "--all", help="update every installed contribution"),
        verbose: bool = typer.Option(False, "--verbose", help="show pip's and git's output"),
    ) -> None:
        """Reinstall contributions at their newest allowed version; floe.lock is updated."""
        from floecli.project.contributions import Installer
        from floecli.project.errors import InstallError, ProjectError

        from ..progress import Progress

        project = require_project()
        if not refs and not all_:
            fail("updating contribution", "no contribution given: name a REF or use --all")
        if refs and all_:
            fail("updating contribution", "give either REFs or --all, not both")
        try:
            with Progress(len(refs or []), verbose=verbose) as progress:
                changes = Installer(project, step=progress.step,
                                    echo=progress.echo_or_none).update(refs or None)
                for change in changes:
                    progress.result(change_line(change, "Up to date"))
        except InstallError as e:
            fail(f"updating {e.target}" if e.target else "updating contribution", e)
        except ProjectError as e:
            fail("updating contribution", e)
