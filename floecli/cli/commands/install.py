"""`floe install [-f BUNDLE] REF...`: add contributions to the project's vendor/."""

from __future__ import annotations

import typer

from ..application import fail, is_verbose, require_project, usage_error


def register(app: typer.Typer) -> None:
    @app.command()
    def install(
        ctx: typer.Context,
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
        from floecli.project.errors import ProjectError
        from floecli.project.refs import is_path_ref, record_path

        from ..progress import run_changes

        project = require_project()
        wanted: list[str] = []
        if bundle:
            try:
                listed = read_bundle(Path(bundle))
            except ProjectError as e:
                fail("installing contribution bundle", e)
            # a bundle's relative paths are the bundle's, recorded relative to the project
            here = Path(bundle).resolve().parent
            wanted += [record_path((here / r).resolve(), project.root) if is_path_ref(r) else r
                       for r in listed]
        wanted += refs or []
        if not wanted:
            fail("installing contribution",
                 usage_error("install", "no REF given (name one, or a bundle with -f)"))
        run_changes(project, "installing", "Already installed", len(wanted),
                    is_verbose(ctx, verbose),
                    lambda installer: installer.install(wanted))
