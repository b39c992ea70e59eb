"""Host path expansion (floe-reference §1.9.1), `{{ws}}`/`./`/`$VAR` expansion (§1.9.2), env.

The rule of DECISIONS §2 "Expansion": the engine never splices a value it did not get from
the app document into anything that is run or opened. So `$NAME` is expanded in opts from
the app's own environment only (the caller passes that mapping, never one holding pushed
values), `$$` is a literal `$`, a reference to a pushed value (`$FLOE_IN_...`) is left as
written for a shell to read as data, and a `shell` script gets floe's path notation alone
(`expand_script`): its `$`, quotes and escapes are bash's own.
"""

from __future__ import annotations

import os
import posixpath
import tempfile
from collections.abc import Mapping, Sequence

WS = "{{ws}}"


def clean_path(path: str) -> str:
    """Lexically clean a path like Go's `filepath.Clean` (no leading `//` kept)."""
    cleaned = posixpath.normpath(path)
    return cleaned[1:] if cleaned.startswith("//") else cleaned


def expand_path(path: str) -> str:
    """Expand a host path: a leading `~` is $HOME, a leading `%tmp` a fresh `floe*` temp dir."""
    cleaned = clean_path(path)
    if len(cleaned) < 2:
        raise ValueError("path too short")
    parts = cleaned.split("/")
    if parts[0] == "~":
        home = os.environ.get("HOME", "")
        if not home:
            raise ValueError("~ not expanded as HOME env var not set")
        parts[0] = home
    elif parts[0] == "%tmp":
        parts[0] = tempfile.mkdtemp(prefix="floe")
    return clean_path("/".join(parts))


# Pushed values reach a task's environment under this prefix (hub/opts.py); a reference to one
# in an opt is never substituted by the engine.
INPUT_PREFIX = "FLOE_IN_"


def expand_ws(s: str, ws: str, env: Mapping[str, str] | None) -> str:
    """Replace `{{ws}}` by the workspace (no doubled `/`), then `$NAME`/`${NAME}` from env
    (env None: no `$` expansion at all, as for a shell script)."""
    s = s.replace("/" + WS, WS).replace(WS, ws)
    return s if env is None else expand_env(s, env)


def expand_ws_dot(s: str, ws: str, env: Mapping[str, str] | None) -> str:
    """Like expand_ws, but a value `.` or starting `./` (not `./...`) is under the workspace."""
    if not s:
        return s
    if s == ".":
        s = WS
    elif s.startswith("./") and not s.startswith("./..."):
        s = WS + "/" + s[2:]
    return expand_ws(s, ws, env)


def expand_value(s: str, ws: str, env: Mapping[str, str] | None) -> str:
    """Expand a task value; in a single `KEY=value` only the value part is expanded."""
    parts = s.split("=")
    if len(parts) == 2:
        return parts[0] + "=" + expand_ws_dot(parts[1], ws, env)
    return expand_ws_dot(s, ws, env)


def expand_script(s: str, ws: str) -> str:
    """A `shell` script as bash gets it: only `{{ws}}` and a leading `./` (floe's path
    notation) are applied; `$`, quotes and escapes are left to bash."""
    return expand_value(s, ws, None)


def merge_env(flow_env: Sequence[str], task_env: Sequence[str]) -> list[str]:
    """A task's env: the flow env followed by the task's own (appended, never replacing it)."""
    return [*flow_env, *task_env]


def env_mapping(entries: Sequence[str], base: Mapping[str, str]) -> dict[str, str]:
    """`base` overlaid by the `KEY=value` entries, later entries winning; others are skipped."""
    env = dict(base)
    for entry in entries:
        key, sep, value = entry.partition("=")
        if sep and key:
            env[key] = value
    return env


def expand_env(s: str, env: Mapping[str, str]) -> str:
    """`$NAME` and `${NAME}` replaced from env (unset ⇒ empty), with Go's `os.Expand` rules,
    except that `$$` is a literal `$` and a `$FLOE_IN_...` reference stays as written."""
    if "$" not in s:
        return s
    out: list[str] = []
    i = 0
    j = 0
    while j < len(s):
        if s[j] == "$" and j + 1 < len(s):
            out.append(s[i:j])
            if s[j + 1] == "$":
                out.append("$")
                j += 1
            else:
                name, width = _shell_name(s[j + 1:])
                if not name and width == 0:
                    out.append("$")  # `$` not followed by a name stays
                elif name.startswith(INPUT_PREFIX):
                    out.append(s[j:j + 1 + width])  # pushed data: a shell reads it, not us
                elif name:
                    out.append(env.get(name, ""))
                j += width
            i = j + 1
        j += 1
    out.append(s[i:])
    return "".join(out)


_SPECIAL = set("*#$@!?-0123456789")


def _is_name_char(c: str) -> bool:
    return c == "_" or (c.isascii() and c.isalnum())


def _shell_name(s: str) -> tuple[str, int]:
    # Returns the variable name and how many characters after `$` it used; an empty name
    # with a non-zero width is bad syntax whose characters are dropped, as Go does.
    if s[0] == "{":
        if len(s) > 2 and s[1] in _SPECIAL and s[2] == "}":
            return s[1], 3
        end = s.find("}", 1)
        if end == 1:
            return "", 2
        if end < 0:
            return "", 1
        return s[1:end], end + 1
    if s[0] in _SPECIAL:
        return s[0], 1
    n = 0
    while n < len(s) and _is_name_char(s[n]):
        n += 1
    return s[:n], n
