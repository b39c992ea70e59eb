"""The `floe` entry point: answers --version and seed-style engine flags before importing
typer, then hands everything else to the lazily built command table."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

# and `-v` on its own: with seed flags after it, `-v` is the engine's debug logging
VERSION_FLAGS = ("--version", "-V", "-version")

# verb -> module under floecli.cli.commands defining `register(app)`; imported only when used
COMMANDS = {
    "validate": "validate",
    "run": "run",
    "create": "create",
    "install": "install",
    "uninstall": "uninstall",
    "update": "update",
    "list": "list_",
    "build": "build",
    "passwd": "passwd",
    "prune": "prune",
    "store": "store",
    "graph": "graph",
    "rerun": "rerun",
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _flogo_spellings(list(sys.argv[1:] if argv is None else argv))
    if args == ["-v"] or (args[:1] and args[0] in VERSION_FLAGS):
        # flogo's `-v` and `--version`: anywhere, a project's directory included, and never
        # the engine (whose seed flags also start with one dash)
        from floecli import __version__

        from .application import APP

        APP.echo(f"floe version {__version__}")
        return 0
    if args and _is_seed_flag(args[0]):
        # `floe -tags=linux -admin=123 ...`: the original engine's command line
        from floecli.engine.main import main as engine_main

        return engine_main(args)
    # the verb is the first word that is not an option (`floe --verbose install x`)
    verb = [a for a in args if not a.startswith("-")][:1]
    return _run_verb(args, verb[0] if verb else "")


def _run_verb(args: list[str], verb: str) -> int:
    """Run the typer app without click's standalone mode, so every error, click's usage
    errors and bugs included, is printed by the one renderer (floecli.engine.errors.report)."""
    from floecli.engine.errors import FloeError, UsageError, report

    from .app import build_app

    click = _click_classes()
    doing = f"running floe {verb}" if verb in COMMANDS else "running floe"
    try:
        app = build_app(COMMANDS, [verb] if verb else [])
        status = app(args=args, prog_name="floe", standalone_mode=False)
    except click["NoArgsIsHelpError"] as e:  # `floe store`: its help, as click prints it
        e.show()
        return int(e.exit_code)
    except click["UsageError"] as e:  # unknown option, missing argument, bad value
        # an option's missing value is raised with the root's context: name the verb anyway
        where = (e.ctx.command_path if e.ctx and e.ctx.parent
                 else f"floe {verb}" if verb in COMMANDS else "floe")
        message = e.format_message()
        return report("parsing arguments", UsageError(
            message[:-1] if message.endswith(".") else message,
            hint=f"run '{where} --help' for its usage"))
    except click["ClickException"] as e:  # click's other errors (a file it cannot open)
        return report(doing, e.format_message(), code=e.exit_code)
    except click["Abort"]:  # end of input at a prompt
        return report(doing, "aborted", code=1)
    except FloeError as e:  # one a verb let through: still in the one format
        return report(doing, e)
    except KeyboardInterrupt:
        return 130
    except SystemExit as e:
        return int(e.code or 0) if not isinstance(e.code, str) else 1
    except Exception as e:  # a bug: one line and how to see more, never a traceback
        return report(doing, e)
    # a command that ended by typer.Exit(N) returns N; one that returned returns None
    return status if isinstance(status, int) else 0


def _click_classes() -> dict[str, Any]:
    """click's exception classes as this typer raises them: newer typer vendors click as
    typer._click, older typer uses click itself. Each name is a tuple of both where both
    exist, so `except` catches what either raises."""
    import importlib

    found: dict[str, list[type]] = {}
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        for cls in ("NoArgsIsHelpError", "UsageError", "ClickException", "Abort"):
            if hasattr(module, cls):
                found.setdefault(cls, []).append(getattr(module, cls))
    import typer

    found.setdefault("Abort", []).append(typer.Abort)
    # a class missing from both (NoArgsIsHelpError before click 8.2) catches nothing
    return {cls: tuple(found.get(cls, ())) for cls in (
        "NoArgsIsHelpError", "UsageError", "ClickException", "Abort")}


def _flogo_spellings(args: list[str]) -> list[str]:
    """flogo's habits: bare `floe` and `floe help [VERB]` print help (exit 0); `list -json`
    and `list -j` are spellings of `list --json`, `list --json=false` of `list --text`."""
    if not args:
        return ["--help"]
    if args[0] == "help":
        return [*args[1:2], "--help"]
    if args[0] == "list":
        return [_LIST_SPELLINGS.get(a.lower() if "=" in a else a, a) for a in args]
    return args


# flogo's `list`: `-j`/`--json` (default true) and `--json=false` for a text listing
_LIST_SPELLINGS = {"-json": "--json", "-j": "--json", **{
    f"{flag}={value}": ("--json" if value in ("true", "1", "t") else "--text")
    for flag in ("--json", "-json", "-j") for value in ("true", "false", "1", "0", "t", "f")}}


def _is_seed_flag(arg: str) -> bool:
    return arg.startswith("-") and not arg.startswith("--") and arg not in ("-h", "-V")


if __name__ == "__main__":
    sys.exit(main())
