"""`floe rerun FLOW RUN [--from NODE]`: re-run a run of a running engine, with the same
inputs or from one of its nodes (POST <base-url>/flows/:id/runs/:rid/rerun)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from ..application import APP, fail

if TYPE_CHECKING:
    import httpx


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
            fail(f"re-running {run}", f"cannot reach {url}: {e}",
                 hint="start the engine, or give its API base URL with --url (or FLOE_URL)")
        reply = _envelope(r)
        if r.status_code != 200:
            fail(f"re-running {run}", str(reply.get("Message") or f"HTTP {r.status_code}"),
                 hint=_HINTS.get(r.status_code))
        payload = reply.get("Payload")
        new_run = payload.get("Run") if isinstance(payload, dict) else None
        if not new_run:
            # a 200 from something that is not a floe engine (a proxy, another API)
            fail(f"re-running {run}", f"{target} did not answer as a floe engine does",
                 hint="give --url the engine's API base URL, such as "
                      "http://127.0.0.1:8080/build/api")
        APP.echo(str(new_run))


# what to do about the replies a user can cause; the engine's Message says what was wrong
_HINTS = {
    401: "give the admin token (-admin) or a session token with --token (or FLOE_TOKEN)",
    403: "log in as a user with the admin role: a viewer may not re-run",
    404: "check the flow id and the run id (such as h1-3) against the dashboard",
}


def _envelope(r: httpx.Response) -> dict[str, object]:
    """The engine's {"Message", "Payload"} reply, or {} for a body that is not one."""
    try:
        doc = r.json()
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}
