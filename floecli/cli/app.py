"""Building the typer application with only the commands a call needs imported."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence

import typer

HELP = "floe: a workflow engine for long-running processes, and the toolchain that packages it."


def build_app(commands: Mapping[str, str], first: Sequence[str]) -> typer.Typer:
    app = typer.Typer(help=HELP, no_args_is_help=True, add_completion=True,
                      context_settings={"help_option_names": ["-h", "--help"]},
                      pretty_exceptions_enable=False)

    @app.callback()
    def root(
        version: bool = typer.Option(False, "--version", "-V", help="print the version"),
    ) -> None:
        """floe command line."""

    # Only the named verb is imported; --help and unknown verbs import them all.
    wanted = [first[0]] if first and first[0] in commands else list(commands)
    for verb in wanted:
        module = importlib.import_module(f"floecli.cli.commands.{commands[verb]}")
        module.register(app)
    return app
