"""`floe build [-e] [-o] [--target OS_ARCH] [--format zipapp|native]`: the project as one binary."""

from __future__ import annotations

from pathlib import Path

import typer

from ..output import EXIT_INVALID, fail


def register(app: typer.Typer) -> None:
    @app.command()
    def build(
        embed: bool = typer.Option(False, "-e", "--embed", help="embed app.json in the binary"),
        optimize: bool = typer.Option(
            False, "-o", "--optimize", help="leave out contributions no flow uses"),
        target: str = typer.Option(
            "", "--target", metavar="OS_ARCH",
            help="linux_amd64, linux_arm64, darwin_amd64, darwin_arm64, windows_amd64, "
                 "windows_arm64 (default: this machine; output then goes to bin/OS_ARCH/)"),
        fmt: str = typer.Option("zipapp", "--format", help="zipapp (any target) or native "
                                "(a PyInstaller executable for this machine)"),
        python_version: str = typer.Option(
            "", "--python-version", metavar="X.Y",
            help="Python the binary will run on (default: this one)"),
        verbose: bool = typer.Option(False, "--verbose", help="show pip and builder output"),
    ) -> None:
        """Build bin/<project> (or bin/<os>_<arch>/<project>): a self-contained engine binary
        that needs only a Python interpreter."""
        from floecli.engine.errors import FloeError
        from floecli.project.build import FORMATS, BuildOptions, build
        from floecli.project.errors import BuildError
        from floecli.project.layout import EngineProject
        from floecli.project.targets import parse_target

        try:
            project = EngineProject.open(Path.cwd())
        except FloeError as e:
            fail("validating project", e)
        if fmt not in FORMATS:
            fail("building project", f"unknown format {fmt!r}: use {' or '.join(FORMATS)}",
                 EXIT_INVALID)
        try:
            opts = BuildOptions(embed=embed, optimize=optimize, format=fmt, verbose=verbose,
                                target=parse_target(target) if target else None)
        except ValueError as e:
            fail("building project", e, EXIT_INVALID)
        if python_version:
            opts.python_version = python_version
        try:
            result = build(project, opts, progress=typer.echo)
        except BuildError as e:
            fail("building project", e)
        rel = result.output.relative_to(project.root)
        typer.echo(f"Built {rel} ({result.size / 1e6:.1f} MB, sha256 {result.sha256[:16]})")
