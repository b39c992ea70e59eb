"""The engine's own command line: Go-style seed flags (floe-reference §6.9), run until a signal."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import logging.handlers
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from . import eventloop, platform
from .engine import Engine, options_from
from .errors import ConfigError, FloeError, ListenError, UsageError, report
from .events import SYS_END_ALL, Event, FlowRef
from .secrets import mask

log = logging.getLogger("floe")

# Not the original's ":443": that needs root and listens on every interface. A deliberate
# change (docs/cli.md): an engine started with environment only, as a design-time server
# starts a built binary, must come up as an ordinary user and expose nothing by default.
DEFAULT_PUB_BIND = "127.0.0.1:8080"
VERSION_FLAGS = ("-version", "--version", "-V")  # and `-v` on its own (flogo's spelling)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # bad flags exit 2 with the reason, as Go's flag package does; main() prints it
        raise UsageError(message, hint=f"run '{self.prog} -help' for the engine's flags")


def program_name() -> str:
    """How the user started the engine, for the hint naming its help: `floe` (its seed
    flags, or `floe run`), a built binary's name, or `python -m floecli.engine`."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    if not name or name == "__main__.py":
        return "python -m floecli.engine"
    return name


def build_parser(prog: str = "floe") -> argparse.ArgumentParser:
    p = _Parser(prog=prog, description="Run a floe engine host.", allow_abbrev=False)
    add = p.add_argument
    add("-conf", default="", help="config file (default: ./app.json, ./config.yml, ./default.yml)")
    add("-host_name", default="h1", help="this host's id, used in run ids (default h1)")
    add("-admin", default="", help="admin token: API bearer and the secret shared by hosts "
        "(visible in ps: prefer -admin_file or FLOE_ADMIN)")
    add("-admin_file", default="", help="read the admin token from this file")
    add("-origins", default="", help="comma-separated browser origins, besides the engine's "
        "own, whose pages may use a session cookie to write (e.g. https://dash.example)")
    add("-tags", default="master", help="comma-separated host tags (default master)")
    # None tells "not given": a headless -once run only listens when asked to.
    add("-pub_bind", default=None, help=f"public listen address (default {DEFAULT_PUB_BIND})")
    add("-pub_cert", default="", help="TLS certificate for the public listener")
    add("-pub_key", default="", help="TLS key for the public listener")
    add("-prv_bind", default="", help="optional private listen address")
    add("-prv_cert", default="", help="TLS certificate for the private listener")
    add("-prv_key", default="", help="TLS key for the private listener")
    add("-dev", action="store_true", help="serve the web app (/app, /static) from ./webapp "
        "instead of the packaged dashboard")
    add("-root", default="", help="workspace and store root (overrides common.workspace-root)")
    add("-tester_port", default="", help="port (or host:port, default host 127.0.0.1) of the "
        "flow tester listener; also TESTER_ENABLED=true with TESTER_PORT")
    add("-start", default="", metavar="FLOW",
        help="start a run of FLOW through its data trigger once the engine is up")
    add("-once", action="store_true", help="with -start: exit when that run ends (status 0 if "
        "good, 1 if bad)")
    add("-events", action="store_true", help="print every event as a JSON line on stdout")
    add("-vendor", action="append", default=[], help=argparse.SUPPRESS)
    # for tests and tools: the bound ports as JSON, {"pub": N, "prv": N, "tester": N}
    add("-port_file", default="", help=argparse.SUPPRESS)
    add("-header_timeout", type=float, default=None, help=argparse.SUPPRESS)
    add("-body_timeout", type=float, default=None, help=argparse.SUPPRESS)
    add("-event_loop", default="auto", choices=eventloop.CHOICES,
        help="the event loop: uvloop when installed (auto), or asyncio's own")
    add("-verbose", "-v", dest="verbose", action="store_true", help="debug logging (also "
        "FLOE_LOG_LEVEL=DEBUG); -v alone prints the version, as flogo's -v does")
    add("-version", "--version", dest="version", action="store_true",
        help="print the version and exit")
    add("-log_file", default="", help="append the engine's log to this file (reopened when "
        "logrotate moves it) instead of stderr")
    return p


