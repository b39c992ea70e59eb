"""Building the typer application with only the commands a call needs imported."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence

import typer

HELP = "floe: a workflow engine for long-running processes, and the toolchain that packages it."


def build_app(commands: Mapping[str, str], first: Sequence[str]) -> typer.Typer:
    _plain_types_without_pydantic()
    app = typer.Typer(help=HELP, no_args_is_help=True, add_completion=True,
                      context_settings={"help_option_names": ["-h", "--help"]},
                      pretty_exceptions_enable=False,
                      # plain help and usage errors: typer's rich formatter costs more start-up
                      # time than everything else `floe --help` does
                      rich_markup_mode=None)

    @app.callback()
    def root(
        version: bool = typer.Option(False, "--version", "-V", help="print the version"),
        verbose: bool = typer.Option(False, "--verbose",
                                     help="show the output of pip and git (any command)"),
    ) -> None:
        """floe command line."""

    # Only the named verb is imported; --help and unknown verbs import them all.
    wanted = [first[0]] if first and first[0] in commands else list(commands)
    for verb in wanted:
        module = importlib.import_module(f"floecli.cli.commands.{commands[verb]}")
        module.register(app)
    return app


def _plain_types_without_pydantic() -> None:
    """typer coerces each parameter through a pydantic TypeAdapter, built even for an unset
    flag (the completion options are on every command), which imports pydantic: about 40 ms of
    every call. `str` and `bool` values arrive from click as they are, so they skip it. Only an
    optimisation: if typer's internals change, typer does what it did before."""
    try:
        from typer._coercion import PassThroughRuntimeParam
        from typer.core import _TyperParameter
    except ImportError:
        return
    original = _TyperParameter.get_runtime_param
    if getattr(original, "_floe_plain", False):
        return

    def get_runtime_param(self: _TyperParameter) -> object:
        d = getattr(self, "type_descriptor", None)
        if (getattr(self, "_runtime_param", True) is None and d is not None
                and d.annotation in (str, bool) and d.file_annotation is None):
            self._runtime_param = PassThroughRuntimeParam(
                parameter_info=d.parameter_info, annotation=d.annotation)
        return original(self)

    get_runtime_param._floe_plain = True  # type: ignore[attr-defined]
    _TyperParameter.get_runtime_param = get_runtime_param  # type: ignore[method-assign]
