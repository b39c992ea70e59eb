"""`floe create [-f FILE|URL] [--cv VERSION] [NAME]`: a new engine project directory."""

from __future__ import annotations

import typer

from ..output import change_line, fail, is_verbose


def register(app: typer.Typer) -> None:
    @app.command()
    def create(
        ctx: typer.Context,
        name: str | None = typer.Argument(None, help="project directory (default: the app's name)"),
        file: str | None = typer.Option(None, "-f", "--file", metavar="FILE|URL",
                                        help="app document to start from (JSON or YAML)"),
        cv: str | None = typer.Option(None, "--cv", metavar="VERSION",
                                      help="engine runtime version (default: FLOE_LIB_VERSION, "
                                           "else this floe's)"),
        verbose: bool = typer.Option(False, "--verbose", help="show pip's output"),
    ) -> None:
        """Create an engine project: app.json, main.py, vendor/ with the default bundle,
        floe.lock and bin/."""
        from pathlib import Path

        from floecli.project.create import create_project, load_app_source, project_name
        from floecli.project.errors import ProjectError
        from floecli.project.runtime import requested_version

        from ..progress import Progress

        try:
            doc = load_app_source(file)
            chosen = project_name(name, doc)
            print(f"Creating floe engine project: {chosen}", flush=True)
            with Progress(verbose=is_verbose(ctx, verbose)) as progress:
                created = create_project(Path.cwd(), chosen, doc, requested_version(cv),
                                         step=progress.step, echo=progress.echo_or_none)
                progress.result(f"Engine runtime: floe {created.engine_version}")
                for change in created.changes:
                    progress.result(change_line(change, "Installed"))
        except ProjectError as e:
            fail("creating project", e)
