"""`floe build [-e] [-o] [--target OS_ARCH] [--format zipapp|native] [-f APP]`: one binary."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..application import APP, fail, is_verbose, usage_error

if TYPE_CHECKING:
    from floecli.project.build import BuildOptions, BuildResult
    from floecli.project.layout import EngineProject


def register(app: typer.Typer) -> None:
    @app.command()
    def build(
        ctx: typer.Context,
        embed: bool = typer.Option(False, "-e", "--embed", help="embed app.json in the binary"),
        optimize: bool = typer.Option(
            False, "-o", "--optimize", help="leave out contributions no flow uses"),
        target: str = typer.Option(
            "", "--target", metavar="OS_ARCH",
            help="linux_amd64, linux_arm64, darwin_amd64, darwin_arm64, windows_amd64, "
                 "windows_arm64 (default: GOOS/GOARCH from the environment, else this "
                 "machine; with either, output goes to bin/OS_ARCH/)"),
        fmt: str = typer.Option("zipapp", "--format", help="zipapp (any target) or native "
                                "(a PyInstaller executable for this machine)"),
        python_version: str = typer.Option(
            "", "--python-version", metavar="X.Y",
            help="Python the binary will run on (default: this one)"),
        file: str = typer.Option(
            "", "-f", "--file", metavar="FILE|URL",
            help="build this app document outside any project; the binary lands in ./"),
        no_verify: bool = typer.Option(False, "--no-verify",
                                       help="pack vendor/ as it is, unchecked against "
                                            "floe.lock"),
        verbose: bool = typer.Option(False, "--verbose", help="show pip and builder output"),
    ) -> None:
        """Build bin/<project> (or bin/<os>_<arch>/<project>): a self-contained engine binary
        that needs only a Python interpreter."""
        from floecli.project.build import (
            BuildOptions,
            check_format,
            check_options,
            check_python_version,
        )
        from floecli.project.targets import parse_target, target_from_env

        try:
            check_format(fmt)
            # --target wins over GOOS/GOARCH, which flogo-web passes in the environment
            chosen = parse_target(target) if target else target_from_env()
            opts = BuildOptions(embed=embed, optimize=optimize, format=fmt, target=chosen,
                                verify=not no_verify)
            if python_version:
                opts.python_version = check_python_version(python_version)
            check_options(opts)
        except ValueError as e:  # flags that cannot build: nothing was done
            fail("building project", usage_error("build", str(e)))
        if no_verify:
            APP.note("--no-verify: vendor/ is not checked against floe.lock; it is packed as "
                     "it is")
        loud = is_verbose(ctx, verbose)
        if file:
            _build_file(file, opts, loud)
        else:
            _build_here(opts, loud)


def _build_here(opts: BuildOptions, verbose: bool) -> None:
    from floecli.engine.errors import FloeError
    from floecli.project.layout import EngineProject

    try:
        project = EngineProject.open(Path.cwd())
    except FloeError as e:
        fail("validating project", e)
    try:
        result = _build_with_progress(project, opts, verbose)
    except FloeError as e:
        fail("building project", e)
    _report(result.output.relative_to(project.root), result.size, result.sha256)


def _build_file(file: str, opts: BuildOptions, verbose: bool) -> None:
    """flogo's `build -f`: a throw-away project made from the app document, built, and its
    binary moved to ./<name>."""
    import shutil
    import tempfile

    from floecli.engine.errors import FloeError
    from floecli.project.create import create_project, load_app_source, project_name
    from floecli.project.runtime import requested_version

    with tempfile.TemporaryDirectory(prefix="floe-build-") as tmp:
        try:
            source = load_app_source(file)
            created = create_project(Path(tmp), project_name(None, source.doc), source,
                                     requested_version(None))
        except FloeError as e:
            fail("creating temp project", e)
        try:
            result = _build_with_progress(created.project, opts, verbose)
        except FloeError as e:
            fail("building temp project", e)
        dest = Path.cwd() / result.output.name
        try:
            shutil.move(result.output, dest)
        except OSError as e:
            from floecli.project.errors import BuildError, os_failure

            fail("building temp project", os_failure(e, "moving the binary here", BuildError))
    _report(Path(dest.name), result.size, result.sha256)


def _build_with_progress(project: EngineProject, opts: BuildOptions, verbose: bool,
                         ) -> BuildResult:
    from floecli.project.build import build

    from ..progress import Progress

    with Progress(verbose=verbose) as progress:
        result = build(project, opts, step=progress.step, echo=progress.echo_or_none,
                       notify=progress.echo)
        for note in result.notes:
            progress.echo(f"note: {note}")
        for removed in result.removed:
            kind, _, name = removed.partition(" ")
            progress.result(f"Removing unused {kind}: {name}")
    return result


def _report(output: Path, size: int, sha256: str) -> None:
    APP.echo(f"Built {output} ({size / 1e6:.1f} MB, sha256 {sha256[:16]})")
