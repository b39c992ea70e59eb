"""The toolchain's errors, under FloeError: a project on disk, installing into it, building it.

ProjectError       a directory that is not an engine project, or an operation on it that failed
  InstallError     a contribution that cannot be installed, updated or uninstalled
  BuildError       `floe build` could not make the binary
"""

from __future__ import annotations

from floecli.engine.errors import FloeError


class ProjectError(FloeError):
    ref = "project-invalid"


class InstallError(ProjectError):
    """`target` is the contribution ref the failure is about, for `Error installing <ref>: ...`."""

    ref = "install-failed"

    def __init__(self, message: str, *, target: str = "", hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.target = target


class BuildError(ProjectError):
    ref = "build-failed"
