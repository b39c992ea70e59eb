"""`floe validate [FILE]`: every problem of an app document at once, with file and line."""

from __future__ import annotations

from pathlib import Path

import typer

from ..application import APP, EXIT_INVALID, fail, print_json


def register(app: typer.Typer) -> None:
    @app.command()
    def validate(
        file: Path | None = typer.Argument(
            None, help="app document (default: ./app.json, ./config.yml, ./default.yml)"),
        as_json: bool = typer.Option(False, "--json", help="print problems as JSON"),
        strict: bool = typer.Option(False, "--strict", help="fail (exit 2) on warnings too"),
    ) -> None:
        """Check an app document (or a plain Floe config.yml) and list every problem."""
        from floecli.engine.engine import find_config
        from floecli.engine.errors import ConfigError
        from floecli.project.layout import EngineProject
        from floecli.project.validation import check_text, read_text

        try:
            path = file or find_config("")
            text = read_text(path)
        except ConfigError as e:
            if as_json:
                print_json({"file": str(file or ""), "valid": False,
                            "problems": [p.to_json() for p in e.problems]})
                raise typer.Exit(EXIT_INVALID) from None
            fail("validating app", e)
        if EngineProject.is_project(path.parent):
            # in a project, only its vendored contributions exist
            vendor, builtin = [EngineProject(path.parent).vendor_dir], False
        else:
            vendor = [path.parent / "vendor"] if (path.parent / "vendor").is_dir() else []
            builtin = True
        config, problems = check_text(text, str(path), vendor, builtin=builtin)
        errors = [p for p in problems if p.severity == "error" or strict]
        if as_json:
            print_json({"file": str(path), "valid": not errors,
                        "problems": [p.to_json() for p in problems]})
        else:
            for p in problems:
                APP.note(str(p))
            if not errors:
                flows = len(config.flows) if config else 0
                APP.echo(f"{path}: valid ({flows} flows)")
        if errors:
            raise typer.Exit(EXIT_INVALID)
