"""Hostile request bodies get a 4xx with a Message: deep JSON, lone surrogates, alias bombs."""

from __future__ import annotations

import httpx
import pytest
from servertest import ONE_FLOW_APP

from floecli.engine.server.envelope import JSONReply

DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a": ' * 200 + b"1" + b"}" * 200

LAUGHS = "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9) if p != '_' else ', '.join(['lol'] * 9)}]\n"
    for p, c in zip("_abcdefgh", "abcdefghi", strict=True))


@pytest.fixture
def engine(start_engine):
    return start_engine(ONE_FLOW_APP, "-tester_port=0")


def _message(r: httpx.Response) -> str:
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    body = r.json()
    return f"{body['Message']} {body['Payload'] or ''}"


@pytest.mark.parametrize("path", ["/push/data", "/login", "/p2p/flows/exec"])
@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["array", "object"])
def test_deep_json_is_a_400(engine, path, body):
    # 100,000 deep is also too many values (or, to /login, too many bytes): refused before
    # it is parsed
    with engine.client() as c:
        message = _message(c.post(path, content=body))
        assert "nested deeper than" in message or (
            body is DEEP and "request body too large" in message), message


def test_deep_json_to_the_tester(engine):
    with httpx.Client(base_url=engine.url("tester"), timeout=30) as c:
        r = c.post("/flow/start", content=DEEP_OBJECT,
                   headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and "nested deeper than" in r.json()["Message"]


@pytest.mark.parametrize("raw", [
    b'{"Ref": {"ID": "f", "Ver": 1}, "Form": {"ID": "start", "Values": {"x": "\\ud800"}}}',
    b'{"Ref": {"ID": "f", "Ver": 1}, "Form": {"ID": "start", "Values": {"\\udfff": "x"}}}',
    b'{"Ref": {"ID": "\\ud800", "Ver": 1}, "Form": {"ID": "start"}}',
    b'{"Ref": {"ID": "f", "Ver": 1}, "Form": {"ID": "start", "Values": {"x": "\xed\xa0\x80"}}}',
    b'{"Ref": {"ID": "f", "Ver": 1}, "Form": {"ID": "start", "Values": {"x": "\xff"}}}',
], ids=["escaped value", "escaped key", "escaped id", "cesu bytes", "invalid utf-8"])
def test_a_lone_surrogate_or_bad_utf8_never_gets_in(engine, raw):
    with engine.client() as c:
        message = _message(c.post("/push/data", content=raw))
        assert "unpaired surrogate" in message or "invalid UTF-8" in message
        archive = c.get("/flows/f").json()["Payload"]["Runs"]
        assert archive == {"Active": [], "Pending": [], "Archive": [],
                           "ArchiveTotal": 0}  # nothing started


def test_a_billion_laughs_posted_to_the_tester_is_refused(engine, tmp_path):
    bomb = tmp_path / "bomb.yml"
    bomb.write_text(LAUGHS)
    with httpx.Client(base_url=engine.url("tester"), timeout=60) as c:
        r = c.post("/flow/start", json={"flowUri": f"file://{bomb}"})
    assert r.status_code == 400 and "alias" in r.json()["Message"]
    with engine.client() as c:
        assert c.get("/flows").status_code == 200


def test_a_reply_with_a_lone_surrogate_is_still_json():
    body = JSONReply({"Message": "x\ud800"}).body
    assert body.decode("ascii") == '{\n  "Message": "x\\ud800"\n}'
