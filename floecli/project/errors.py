"""The toolchain's errors, under FloeError: a project on disk, installing into it, building it.

ProjectError       a directory that is not an engine project, or an operation on it that failed
  InstallError     a contribution that cannot be installed, updated or uninstalled
  BuildError       `floe build` could not make the binary
"""

from __future__ import annotations

from floecli.engine.errors import FloeError


class ProjectError(FloeError):
    ref = "project-invalid"
    hint = "fix what the message names and run the command again"


class InstallError(ProjectError):
    """`target` is the contribution ref the failure is about, for `Error installing <ref>: ...`."""

    ref = "install-failed"
    hint = "the project was left as it was; --verbose shows each step pip and git take"

    def __init__(self, message: str, *, target: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.target = target


class BuildError(ProjectError):
    ref = "build-failed"
    hint = ("fix what the message names and build again; --verbose shows pip's and the "
            "builder's output")


def os_failure(e: OSError, doing: str, cls: type[ProjectError] = ProjectError) -> ProjectError:
    """An OSError as the user reads it: what failed and on which path, and for a full disk
    (or a file size limit) what to do; the project was left as it was."""
    import errno
    import re

    if e.errno is None and e.args and isinstance(e.args[0], list) and e.args[0]:
        # shutil.Error from a copy: a list of (src, dst, reason); the first one says it
        _src, dst, why = e.args[0][0]
        found = re.match(r"\[Errno (\d+)\] ([^:]+)", str(why))
        e = OSError(int(found[1]), found[2], dst) if found else OSError(str(why))
    where = f" ({e.filename})" if getattr(e, "filename", None) else ""
    if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return cls(f"no space left while {doing}: {e.strerror}{where}; the project was left "
                   "as it was", hint="free some disk space (or point TMPDIR and "
                   "FLOE_CACHE_DIR at a larger file system) and try again")
    return cls(f"{e.strerror or e}{where}")
