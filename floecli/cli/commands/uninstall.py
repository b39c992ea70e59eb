"""`floe uninstall REF...`: remove contributions, and the dependencies nothing else needs."""

from __future__ import annotations

import typer

from ..application import is_verbose, require_project


def register(app: typer.Typer) -> None:
    @app.command()
    def uninstall(
        ctx: typer.Context,
        refs: list[str] = typer.Argument(..., metavar="REF...", help="installed refs"),
        force: bool = typer.Option(False, "--force", help="remove even if a flow uses it"),
        verbose: bool = typer.Option(False, "--verbose", help="print each step"),
    ) -> None:
        """Uninstall contributions: vendor/ files, app.json import and floe.lock entry."""
        from ..progress import run_changes

        project = require_project()
        run_changes(project, "uninstalling", "Unchanged", len(refs),
                    is_verbose(ctx, verbose),
                    lambda installer: installer.uninstall(refs, force=force))
