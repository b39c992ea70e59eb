"""Secrets from a file outside the app document, given to the flows that name them and masked
as `***` on every output path.

`common.secrets-file` (or `FLOE_SECRETS_FILE`) holds `KEY=value` lines or a YAML mapping. A
flow lists the names it uses (`secrets: [DEPLOY_TOKEN]`); its tasks get them as environment
variables. The values never enter a run record, the app document or a built binary.

Masking has one process-wide masker, installed by the engine: node log lines are masked as
they are produced (hub/masked.py, before any watcher, the run record or the store sees them),
and the API's JSON replies, the websocket's events, `-events` and the engine's own log are
masked as they are written. Each line of a multi-line secret is masked on its own too, as is
its JSON-escaped form.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError

log = logging.getLogger(__name__)

ENV_VAR = "FLOE_SECRETS_FILE"
MASK = "***"
MIN_LENGTH = 3  # shorter values (a line `}` of a PEM, `1`) would mask half of every log
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LINE = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)")


@dataclass(frozen=True)
class Secrets:
    """The secrets of one engine: their values by name, and the pattern that masks them."""

    values: Mapping[str, str] = field(default_factory=dict)
    source: str = ""
    _pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, values: Mapping[str, str], source: str = "") -> Secrets:
        return cls(dict(values), source, _pattern_for(values.values()))

    def env(self, names: Iterable[str]) -> dict[str, str]:
        """The named secrets as environment variables (a name the file lacks is skipped; the
        engine warned about it at start)."""
        return {n: self.values[n] for n in names if n in self.values}

    def mask(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)

    def mask_bytes(self, data: bytes) -> bytes:
        if self._pattern is None or not data:
            return data
        return self.mask(data.decode("utf-8", "surrogateescape")).encode(
            "utf-8", "surrogateescape")


NO_SECRETS = Secrets()
_installed: Secrets = NO_SECRETS


def _pattern_for(values: Iterable[str]) -> re.Pattern[str] | None:
    forms: set[str] = set()
    for value in values:
        for form in (value, *value.splitlines()):
            form = form.strip("\r\n")
            for f in (form, form.strip()):
                if len(f) >= MIN_LENGTH:
                    forms.add(f)
                    escaped = json.dumps(f)[1:-1]  # as it appears inside JSON text
                    if escaped != f:
                        forms.add(escaped)
    if not forms:
        return None
    # Longest first: a secret that contains another is masked whole.
    return re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)))


HINT = "fix the secrets file: KEY=value lines, or a YAML mapping of names to strings"
_QUOTED = re.compile(r"'([^']*)'")


def _yaml_problem(e: Exception) -> str:
    """What is wrong and where, without the file's text: PyYAML's own message quotes the
    lines around the error, secret values and all (and a problem may quote a token)."""
    problem = str(getattr(e, "problem", "") or "not YAML")
    # '<scalar>', ':' or '\t' say what YAML met; anything longer may be part of a value
    problem = _QUOTED.sub(lambda m: m.group(0) if m.group(1).startswith("<") or
                          len(m.group(1)) <= 2 else "'...'", problem)
    mark = getattr(e, "problem_mark", None)
    if mark is not None:
        problem += f" (line {mark.line + 1}, column {mark.column + 1})"
    return problem


def parse(text: str, source: str = "<secrets>") -> dict[str, str]:
    """`KEY=value` lines (blank lines and `#` comments allowed, a value may be quoted), or a
    YAML mapping of names to strings (for multi-line values)."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if lines and all(_LINE.fullmatch(ln) for ln in lines):
        out = {}
        for ln in lines:
            m = _LINE.fullmatch(ln)
            assert m is not None
            value = m.group(2).strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            out[m.group(1)] = value
        return out
    import yaml

    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as e:
        raise ConfigError(f"secrets file {source}: neither KEY=value lines nor YAML: "
                          f"{_yaml_problem(e)}", hint=HINT) from None
    if not isinstance(data, dict):
        raise ConfigError(f"secrets file {source}: expected KEY=value lines or a YAML mapping",
                          hint=HINT)
    out = {}
    for key, value in data.items():
        if not isinstance(key, str) or not _NAME.fullmatch(key):
            raise ConfigError(f"secrets file {source}: {key!r} is not a secret name", hint=HINT)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ConfigError(f"secrets file {source}: {key} is not a string", hint=HINT)
        out[key] = str(value)
    return out


def secrets_path(setting: str, base_dir: Path | None) -> Path | None:
    """common.secrets-file (relative to the app document), else $FLOE_SECRETS_FILE."""
    raw = setting or os.environ.get(ENV_VAR, "")
    if not raw:
        return None
    path = Path(os.path.expanduser(raw))
    if not path.is_absolute() and setting and base_dir is not None:
        path = base_dir / path
    return path


def load(setting: str, base_dir: Path | None, wanted: Iterable[str] = ()) -> Secrets:
    """The secrets of an engine; ConfigError when the file is named but unreadable."""
    path = secrets_path(setting, base_dir)
    wanted = sorted(set(wanted))
    if path is None:
        if wanted:
            log.warning("flows name secrets (%s) but no secrets file is set (common."
                        "secrets-file or %s)", ", ".join(wanted), ENV_VAR)
        return NO_SECRETS
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read the secrets file {path}: {e}") from None
    if os.name == "posix" and path.stat().st_mode & 0o077:
        log.warning("secrets file %s can be read by other users: chmod 600 it", path)
    values = parse(text, str(path))
    missing = [n for n in wanted if n not in values]
    if missing:
        log.warning("secrets file %s has no %s", path, ", ".join(missing))
    short = [n for n, v in values.items() if len(v.strip()) < MIN_LENGTH]
    if short:
        log.warning("secrets %s are shorter than %d characters and are not masked",
                    ", ".join(short), MIN_LENGTH)
    return Secrets.of(values, str(path))


def install(secrets: Secrets) -> None:
    """Make `secrets` the process's masker (the engine does, at start)."""
    global _installed
    _installed = secrets
    if secrets is not NO_SECRETS:
        for handler in logging.getLogger().handlers:
            if not any(isinstance(f, _LogMask) for f in handler.filters):
                handler.addFilter(_LogMask())


def installed() -> Secrets:
    return _installed


def mask(text: str) -> str:
    """`text` with every installed secret replaced by `***`."""
    return _installed.mask(text)


class _LogMask(logging.Filter):
    """The engine's own log: an error message quoting a secret shows `***`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _installed is not NO_SECRETS:
            message = record.getMessage()
            masked = _installed.mask(message)
            if masked != message:
                record.msg, record.args = masked, None
        return True
