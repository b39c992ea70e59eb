"""`floe update [REF...|--all]`: move contributions to the newest version their ref allows."""

from __future__ import annotations

import typer

from ..application import fail, is_verbose, require_project, usage_error


def register(app: typer.Typer) -> None:
    @app.command()
    def update(
        ctx: typer.Context,
        refs: list[str] | None = typer.Argument(None, metavar="[REF...]", help="installed refs"),
        all_: bool = typer.Option(False, "--all", help="update every installed contribution"),
        verbose: bool = typer.Option(False, "--verbose", help="show pip's and git's output"),
    ) -> None:
        """Reinstall contributions at their newest allowed version; floe.lock is updated."""
        from ..progress import run_changes

        project = require_project()
        if not refs and not all_:
            fail("updating contribution",
                 usage_error("update", "no contribution given: name a REF or use --all"))
        if refs and all_:
            fail("updating contribution",
                 usage_error("update", "give either REFs or --all, not both"))
        run_changes(project, "updating", "Up to date", len(refs or []),
                    is_verbose(ctx, verbose),
                    lambda installer: installer.update(refs or None))
