"""The served OpenAPI document is valid and names exactly the routes the app serves."""

from __future__ import annotations

from harness import make_engine
from openapi_spec_validator import validate
from servertest import BASE, ONE_FLOW_APP

from floecli.engine.server.app import all_routes, build_app
from floecli.engine.server.context import ServerContext

APP = ONE_FLOW_APP


def test_openapi_document_validates_and_names_every_route(start_engine, tmp_path):
    engine = start_engine(APP)
    with engine.client(None) as c:  # no session needed to read it
        r = c.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    validate(doc)
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    app = build_app(ServerContext.for_engine(make_engine(tmp_path, APP)))
    served = set(all_routes(app))
    assert served == documented
    assert ("GET", f"{BASE}/flows/{{flow_id}}/runs/{{run_id}}") in served
    assert ("GET", "/ws") in served
