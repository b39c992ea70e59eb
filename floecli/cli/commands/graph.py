"""`floe graph [FLOW]`: a flow's graph as Mermaid (default) or DOT, laid out as the dashboard
draws it (floecli/engine/graph.py)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..application import APP, fail, usage_error

FORMATS = ("mermaid", "dot")


def register(app: typer.Typer) -> None:
    @app.command()
    def graph(
        flow: str = typer.Argument("", help="flow id (default: every flow of the app)"),
        file: Path | None = typer.Option(
            None, "--file", "-f",
            help="app document, or an engine project directory (default: the current "
                 "directory's app.json, config.yml or default.yml)"),
        fmt: str = typer.Option("mermaid", "--format", help="mermaid or dot"),
    ) -> None:
        """Print a flow's graph as Mermaid or Graphviz DOT text."""
        from floecli.engine import graph as layout
        from floecli.engine.engine import find_config
        from floecli.engine.errors import ConfigError
        from floecli.project.validation import read_text, require_valid

        if fmt not in FORMATS:
            fail("drawing graph", usage_error(
                "graph", f"--format {fmt!r}: use one of {', '.join(FORMATS)}"))
        try:
            if file is not None and file.is_dir():
                path = find_config("", file)
            else:
                path = file or find_config("")
            config = require_valid(read_text(path), str(path))
        except ConfigError as e:
            fail("drawing graph", e)
        flows = [f for f in (config.latest_flow(i) for i in dict.fromkeys(
            f.id for f in config.flows)) if f is not None]
        if flow:
            flows = [f for f in flows if f.id == flow]
            if not flows:
                known = ", ".join(dict.fromkeys(f.id for f in config.flows)) or "none"
                fail("drawing graph", f"{path} has no flow {flow!r} (flows: {known})",
                     hint="name one of its flows, or leave FLOW out to draw them all")
        draw = layout.dot if fmt == "dot" else layout.mermaid
        APP.out.write("\n".join(draw(f) for f in flows))
        APP.out.flush()
