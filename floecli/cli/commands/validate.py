"""`floe validate [FILE]`: every problem of an app document at once, with file and line."""

from __future__ import annotations

from pathlib import Path

import typer

from ..output import EXIT_INVALID, fail, print_json


def register(app: typer.Typer) -> None:
    @app.command()
    def validate(
        file: Path | None = typer.Argument(
            None, help="app document (default: ./app.json, ./config.yml, ./default.yml)"),
        as_json: bool = typer.Option(False, "--json", help="print problems as JSON"),
    ) -> None:
        """Check an app document (or a plain Floe config.yml) and list every problem."""
        from floecli.engine.config.loader import check_app
        from floecli.engine.contributions.registry import Registry
        from floecli.engine.engine import find_config
        from floecli.engine.errors import ConfigError
        from floecli.project.layout import EngineProject

        try:
            path = file or find_config("")
            text = path.read_text(encoding="utf-8")
        except ConfigError as e:
            fail("validating app", e, EXIT_INVALID)
        except OSError as e:
            fail("validating app", f"cannot read {file}: {e.strerror}", EXIT_INVALID)
        if EngineProject.is_project(path.parent):
            # in a project, only its vendored contributions exist
            registry = Registry.discover([EngineProject(path.parent).vendor_dir], builtin=False)
        else:
            vendor = [path.parent / "vendor"] if (path.parent / "vendor").is_dir() else []
            registry = Registry.discover(vendor)
        config, problems = check_app(text, str(path), registry.catalog())
        errors = [p for p in problems if p.severity == "error"]
        if as_json:
            print_json({"file": str(path), "valid": not errors,
                        "problems": [p.to_json() for p in problems]})
        else:
            for p in problems:
                typer.echo(str(p), err=True)
            if not errors:
                flows = len(config.flows) if config else 0
                typer.echo(f"{path}: valid ({flows} flows)")
        if errors:
            raise typer.Exit(EXIT_INVALID)
