"""`floe create [-f FILE|URL] [--cv VERSION|WHEEL] [NAME]`: a new engine project directory."""

from __future__ import annotations

import typer

from ..application import APP, change_line, fail, is_verbose


def register(app: typer.Typer) -> None:
    @app.command()
    def create(
        ctx: typer.Context,
        name: str | None = typer.Argument(None, help="project directory (default: the app's name)"),
        file: str | None = typer.Option(None, "-f", "--file", metavar="FILE|URL",
                                        help="app document to start from (JSON or YAML)"),
        cv: str | None = typer.Option(None, "--cv", metavar="VERSION|WHEEL",
                                      help="engine runtime: this floe's by default "
                                           "(FLOE_LIB_VERSION); another version from a wheel "
                                           "path, FLOE_RUNTIME_FIND_LINKS or "
                                           "FLOE_RUNTIME_INDEX_URL"),
        verbose: bool = typer.Option(False, "--verbose", help="show pip's output"),
    ) -> None:
        """Create an engine project: app.json, main.py, vendor/ with the default bundle,
        floe.lock and bin/."""
        from pathlib import Path

        from floecli.engine.errors import FloeError
        from floecli.project.create import create_project, load_app_source, project_name
        from floecli.project.errors import os_failure
        from floecli.project.runtime import requested_version

        from ..progress import Progress

        try:
            source = load_app_source(file)
            chosen = project_name(name, source.doc)
            APP.echo(f"Creating floe engine project: {chosen}")
            with Progress(verbose=is_verbose(ctx, verbose)) as progress:
                created = create_project(Path.cwd(), chosen, source, requested_version(cv),
                                         step=progress.step, echo=progress.echo_or_none,
                                         notify=progress.echo)
                progress.result(f"Engine runtime: floe {created.engine_version}")
                for change in created.changes:
                    progress.result(change_line(change, "Installed"))
        except FloeError as e:  # an invalid app document (exit 2) or a project failure
            fail("creating project", e)
        except OSError as e:  # a full disk, a directory that cannot be written
            fail("creating project", os_failure(e, "creating the project"))
