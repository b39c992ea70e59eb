"""The one exception hierarchy of floe; every message is what the user reads.

FloeError
  ConfigError        an app document that cannot be loaded or is invalid (carries Problems)
  ContributionError  a contribution that cannot be found, loaded or trusted
  StoreError         the run store cannot be opened or written
  RunError           an operation on a run that does not apply (unknown run, not waiting...)
    RunNotFound        no such run here
    RunLimit           a run would hold more than a run may (form submissions)
  RequestError       an API request that cannot be served (carries its HTTP status)
  ListenError        an address the engine cannot listen on
  GitError           a git command that failed (bad URL, auth, unknown ref, conflicts...)
  DownloadError      a file that could not be downloaded or failed its checksum
  PathOutside        a path that would leave the directory it must stay in
  UsageError         bad flags or arguments on a command line
The toolchain adds ProjectError and BuildError (floecli.project.errors).

Each class has a stable kebab-case ``ref`` so scripts and docs can name an error, a default
``hint`` (what the user can do next; a raise may give a better one) and the ``exit_status`` a
command line ends with when it stops on one.

This module is also the one path from `raise` to the screen: `report()` prints any error as
`Error <doing X>: <detail>`, then `hint: ...` and `ref: ...`, and returns the exit status. The
`floe` verbs and the engine's own command line both print through it; it lives here, in the
engine layer, because the engine (and every built binary) must not import the CLI.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TextIO

EXIT_FAILURE = 1  # an ordinary failure
EXIT_INVALID = 2  # an invalid app document, or bad flags or arguments
# set (to anything but 0 or empty) to see the traceback of an unexpected exception
DEBUG_ENV = "FLOE_DEBUG"


class FloeError(Exception):
    """Base of every error floe raises on purpose."""

    ref = "floe-error"
    hint = "the message above says what failed; fix that and try again"
    exit_status = EXIT_FAILURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint:  # a raise that knows better than the class; otherwise the class's own
            self.hint = hint

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an app document, placed by file, line and key path."""

    file: str
    line: int
    path: str
    message: str
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{where}: {self.path}: {prefix}{self.message}" if self.path else (
            f"{where}: {prefix}{self.message}")

    def to_json(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "path": self.path,
                "message": self.message, "severity": self.severity}


class ConfigError(FloeError):
    ref = "config-invalid"
    hint = "check the app document: 'floe validate FILE' lists every problem with its line"
    exit_status = EXIT_INVALID

    def __init__(self, message: str, problems: list[Problem] | None = None, *,
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.problems = problems or []

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def __str__(self) -> str:
        if not self.errors:  # none, or only warnings: the message says it
            return self.message
        return "\n".join(str(p) for p in self.errors)


class ContributionError(FloeError):
    ref = "contribution-invalid"
    hint = ("check the contribution's descriptor.json and the module its main names, or "
            "reinstall it (floe install REF)")


class ContributionNotFound(ContributionError):
    ref = "contribution-not-found"
    hint = "install it (floe install REF); 'floe list' shows what is installed"


class StoreError(FloeError):
    ref = "store-failed"
    hint = ("check common.store-type, and that the store's directory (-root, "
            "common.store-root) exists and this user can write it")


class RunError(FloeError):
    ref = "run-invalid"
    hint = "look at the run's state first (GET /flows/:id/runs/:rid, or the dashboard)"


class RunNotFound(RunError):
    ref = "run-not-found"
    hint = "check the flow id and the run id (such as h1-3); GET /flows/:id lists its runs"


class RunLimit(RunError):
    """A run would hold more than a run may (form submissions): the API answers 413."""

    ref = "run-limit"
    hint = "send less to this run, or start a new run"


class RequestError(FloeError):
    """An API request refused; `status` is the HTTP status its reply carries."""

    ref = "request-invalid"
    hint = "check the request against the API's description, served at <rp>/openapi.json"

    def __init__(self, status: int, message: str, payload: object = None, *,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.payload = payload
        self.headers = headers or {}


class ListenError(FloeError):
    """An address from the flags or the app document the engine cannot listen on: exit 2."""

    ref = "listen-failed"
    hint = ("give a free address and port (such as -pub_bind=127.0.0.1:8081), or stop what "
            "holds this one")
    exit_status = EXIT_INVALID


class GitError(FloeError):
    ref = "git-failed"
    hint = ("check the repository URL, the ref and the credentials; the same git command run "
            "by hand shows more")

    def __init__(self, message: str, *, detail: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.detail = detail or message  # git's own words, without the command


class DownloadError(FloeError):
    ref = "download-failed"
    hint = "check that the URL is reachable from here and its checksum is right, then try again"


class PathOutside(FloeError):
    """A sub-dir, flow-file or other resolved path that leaves its workspace or directory."""

    ref = "path-outside"
    hint = "give a path inside that directory: relative, without '..' leading out of it"


class UsageError(FloeError):
    """Bad flags or arguments: the command did nothing. A raise names the help to read."""

    ref = "usage-invalid"
    hint = "run 'floe --help' for the usage"
    exit_status = EXIT_INVALID


# ---- the one renderer -------------------------------------------------------------------


def report(doing: str, error: BaseException | str, *, hint: str | None = None,
           code: int | None = None, err: TextIO | None = None) -> int:
    """Print `Error <doing>: <detail>` on stderr, then `hint: <hint>` and `ref: <ref>` when
    the error has them, and return the exit status the command should end with.

    `error` is a FloeError (its hint, ref and exit status), a plain message (exit 1 unless
    `code` says otherwise) or any other exception, which is a bug: one line naming it and how
    to see its traceback, never the traceback itself unless FLOE_DEBUG is set. An app document
    with one problem shows it as the detail (FILE:LINE: path: message); with more, each on a
    line of its own under `Error <doing>: <how many>`."""
    out = err or sys.stderr
    lines: list[str]
    ref = ""
    if isinstance(error, ConfigError) and len(error.errors) > 1:
        lines = [f"Error {doing}: {error.message}", *(str(p) for p in error.errors)]
    elif isinstance(error, (FloeError, str)):
        lines = [f"Error {doing}: {error}"]
    else:
        if _debugging():
            import traceback

            traceback.print_exception(error, file=out)
        said = str(error)
        lines = [f"Error {doing}: unexpected {type(error).__name__}" + (f": {said}" if said
                                                                         else "")]
        hint = hint or (f"this is a bug in floe: rerun with {DEBUG_ENV}=1 to see the traceback, "
                        "and report it with that output")
    if isinstance(error, FloeError):
        hint = hint or error.hint
        ref = error.ref
        status = error.exit_status
    else:
        status = EXIT_FAILURE
    if hint:
        lines.append(f"hint: {hint}")
    if ref:
        lines.append(f"ref: {ref}")
    print("\n".join(lines), file=out, flush=True)
    return code if code is not None else status


def _debugging() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")
