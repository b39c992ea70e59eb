"""`floe store backup FILE`: a consistent copy of an engine's run store, running or not."""

from __future__ import annotations

from pathlib import Path

import typer

from ..application import APP, fail


def load_config(conf: Path | None) -> object:
    """The app document the engine runs (as `floe run` finds it), types unchecked."""
    from floecli.engine.config.loader import load_app
    from floecli.engine.engine import find_config
    from floecli.engine.errors import ConfigError

    try:
        return load_app(conf or find_config(""))
    except ConfigError as e:
        fail("reading the app document", e)


def project_name() -> str:
    """The engine project the current directory is, as `floe run` names it ("" if none):
    its default store is per project."""
    from floecli.project.layout import EngineProject

    return EngineProject(Path.cwd().resolve()).root.name if EngineProject.is_project(
        Path.cwd()) else ""


# Which engine's store: the options `floe store backup` and `floe prune` share.
CONF = typer.Option(None, "--conf", "-c", help="the engine's app document (as -conf)")
ROOT = typer.Option("", "--root", help="the engine's -root, if it has one")
HOST_NAME = typer.Option("h1", "--host_name", "--host-name",
                         help="the engine's -host_name (its default store is per host name; "
                              "on a shared PostgreSQL store, whose runs)")


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Work on the engine's run store.", no_args_is_help=True)
    app.add_typer(group, name="store")

    @group.command()
    def backup(
        file: Path = typer.Argument(..., help="the backup file to write"),
        conf: Path | None = CONF,
        root: str = ROOT,
        host_name: str = HOST_NAME,
        db: Path | None = typer.Option(None, "--db", help="the store file itself (instead "
                                       "of --conf/--root)"),
    ) -> None:
        """Copy the run store, consistent while the engine runs: SQLite's online backup, or
        pg_dump's custom format for store-type postgres. Restore: see docs/operations.md
        (SQLite) and docs/postgres.md (pg_restore)."""
        from floecli.engine.errors import FloeError
        from floecli.engine.store.maintenance import StoreLocation, locate
        from floecli.engine.store.maintenance import backup as take

        try:
            loc = StoreLocation(db, Path()) if db else locate(
                load_config(conf), root, host_name, project_name())  # type: ignore[arg-type]
            result = take(loc, file)
        except FloeError as e:
            fail("backing up the run store", e)
        source: object = loc.db
        if loc.url:
            from floecli.engine.store.postgres import redact_url

            source = redact_url(loc.url)
        APP.echo(f"backed up {source} to {result.path}: {result.archived} archived runs, "
                 f"integrity {result.integrity}")
