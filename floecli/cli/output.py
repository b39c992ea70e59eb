"""The one place the CLI prints errors: `Error <doing X>: <detail>` and the exit status."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer

EXIT_ERROR = 1
EXIT_INVALID = 2  # an invalid app document or bad flags


def fail(doing: str, detail: object, code: int = EXIT_ERROR) -> NoReturn:
    print(f"Error {doing}: {detail}", file=sys.stderr)
    raise typer.Exit(code)


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2))
