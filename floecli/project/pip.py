"""Running pip as `python -m pip` with this interpreter; its output captured, shown on failure
and, with verbose, always."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .errors import InstallError

Echo = Callable[[str], None]


class PipError(InstallError):
    ref = "pip-failed"
    hint = "run it again with --verbose to see all of pip's output"


def run_pip(args: Sequence[str], *, echo: Echo | None = None, cwd: Path | None = None) -> str:
    """pip's stdout; PipError carrying pip's error lines when it fails. `echo` (verbose) gets
    every output line."""
    cmd = [sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "--no-input"]
    if echo:
        echo("$ " + " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, check=False)
    if echo:
        for line in (proc.stdout + proc.stderr).splitlines():
            echo(line)
    if proc.returncode != 0:
        raise PipError(pip_failure(proc.stdout + "\n" + proc.stderr, proc.returncode))
    return proc.stdout


def pip_failure(output: str, code: int) -> str:
    """pip's `ERROR:` lines (what went wrong, without its progress chatter), else its output."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if "No space left on device" in output or "[Errno 28]" in output:
        return ("pip failed: no space left on device; the project was left as it was (free "
                "some disk space, or point TMPDIR at a larger file system)")
    errors = [line.removeprefix("ERROR:").strip() for line in lines if line.startswith("ERROR:")]
    if errors and all(e.rstrip(":") == "Exception" for e in errors) and lines:
        errors = [lines[-1]]  # pip printed a traceback: its last line says what went wrong
    detail = "; ".join(errors) or "\n".join(lines[-10:])
    if "The conflict is caused by:" in lines:
        # the resolver's own account of who needs what
        start = lines.index("The conflict is caused by:")
        cause = [line for line in lines[start + 1:]
                 if not line.startswith(("To fix", "1.", "2.", "ERROR:", "Additionally"))]
        cause = cause[:next((i for i, line in enumerate(cause)
                             if not (" depends on " in line or "constraint" in line.lower()
                                     or line.startswith("The user requested "))),
                            len(cause))]
        detail += "\nThe conflict is caused by:\n" + "\n".join(f"  {c}" for c in cause)
    return f"pip failed: {detail}" if detail else f"pip failed with exit status {code}"
