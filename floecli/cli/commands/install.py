"""`floe install [-f BUNDLE] REF...`: add contributions to the project's vendor/."""

from __future__ import annotations

import typer

from ..output import change_line, fail, require_project


def register(app: typer.Typer) -> None:
    @app.command()
    def install(
        refs: list[str] | None = typer.Argument(
            None, metavar="REF...", help="a bundled name (exec), a directory, a git URL "
            "(URL[@rev][#subdir]) or a pip requirement"),
        bundle: str | None = typer.Option(None, "-f", "--file", metavar="BUNDLE",
                                          help="install every ref of a bundle file"),
        verbose: bool = typer.Option(False, "--verbose", help="show pip's and git's output"),
    ) -> None:
        """Install contributions and record them in app.json imports and floe.lock."""
        from pathlib import Path

        from floecli.project.bundles import read_bundle
        from floecli.project.contributions import Installer
        from floecli.project.errors import InstallError, ProjectError

        from ..progress import Progress

        project = require_project()
        wanted: list[str] = []
        if bundle:
            try:
                wanted += read_bundle(Path(bundle))
            except ProjectError as e:
                fail("installing contribution bundle", e)
        wanted += refs or []
        if not wanted:
            fail("installing contribution", "no REF given (name one, or a bundle with -f)")
        try:
            with Progress(len(wanted), verbose=verbose) as progress:
                changes = Installer(project, step=progress.step,
                                    echo=progress.echo_or_none).install(wanted)
                for change in changes:
                    progress.result(change_line(change, "Already installed"))
        except InstallError as e:
            fail(f"installing {e.target}" if e.target else "installing contribution", e)
        except ProjectError as e:
            fail("installing contribution", e)
