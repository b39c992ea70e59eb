"""`floe list [--json] [--filter used|unused] [--table]`: the installed contributions."""

from __future__ import annotations

from enum import StrEnum

import typer

from ..output import fail, print_json, require_project


class Only(StrEnum):
    used = "used"
    unused = "unused"
    all = "all"


def register(app: typer.Typer) -> None:
    @app.command("list")
    def list_(
        as_json: bool = typer.Option(True, "--json", help="a JSON array (the default)"),
        only: Only = typer.Option(Only.all, "--filter", case_sensitive=False,
                                  help="only what the flows use, or do not use"),
        table: bool = typer.Option(False, "--table", help="a table for people"),
    ) -> None:
        """List installed contributions as JSON (sorted by ref; [] when none)."""
        from floecli.project.errors import ProjectError
        from floecli.project.listing import list_contributions

        project = require_project()
        try:
            items = list_contributions(project, only.value)
        except ProjectError as e:
            fail("getting list of contributions", e)
        if table:
            _table(items)
        else:
            print_json(items)


def _table(items: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table("name", "type", "version", "ref", "description")
    for i in items:
        t.add_row(i["name"], i["type"].split(":", 1)[-1], i["version"], i["ref"],
                  i["description"])
    Console().print(t)
