"""The `floe` entry point: answers --version and seed-style engine flags before importing
typer, then hands everything else to the lazily built command table."""

from __future__ import annotations

import sys
from collections.abc import Sequence

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
    from .app import build_app

    # the verb is the first word that is not an option (`floe --verbose install x`)
    app = build_app(COMMANDS, [a for a in args if not a.startswith("-")][:1])
    try:
        app(args=args, prog_name="floe", standalone_mode=True)
    except SystemExit as e:
        return int(e.code or 0) if not isinstance(e.code, str) else 1
    return 0


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
