"""Schemathesis over the served openapi.json: no 5xx, every response matches the document.

Strategies per operation under plain hypothesis: schemathesis's pytest loader reads a private
attribute pytest 9 no longer has. FLOE_FUZZ_EXAMPLES runs longer."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from servertest import ADMIN, BASE, ONE_FLOW_APP, EngineProcess, launch

EXAMPLES = int(os.environ.get("FLOE_FUZZ_EXAMPLES", "10"))
# What the engine promises of every reply. Left out: positive_data_acceptance, since a
# schema-valid pend or push may still name a flow this host does not have (a 400 or 404).
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory):
    e: EngineProcess = launch(tmp_path_factory.mktemp("schemathesis"), ONE_FLOW_APP)
    yield e
    e.stop()


def _operations(engine: EngineProcess) -> list:  # type: ignore[type-arg]
    schema = schemathesis.openapi.from_url(engine.url() + BASE + "/openapi.json", timeout=30)
    return [r.ok() for r in schema.get_all_operations()]


def test_every_operation_matches_the_document(engine: EngineProcess) -> None:
    operations = _operations(engine)
    assert len(operations) >= 10
    for operation in operations:
        if operation.path == "/ws":
            continue  # a websocket upgrade, not a request/response operation
        if operation.path.endswith("/p2p/events"):
            continue  # a stream that ends when its caller leaves (see test_cluster.py)

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(base_url=engine.url(), headers={"X-Floe-Auth": ADMIN},
                                   checks=CHECKS, timeout=30)

        check()
