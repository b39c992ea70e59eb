"""One node's log with a cap, so a chatty task cannot take the engine down.

Up to `common.log-lines` lines (and LOG_BYTES bytes) of a node go everywhere: an event for
watchers, the run's record in memory, the run store. Past the cap a marker line says where
the rest goes, and the rest goes to a file on disk, written as it comes, while the run's
record counts the lines (the run view shows that count as the truncation mark). Watchers
still see every line, as one `sys.node.update` per chunk read (`update`: the lines joined by
newlines, `lines`: how many), so the cost no longer grows with the number of lines.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from ..runs import ExecNode

log = logging.getLogger(__name__)

LOG_BYTES = 8 * 1024 * 1024  # per node, beside the line cap: lines may be 64 KiB each
LINE_BYTES = 64 * 1024  # of one line past the cap, what watchers are shown


class NodeLog:
    """The sink a node's output lines go to (see process.read_lines)."""

    def __init__(self, rec: ExecNode, *, cap: int, file: Callable[[], Path],
                 emit: Callable[[str, int], None], store: Callable[[str], None]) -> None:
        self._rec = rec
        self._cap = cap
        self._file_path = file  # made only past the cap: most nodes never get there
        self._emit = emit  # the sys.node.update event: text, and how many lines it holds
        self._store = store  # the line in the run store
        self._lines = len(rec.logs)
        self._bytes = sum(len(line) for line in rec.logs)
        self._file: BinaryIO | None = None
        self._partial = b""  # past the cap: the start of a line whose end is still to come

    @functools.cached_property
    def _path(self) -> Path:
        return self._file_path()

    @property
    def accepting(self) -> bool:
        """Whether lines are still wanted one by one (else raw chunks go to the file)."""
        return not self._rec.log_file

    def line(self, text: str) -> None:
        if self.accepting and text and (self._lines >= self._cap
                                        or self._bytes + len(text) > LOG_BYTES):
            self._spill_from_here()
        if not self.accepting:
            self.raw(text.encode("utf-8", "replace") + b"\n")
            return
        self._emit(text, 1)
        if not text:
            return  # blank lines are framing: shown live, not kept (as the reference)
        self._lines += 1
        self._bytes += len(text)
        self._rec.logs.append(text)
        self._store(text)

    def raw(self, data: bytes) -> None:
        """Output past the cap: straight to the file, counted by newlines, and shown to
        watchers as one event of its complete lines."""
        self._show(data)
        if self._file is None:
            try:
                self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                self._file = self._path.open("ab", buffering=1024 * 1024)
            except OSError as e:
                log.warning("node log file %s: %s: output past the cap is dropped",
                            self._path, e)
                self._rec.spilled += data.count(b"\n")
                return
        try:
            self._file.write(data)
        except OSError as e:
            log.warning("node log file %s: %s", self._path, e)
        self._rec.spilled += data.count(b"\n")

    def _show(self, data: bytes) -> None:
        data, self._partial = self._partial + data, b""
        end = data.rfind(b"\n")
        if end < 0:
            # a line with no end in sight: watchers get its first LINE_BYTES (the file has
            # it all), and memory holds no more than that
            self._partial = data[:LINE_BYTES]
            return
        self._partial = data[end + 1:]
        lines = data[:end]
        self._emit(lines.decode("utf-8", "replace"), lines.count(b"\n") + 1)

    def close(self) -> None:
        if self._partial:
            self._emit(self._partial.decode("utf-8", "replace"), 1)
            self._partial = b""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None

    def _spill_from_here(self) -> None:
        self._rec.log_file = str(self._path)
        mark = (f"[log cap reached ({self._cap} lines or {LOG_BYTES // (1024 * 1024)} MiB): "
                f"the rest of this output is in {self._path}]")
        self._emit(mark, 1)
        self._rec.logs.append(mark)
        self._store(mark)
