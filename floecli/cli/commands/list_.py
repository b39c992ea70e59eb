"""`floe list [--json] [--filter used|unused] [--table]`: the installed contributions."""

from __future__ import annotations

import typer

from ..application import APP, fail, print_json, require_project, usage_error

FILTERS = ("used", "unused", "all")


def register(app: typer.Typer) -> None:
    @app.command("list")
    def list_(
        as_json: bool = typer.Option(True, "--json", "-j", help="a JSON array (the default)"),
        text: bool = typer.Option(False, "--text", help="flogo's text listing (also "
                                  "--json=false)"),
        # a plain `str | None`: a choice type would make typer load pydantic on every call
        only: str | None = typer.Option(None, "--filter", metavar="used|unused",
                                        help="only what the flows use, or do not use"),
        table: bool = typer.Option(False, "--table", help="a table for people"),
    ) -> None:
        """List installed contributions as JSON (sorted by ref; [] when none)."""
        from floecli.project.errors import ProjectError
        from floecli.project.listing import list_contributions

        project = require_project()
        if only is not None and only.lower() not in FILTERS:
            fail("getting list of contributions",
                 usage_error("list", f"--filter must be used or unused, not {only!r}"))
        try:
            items = list_contributions(project, (only or "").lower())
        except ProjectError as e:
            fail("getting list of contributions", e)
        if table:
            _table(items)
        elif text:
            _text(items)
        else:
            print_json(items)


def _table(items: list[dict]) -> None:
    APP.table(["name", "type", "version", "ref", "description"],
              [[i["name"], i["type"].split(":", 1)[-1], i["version"], i["ref"], i["description"]]
               for i in items])


def _text(items: list[dict]) -> None:
    """flogo's `list --json=false`: a block of `Key: value` lines per contribution."""
    for i in items:
        APP.echo(f"Contrib: {i['name']}")
        for key, field in (("Type", "type"), ("Version", "version"), ("Homepage", "homepage"),
                           ("Ref", "ref"), ("Path", "path"), ("Descriptor", "descriptor"),
                           ("Description", "description")):
            APP.echo(f"  {key:<11}: {i[field]}")
        APP.echo()
