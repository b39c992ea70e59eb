"""The host's download cache, for contributions (the fetch task): floecli.engine.download."""

from ..download import ALGORITHMS, Checksum, Fetched, fetch
from ..errors import DownloadError

__all__ = ["ALGORITHMS", "Checksum", "DownloadError", "Fetched", "fetch"]
