"""Browser-facing defaults: a cookie writes only from an allowed Origin, cookies are Secure
under TLS, the admin token is never a cookie, and it can come from a file or the environment."""

from __future__ import annotations

import ssl

import httpx
import trustme
from servertest import ADMIN, BASE, ONE_FLOW_APP

PUSH = {"Ref": {"ID": "f", "Ver": 1}, "Form": {"ID": "start"}}


def _login(c: httpx.Client, password: str = ADMIN) -> str:
    r = c.post("/login", json={"User": "admin", "Password": password})
    assert r.status_code == 200, r.text
    return str(r.json()["Payload"]["Token"])


def test_a_cookie_alone_cannot_write_from_another_page(start_engine):
    engine = start_engine(ONE_FLOW_APP, "-origins=https://dash.example")
    own = engine.url()
    with engine.client(None) as c:
        _login(c)
        assert c.get("/flows").status_code == 200  # reads need no Origin
        # the CSRF of the issue: a text/plain form post from any page, only the cookie
        for headers in ({"Origin": "http://evil.example"}, {}, {"Origin": "null"},
                        {"Referer": "http://evil.example/page"}):
            r = c.post("/push/data", content=b'{"Ref": {"ID": "f", "Ver": 1}}',
                       headers={"Content-Type": "text/plain", **headers})
            assert r.status_code == 403, (headers, r.text)
            assert "cross-origin request refused" in r.json()["Message"]
        for origin in (own, "https://dash.example"):
            r = c.post("/push/data", json=PUSH, headers={"Origin": origin})
            assert r.status_code == 200, (origin, r.text)
        r = c.post("/push/data", json=PUSH, headers={"Referer": own + "/app/dash"})
        assert r.status_code == 200
    with engine.client(ADMIN) as c:  # a header token is not a browser's: any origin
        r = c.post("/push/data", json=PUSH, headers={"Origin": "http://evil.example"})
        assert r.status_code == 200


def test_the_admin_token_is_never_a_cookie(start_engine):
    engine = start_engine(ONE_FLOW_APP)
    with engine.client(ADMIN) as c:
        r = c.get("/flows")
        assert r.status_code == 200 and "set-cookie" not in r.headers
    with engine.client(None) as c:
        r = c.post("/login", json={"User": "admin", "Password": ADMIN})
        token = r.json()["Payload"]["Token"]
        assert token != ADMIN and ADMIN not in r.headers["set-cookie"]
        assert f"floe-sesh={token};" in r.headers["set-cookie"]
        assert "Secure" not in r.headers["set-cookie"]  # plain HTTP: a browser would drop it


def test_cookies_are_secure_under_tls(start_engine, tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    engine = start_engine(ONE_FLOW_APP, f"-pub_cert={cert_file}", f"-pub_key={key_file}")
    trusted = ssl.create_default_context()
    ca.configure_trust(trusted)
    with httpx.Client(verify=trusted, base_url=engine.url() + BASE) as c:
        r = c.post("/login", json={"User": "admin", "Password": ADMIN})
        assert "; Secure" in r.headers["set-cookie"]
        r = c.get("/flows", headers={"X-Floe-Auth": r.json()["Payload"]["Token"]})
        assert "; Secure" in r.headers["set-cookie"]


def test_the_admin_token_from_a_file_or_the_environment(start_engine, tmp_path):
    secret = tmp_path / "admin.txt"
    secret.write_text("from-a-file\n")
    engine = start_engine(ONE_FLOW_APP, f"-admin_file={secret}", admin="", name="file")
    assert "from-a-file" not in " ".join(engine.proc.args)
    with engine.client("from-a-file") as c:
        assert c.get("/flows").status_code == 200
    engine = start_engine(ONE_FLOW_APP, admin="", env={"FLOE_ADMIN": "from-env"}, name="env")
    with engine.client("from-env") as c:
        assert c.get("/flows").status_code == 200
    with engine.client("from-a-file") as c:
        assert c.get("/flows").status_code == 401


def test_an_unreadable_admin_file_is_a_start_up_error(tmp_path):
    import subprocess
    import sys

    conf = tmp_path / "app.yml"
    conf.write_text(ONE_FLOW_APP)
    done = subprocess.run([sys.executable, "-m", "floecli.engine", f"-conf={conf}",
                           f"-admin_file={tmp_path / 'missing'}", "-pub_bind=127.0.0.1:0",
                           f"-root={tmp_path / 'root'}"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "-admin_file" in done.stderr