def main(argv: Sequence[str] | None = None, *, embedded_app: str = "",
         vendor: Sequence[Path] = (), builtin: bool = True, project: str = "") -> int:
    """Run the engine. A built binary or an engine project passes its `vendor` directories with
    `builtin=False`, so only the contributions it ships are known; `embedded_app` is the app
    document text frozen in by `floe build -e`; `project` names the engine project it runs
    in, which keeps its default store apart from other projects'."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["-v"] or (argv[:1] and argv[0] in VERSION_FLAGS):
        argv = ["-version"]
    parser = build_parser(program_name())
    try:
        args = parser.parse_args(argv)
    except UsageError as e:
        return report("parsing flags", e)
    if args.version:
        from floecli import __version__

        print(f"floe version {__version__}")
        return 0
    if args.once and not args.start:
        # Nothing would ever end the engine: a usage error, not a run forever (issue 22).
        return report("parsing flags", UsageError(
            "-once needs -start=FLOW", hint="-once waits for the run -start begins, e.g. "
            "floe run -start=build -once"))
    try:
        handler = (logging.handlers.WatchedFileHandler(args.log_file, encoding="utf-8")
                   if args.log_file else logging.StreamHandler(sys.stderr))
    except OSError as e:
        return report("parsing flags", UsageError(
            f"-log_file {args.log_file}: {e.strerror or e}",
            hint="give -log_file a file in a directory that exists and this user can write"))
    logging.basicConfig(level=logging.DEBUG if args.verbose else _log_level(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        handlers=[handler])
    from .server.connguard import GuardedH11Protocol

    # before any socket: connections, pipes and the store share the limit
    platform.raise_open_file_limit()
    if args.header_timeout:
        GuardedH11Protocol.header_timeout = args.header_timeout
    if args.body_timeout:
        GuardedH11Protocol.body_timeout = args.body_timeout
    opts = options_from(args.conf, args.host_name, args.tags, args.root,
                        [*vendor, *map(Path, args.vendor)])
    opts.embedded_app = embedded_app
    opts.builtin = builtin
    opts.project = project
    try:
        return eventloop.run(_serve(args, opts), args.event_loop)
    except FloeError as e:
        # a config error (exit 2) lists every problem with its file and line; a ListenError,
        # an address from the flags, exits 2; the others 1
        return report("loading config" if isinstance(e, ConfigError) else "starting engine", e)
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # a bug: one line and FLOE_DEBUG for the traceback
        return report("running engine", e)


ADMIN_FILE_HINT = "give -admin_file a readable file whose first line is the admin token"


def admin_token(args: argparse.Namespace) -> str:
    """-admin, else the first line of -admin_file, else $FLOE_ADMIN: the last two keep the
    token out of the process list."""
    if args.admin:
        return str(args.admin)
    if args.admin_file:
        try:
            lines = Path(args.admin_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"-admin_file {args.admin_file}: {e}",
                              hint=ADMIN_FILE_HINT) from None
        token = lines[0].strip() if lines else ""
        if not token:
            raise ConfigError(f"-admin_file {args.admin_file}: the file is empty",
                              hint=ADMIN_FILE_HINT)
        return token
    return os.environ.get("FLOE_ADMIN", "").strip()


def _log_level() -> int:
    """FLOE_LOG_LEVEL, else flogo's FLOGO_LOG_LEVEL (TRACE|DEBUG|INFO|WARN|ERROR), default
    INFO."""
    name = (os.environ.get("FLOE_LOG_LEVEL", "").strip()
            or os.environ.get("FLOGO_LOG_LEVEL", "").strip()).upper()
    return {"TRACE": logging.DEBUG, "DEBUG": logging.DEBUG, "WARN": logging.WARNING,
            "WARNING": logging.WARNING, "ERROR": logging.ERROR}.get(name, logging.INFO)


def tester_bind(args: argparse.Namespace) -> str:
    """-tester_port, else TESTER_PORT when TESTER_ENABLED=true; loopback unless a host is
    given, because the tester runs whatever flow it is posted and has no login."""
    port = args.tester_port
    if not port and os.environ.get("TESTER_ENABLED", "").strip().lower() in ("true", "1"):
        port = os.environ.get("TESTER_PORT", "").strip()
        if not port:
            raise ListenError("TESTER_ENABLED is set but TESTER_PORT is not",
                              hint="set TESTER_PORT to the tester's port (or pass "
                                   "-tester_port=PORT)")
    if port and ":" not in port:
        port = f"127.0.0.1:{port}"
    if port and os.environ.get("TESTER_SR_SERVER", "").strip():
        # flogo-web passes its state recorder's address; the tester's reply carries every
        # node's state itself, so there is nothing to record to: accepted, unused.
        log.debug("TESTER_SR_SERVER=%s is accepted and not used (floe has no state recorder)",
                  os.environ["TESTER_SR_SERVER"].strip())
    return port


ONCE_LOG_LINES = 20


def once_report(record: object, run_id: str, lines: int = ONCE_LOG_LINES) -> list[str]:
    """What `-once` prints when its run ends: the result and, when it failed, the node that
    failed with its last log lines."""
    from .hub.state import REASON_ENDED_WITH_RUN
    from .runs import RunRecord

    if not isinstance(record, RunRecord):
        return [f"run {run_id}: not found when it ended"]
    result = "good" if record.good else "bad"
    reason = f" ({record.reason})" if record.reason else ""
    out = [f"run {run_id} of flow {record.flow.id}: {result}{reason}"]
    if record.good:
        return out
    failed = [(nid, n) for nid, n in record.exec_nodes.items() if n.stopped and not n.good]
    # Tasks still running when the run ended are killed after the failure that ended it:
    # they are not what failed.
    failed = [f for f in failed if f[1].reason != REASON_ENDED_WITH_RUN] or failed
    if not failed:
        return out
    # the last node to fail: the one whose failure ended the run
    node_id, node = max(failed, key=lambda item: item[1].stopped.timestamp()
                        if item[1].stopped else 0.0)
    why = f"exit status {node.status}" if node.status is not None else "no exit status"
    if node.reason:
        why += f", {node.reason}"
    out.append(f"failed node: {node_id} ({why})")
    tail = node.logs[-lines:]
    if tail:
        out.append(f"last {len(tail)} log lines of {node_id}:")
        out.extend(f"  {line}" for line in tail)
    if node.log_file:
        out.append(f"  (the rest of its log is in {node.log_file})")
    return out


async def _serve(args: argparse.Namespace, opts: object) -> int:
    from .server.service import Service

    engine = Engine(opts)  # type: ignore[arg-type]
    pub_bind = args.pub_bind
    if pub_bind is None and not args.once:
        pub_bind = DEFAULT_PUB_BIND
    service = Service(engine, admin_token=admin_token(args), pub_bind=pub_bind or "",
                      origins=[o for o in args.origins.split(",") if o.strip()],
                      pub_cert=args.pub_cert, pub_key=args.pub_key, prv_bind=args.prv_bind,
                      prv_cert=args.prv_cert, prv_key=args.prv_key,
                      tester_bind=tester_bind(args), dev=args.dev)
    service.open()  # binds every address before any run starts: ListenError → exit 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    log.debug("event loop: %s", eventloop.loop_name(loop))
    platform.on_stop_signals(loop, stop.set)
    result: dict[str, bool] = {}
    watched: set[str] = set()

    def observe(event: Event) -> None:
        if args.events:
            print(mask(json.dumps(event.to_json())), flush=True)
        if args.once and event.tag == SYS_END_ALL and event.run_ref.run_id in watched:
            result["good"] = event.good
            stop.set()

    engine.queue.subscribe(observe)
    await engine.start()
    try:
        await service.start()
    except BaseException:
        await service.stop()
        await engine.stop()
        raise
    for line in service.urls():
        print(line, file=sys.stderr, flush=True)
    if args.port_file:
        Path(args.port_file).write_text(json.dumps(service.ports()))
    started_flow = ""
    if args.start:
        flow = engine.config.latest_flow(args.start)
        if flow is None:
            await service.stop()
            await engine.stop()
            raise ConfigError(f"-start: no flow {args.start!r} in {engine.config.source}",
                              hint="give -start the id of one of the app document's flows")
        started = await engine.hub.submit(FlowRef(flow.id, flow.ver))
        if not started:
            await service.stop()
            await engine.stop()
            raise ConfigError(f"-start: flow {args.start!r} has no data trigger to start it",
                              hint="add a trigger of type data to the flow, or start another "
                                   "flow")
        watched.update(started)
        started_flow = flow.id
    await stop.wait()
    if args.once:
        for run_id in sorted(watched):
            record = await engine.hub.find_run(started_flow, run_id)
            for line in once_report(record, run_id):
                print(line, file=sys.stderr, flush=True)
    # Listeners first, so no request starts work the engine is about to stop.
    await service.stop()
    await engine.stop()
    if args.once:
        return 0 if result.get("good") else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
