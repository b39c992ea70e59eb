"""`floe rerun FLOW RUN [--from NODE]`: re-run a run of a running engine, with the same
inputs or from one of its nodes (POST <base-url>/flows/:id/runs/:rid/rerun)."""

from __future__ import annotations

import typer

from ..application import APP, fail


def register(app: typer.Typer) -> None:
    @app.command()
    def rerun(
        flow: str = typer.Argument(..., help="flow id"),
        run: str = typer.Argument(..., help="run id, such as h1-3"),
        from_node: str = typer.Option("", "--from",
                                      help="re-run from this node; what comes before it is "
                                           "carried over"),
        url: str = typer.Option("http://127.0.0.1:8080/build/api", "--url", envvar="FLOE_URL",
                                help="the engine's API base URL"),
        token: str = typer.Option("", "--token", envvar="FLOE_TOKEN",
                                  help="the admin token (-admin) or a session token"),
    ) -> None:
        """Re-run a run on a running engine; prints the new run's id."""
        import httpx

        target = f"{url.rstrip('/')}/flows/{flow}/runs/{run}/rerun"
        try:
            r = httpx.post(target, json={"From": from_node} if from_node else {},
                           headers={"X-Floe-Auth": token} if token else {}, timeout=30)
        except httpx.HTTPError as e:
            fail(f"re-running {run}", f"cannot reach {url}: {e}")
        try:
            doc = r.json()
        except ValueError:
            doc = {}
        if r.status_code != 200:
            fail(f"re-running {run}", doc.get("Message") or f"HTTP {r.status_code}")
        APP.echo(str((doc.get("Payload") or {}).get("Run", "")))
