"""`floe prune [--dry-run]`: remove the archived runs retention no longer keeps."""

from __future__ import annotations

from pathlib import Path

import typer

from ..application import APP
from .store import CONF, HOST_NAME, ROOT


def register(app: typer.Typer) -> None:
    @app.command()
    def prune(
        dry_run: bool = typer.Option(False, "--dry-run", "-n",
                                     help="say what would go, remove nothing"),
        conf: Path | None = CONF,
        root: str = ROOT,
        host_name: str = HOST_NAME,
    ) -> None:
        """Apply common.retention (and each flow's own) now: archived runs, their node logs,
        log files and workspaces. A running engine does this by itself in the background.
        On a PostgreSQL store, the runs host --host_name ran (their workspaces are here)."""
        from floecli.engine.errors import FloeError
        from floecli.engine.retention import describe
        from floecli.engine.store.maintenance import locate, prune_candidates
        from floecli.engine.store.maintenance import prune as remove

        from ..application import fail
        from .store import load_config, project_name

        config = load_config(conf)
        try:
            loc = locate(config, root, host_name, project_name())  # type: ignore[arg-type]
            victims, spaces = prune_candidates(loc, config)  # type: ignore[arg-type]
            if dry_run:
                for line in describe(victims):
                    APP.echo(line)
                APP.echo(f"would remove {len(victims)} archived runs (dry run)")
                if spaces:
                    APP.echo(f"would remove the workspaces of {len(spaces)} older runs, "
                             "keeping their records, logs and artifacts (dry run)")
                return
            gone = remove(loc, victims, spaces)
        except FloeError as e:
            fail("pruning the run store", e)
        APP.echo(f"removed {gone} archived runs")
        if spaces:
            APP.echo(f"removed the workspaces of {len(spaces)} older runs")
