"""The host's download cache: one verified copy per URL, shared by fetch tasks and flow-files.

Files live at `<cache>/<hash of the URL>/<file name>`, so two URLs ending in the same name do
not collide. A download is written to `<name>.part` and renamed when complete; a `.part` left
by an interrupted download is resumed with a Range request when the server supports it. One
download per URL at a time: a thread lock in this process and, where the platform has it, an
flock on `<dir>/.lock` across processes; whoever waited then finds the file in the cache.
The code is synchronous (fetch runs it in a thread, flow-files are loaded in one).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .errors import DownloadError

ALGORITHMS = ("sha256", "sha1", "md5", "sha512")
_BY_LENGTH = {64: "sha256", 40: "sha1", 32: "md5", 128: "sha512"}
PROGRESS_EVERY = 0.3  # seconds between progress lines (floe-reference §7.2)
TIMEOUT = 30.0
CHUNK = 64 * 1024
_HEX = re.compile(r"[0-9a-fA-F]+\Z")
_DISPOSITION_NAME = re.compile(r'filename\*?=(?:UTF-8\'\')?"?([^";]+)"?', re.IGNORECASE)

Log = Callable[[str], None]

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


@dataclass(frozen=True)
class Checksum:
    algo: str
    hexdigest: str

    @classmethod
    def parse(cls, checksum: str, algo: str = "") -> Checksum:
        """From the opts: `hash` or the `hash  filename` of sha256sum; the algorithm from
        `checksum-algo`, else guessed from the digest's length. DownloadError when not hex."""
        value = checksum.strip().split(" ", 1)[0].strip()
        if not value or not _HEX.match(value) or len(value) % 2:
            raise DownloadError(f"Error decoding hex checksum: {checksum}")
        algo = (algo or _BY_LENGTH.get(len(value), "")).lower()
        if algo not in ALGORITHMS:
            raise DownloadError(f"unknown checksum-algo '{algo}': use one of "
                                f"{', '.join(ALGORITHMS)}")
        return cls(algo, value.lower())

    def of(self, path: Path) -> str:
        h = hashlib.new(self.algo)
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()


@dataclass(frozen=True)
class Fetched:
    path: Path  # the verified file in the cache
    digest: str = ""  # the verified checksum, "" without one


def cache_key_dir(cache_dir: Path, url: str) -> Path:
    return cache_dir / hashlib.sha256(url.encode()).hexdigest()[:16]


def file_name(url: str, disposition: str = "") -> str:
    match = _DISPOSITION_NAME.search(disposition)
    name = unquote(match.group(1)) if match else unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    # Only the last segment: a server must not place files outside the cache.
    name = Path(name.replace("\\", "/")).name
    return name if name not in ("", ".", "..") else "download"


def fetch(url: str, cache_dir: Path, *, checksum: Checksum | None = None,
          log: Log = lambda _: None, cancel: threading.Event | None = None,
          fresh: bool = False) -> Fetched:
    """The cached copy of `url`, downloaded (or resumed) unless the cache has a good one.

    With a checksum the cached file is verified on every use and a bad one downloaded again;
    without one, a cached file is reused while its size matches the server's (`fresh`: it is
    always downloaded again). DownloadError
    says why nothing usable was had; a file failing its checksum is deleted.
    """
    import httpx  # lazily: only fetches and web flow-files need it

    d = cache_key_dir(cache_dir, url)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _url_lock(d), httpx.Client(follow_redirects=True, timeout=TIMEOUT) as client:
        cached = _cached_file(d)
        if cached is not None and fresh:
            cached.unlink(missing_ok=True)
        elif cached is not None:
            hit = _reuse(client, url, cached, checksum, log)
            if hit is not None:
                return hit
        path = _download(client, url, d, log, cancel)
        digest = ""
        if checksum is not None:
            digest = checksum.of(path)
            if digest != checksum.hexdigest:
                path.unlink(missing_ok=True)
                raise DownloadError(f"checksum mismatch: {checksum.algo} of the download is "
                                    f"{digest}, not {checksum.hexdigest}; the file was deleted")
        return Fetched(path, digest)


