"""`floe run [ENGINE FLAGS]`: run the engine of this project (or of -conf) in the foreground."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                                   "help_option_names": []})
    def run(ctx: typer.Context) -> None:
        """Run the engine with the engine's own flags (-conf, -tags, -pub_bind, ...; see
        `floe run -help`). In an engine project its vendored contributions are used."""
        from floecli.engine.main import main as engine_main
        from floecli.project.layout import EngineProject

        args = list(ctx.args)
        if any(a in ("-help", "--help", "-h") for a in args):
            args = ["-h"]
        if EngineProject.is_project(Path.cwd()):
            # A project's engine knows only what the project installed, as its binary will.
            project = EngineProject(Path.cwd().resolve())
            project.tidy()  # what an interrupted install or build left
            raise typer.Exit(engine_main(args, vendor=[project.vendor_dir], builtin=False,
                                         project=project.root.name))
        vendor = [Path("vendor")] if Path("vendor").is_dir() else []
        raise typer.Exit(engine_main(args, vendor=vendor))
