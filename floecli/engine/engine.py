"""An engine instance: config, store, registry and hub assembled, started and stopped."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import secrets
from .config.expand import expand_path
from .config.loader import load_app, parse_app
from .config.roots import default_root
from .contributions.registry import Registry
from .errors import ConfigError
from .events import EventQueue
from .flow import AppConfig
from .hub import Hub
from .notify import Notifier
from .retention import Pruner
from .store import make_store

log = logging.getLogger(__name__)

DEFAULT_CONFIGS = ("app.json", "config.yml", "default.yml")


@dataclass
class EngineOptions:
    conf: str = ""
    host_name: str = "h1"
    tags: tuple[str, ...] = ("master",)
    root: str = ""  # overrides common.workspace-root
    vendor: tuple[Path, ...] = ()
    builtin: bool = True  # False in an engine project: its vendor/ is the whole node set
    embedded_app: str = ""  # app document text frozen into a built binary
    project: str = ""  # the engine project it was started in ("" outside one)


def find_config(conf: str, cwd: Path | None = None) -> Path:
    cwd = cwd or Path.cwd()
    if conf:
        return cwd / conf
    for name in DEFAULT_CONFIGS:
        if (cwd / name).is_file():
            return cwd / name
    raise ConfigError(f"no config file: give -conf=FILE, or put one of "
                      f"{', '.join(DEFAULT_CONFIGS)} in {cwd}")


def load_engine_config(opts: EngineOptions, registry: Registry) -> AppConfig:
    if opts.embedded_app and not opts.conf:
        return parse_app(opts.embedded_app, "<embedded app.json>", registry.catalog())
    return load_app(find_config(opts.conf), registry.catalog())


class Engine:
    """start() → the hub routes events; stop() → runs in flight recorded, store closed."""

    def __init__(self, opts: EngineOptions, *, registry: Registry | None = None,
                 config: AppConfig | None = None) -> None:
        self.opts = opts
        self.registry = registry or Registry.discover(opts.vendor, builtin=opts.builtin)
        self.config = config or load_engine_config(opts, self.registry)
        common = self.config.common
        try:
            raw_root = opts.root or default_root(common.workspace_root, opts.host_name,
                                                 opts.project)
            raw_store = opts.root or (default_root(common.store_root, opts.host_name,
                                                   opts.project)
                                      if common.store_root else raw_root)
            root = expand_path(raw_root)
            # `%tmp` makes a fresh dir at each expansion: the same setting is one directory.
            store_root = root if raw_store == raw_root else expand_path(raw_store)
        except ValueError as e:
            raise ConfigError(f"common.workspace-root: {e}") from None
        self.workspace_root = Path(root).resolve()
        self.store = make_store(common.store_type, Path(store_root).resolve(),
                                url=common.store_url, host=opts.host_name, tags=opts.tags,
                                timing=common.cluster)
        self.queue = EventQueue()
        base_dir = Path(self.config.source).parent if not self.config.source.startswith(
            "<") and self.config.source else None
        self.secrets = secrets.load(common.secrets_file, base_dir,
                                    [n for f in self.config.flows for n in f.secrets])
        secrets.install(self.secrets)
        self.hub = Hub(self.config, self.store, self.registry, secrets=self.secrets,
                       workspace_root=self.workspace_root, host_id=opts.host_name,
                       tags=opts.tags, queue=self.queue,
                       cache_dir=Path(store_root).resolve() / "fetch-cache",
                       spawn_journal=self.store.journal_path("spawned"))
        self.notifier = Notifier(self.hub)
        self.pruner = Pruner(self.hub)

    async def start(self) -> None:
        for problem in self.config.warnings:
            # Every warning at start: a dead listen tag must not pass unseen (issue 22).
            log.warning("%s", problem)
        await self.hub.start()
        self.notifier.start()
        self.pruner.start()
        log.info("engine %s started: %d flows, workspace root %s", self.opts.host_name,
                 len(self.config.flows), self.workspace_root)

    async def stop(self) -> None:
        await self.pruner.stop()
        await self.notifier.stop()  # what ended before the stop is still sent, briefly
        await self.hub.stop()


def split_tags(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def options_from(conf: str = "", host_name: str = "h1", tags: str = "master", root: str = "",
                 vendor: Sequence[Path] = ()) -> EngineOptions:
    return EngineOptions(conf=conf, host_name=host_name, tags=split_tags(tags), root=root,
                         vendor=tuple(vendor))