def _reuse(client: object, url: str, cached: Path, checksum: Checksum | None,
           log: Log) -> Fetched | None:
    if checksum is not None:
        digest = checksum.of(cached)
        if digest == checksum.hexdigest:
            log(f"Using the cached {cached} ({checksum.algo} verified)")
            return Fetched(cached, digest)
        log(f"The cached {cached} fails its {checksum.algo} checksum: downloading it again")
        cached.unlink(missing_ok=True)
        return None
    import httpx

    try:
        r = client.head(url)  # type: ignore[attr-defined]
    except httpx.HTTPError:
        r = None
    size = r.headers.get("content-length") if r is not None and r.status_code < 300 else None
    if size is not None and size.isdigit() and int(size) == cached.stat().st_size:
        log(f"Using the cached {cached} (same size as the remote file)")
        return Fetched(cached)
    cached.unlink(missing_ok=True)
    return None


def _cached_file(d: Path) -> Path | None:
    for p in sorted(d.iterdir()):
        if p.is_file() and not p.name.startswith(".") and not p.name.endswith(".part"):
            return p
    return None


def _download(client: object, url: str, d: Path, log: Log,
              cancel: threading.Event | None) -> Path:
    import httpx

    log(f"Downloading {url}...")
    part = next((p for p in d.glob("*.part") if p.is_file()), None)
    offset = part.stat().st_size if part is not None else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    started = time.monotonic()
    try:
        with client.stream("GET", url, headers=headers) as r:  # type: ignore[attr-defined]
            # The standard phrase, not the server's wording ("File not found").
            status = f"{r.status_code} {httpx.codes.get_reason_phrase(r.status_code)}".strip()
            log(f"  {status}")
            if r.status_code == 416 and part is not None:  # the part is already whole
                size = offset
            elif r.status_code >= 300:
                raise DownloadError(f"server returned a non-2XX status code ({status})")
            name = file_name(url, r.headers.get("content-disposition", ""))
            target = d / name
            if part is None or part.name != name + ".part":
                if part is not None:
                    part.unlink(missing_ok=True)
                part, offset = d / (name + ".part"), 0
            if r.status_code == 206:
                log(f"  resuming at byte {offset}")
            elif r.status_code != 416:
                offset = 0  # the server sent the whole file
            if r.status_code != 416:
                length = r.headers.get("content-length")
                size = offset + int(length) if length and length.isdigit() else 0
                done = _write(r, part, offset, size, log, cancel)
                if size and done != size:
                    raise DownloadError(f"the server sent {done} of {size} bytes")
                size = done
    except httpx.HTTPError as e:
        raise DownloadError(_reason(e)) from None
    except OSError as e:
        raise DownloadError(e.strerror or str(e)) from None
    log(f"  {size} / {size} bytes (100.00%) in {time.monotonic() - started:.3f}s")
    part.replace(target)
    log(f"Download saved to {target}")
    return target


def _write(r: object, part: Path, offset: int, size: int, log: Log,
           cancel: threading.Event | None) -> int:
    done, last = offset, time.monotonic()
    with part.open("ab" if offset else "wb") as out:
        for chunk in r.iter_bytes(CHUNK):  # type: ignore[attr-defined]
            if cancel is not None and cancel.is_set():
                raise DownloadError("stopped")
            out.write(chunk)
            done += len(chunk)
            if time.monotonic() - last >= PROGRESS_EVERY:
                last = time.monotonic()
                pct = f" ({100 * done / size:.2f}%)" if size else ""
                log(f"  {done} / {size or '?'} bytes{pct}")
    return done


def _reason(e: Exception) -> str:
    import httpx

    text = str(e) or type(e).__name__
    if isinstance(e, httpx.ConnectError):
        return f"cannot connect: {text}"
    if isinstance(e, httpx.TimeoutException):
        return f"timed out: {text}"
    return text


@contextlib.contextmanager
def _url_lock(d: Path) -> Iterator[None]:
    with _locks_guard:
        lock = _locks.setdefault(str(d), threading.Lock())
    with lock:
        try:
            import fcntl
        except ImportError:  # Windows: the thread lock is all there is
            yield
            return
        with (d / ".lock").open("a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
