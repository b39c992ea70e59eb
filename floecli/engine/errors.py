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
The toolchain adds ProjectError and BuildError (floecli.project.errors).

Each class has a stable kebab-case ``ref`` so scripts and docs can name an error.
"""

from __future__ import annotations

from dataclasses import dataclass


class FloeError(Exception):
    """Base of every error floe raises on purpose."""

    ref = "floe-error"

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
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

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        return "\n".join(str(p) for p in self.problems if p.severity == "error")


class ContributionError(FloeError):
    ref = "contribution-invalid"


class ContributionNotFound(ContributionError):
    ref = "contribution-not-found"


class StoreError(FloeError):
    ref = "store-failed"


class RunError(FloeError):
    ref = "run-invalid"


class RunNotFound(RunError):
    ref = "run-not-found"


class RunLimit(RunError):
    """A run would hold more than a run may (form submissions): the API answers 413."""

    ref = "run-limit"


class RequestError(FloeError):
    """An API request refused; `status` is the HTTP status its reply carries."""

    ref = "request-invalid"

    def __init__(self, status: int, message: str, payload: object = None, *,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.payload = payload
        self.headers = headers or {}


class ListenError(FloeError):
    ref = "listen-failed"


class GitError(FloeError):
    ref = "git-failed"

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail or message  # git's own words, without the command


class DownloadError(FloeError):
    ref = "download-failed"


class PathOutside(FloeError):
    """A sub-dir, flow-file or other resolved path that leaves its workspace or directory."""

    ref = "path-outside"
