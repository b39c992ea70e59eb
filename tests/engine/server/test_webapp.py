"""The dashboard's files over HTTP: /app pages, /static assets, -dev, and the login marker."""

from __future__ import annotations

import httpx
from flows import NOTHING, app
from servertest import ADMIN, BASE, ONE_FLOW_APP


def cookies_of(r: httpx.Response) -> list[str]:
    return r.headers.get_list("set-cookie")


def test_app_routes_serve_the_packaged_dashboard(start_engine):
    engine = start_engine(ONE_FLOW_APP)
    with httpx.Client(base_url=engine.url(), timeout=30) as c:
        for path in ("/app/dash", "/app/flows/f/runs/h1-1", "/app/login?next=/app/dash"):
            r = c.get(path)
            assert r.status_code == 200, path
            assert r.headers["content-type"] == "text/html; charset=utf-8"
            assert f'<meta name="floe-api-base" content="{BASE}">' in r.text
            assert "default-src 'self'" in r.headers["content-security-policy"]
        assert c.get("/").headers["location"] == "/app/dash"
        r = c.get("/static/js/main.js")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/javascript")  # modules need it
        assert r.headers["cache-control"] == "no-cache"  # revalidated: no stale modules
        etag = r.headers["etag"]
        assert c.get("/static/js/main.js", headers={"If-None-Match": etag}).status_code == 304
        assert c.get("/static/css/dash.css").status_code == 200
        r = c.get("/static/no/such.js")
        assert (r.status_code, r.json()["Message"]) == (404, "not found")
        # no page of the dashboard loads anything from another origin
        assert "://" not in c.get("/app/dash").text


def test_base_url_reaches_the_page(start_engine):
    engine = start_engine(app(NOTHING, store_type="memory", base_url="/floe/api"))
    r = httpx.get(engine.url() + "/app/dash")
    assert '<meta name="floe-api-base" content="/floe/api">' in r.text


def test_login_sets_an_httponly_session_and_a_script_visible_marker(start_engine):
    engine = start_engine(ONE_FLOW_APP)
    with engine.client(None) as c:
        r = c.post("/login", json={"User": "admin", "Password": ADMIN})
        token = r.json()["Payload"]["Token"]
        session, marker = cookies_of(r)
        assert session.startswith(f"floe-sesh={token}; Path=/;") and "HttpOnly" in session
        assert marker.startswith("floe-sesh=admin:admin; Path=/app;")
        assert "HttpOnly" not in marker and token not in marker
        # every authenticated reply refreshes both; the marker never authenticates
        r = c.get("/flows", headers={"X-Floe-Auth": token})
        assert [x.split(";")[0] for x in cookies_of(r)] == [f"floe-sesh={token}",
                                                            "floe-sesh=admin:admin"]
        c.cookies.clear()
        assert c.get("/flows", headers={"X-Floe-Auth": "admin:admin"}).status_code == 401
        r = c.post("/logout", headers={"X-Floe-Auth": token})
        assert cookies_of(r) == ["floe-sesh=; Path=/; Max-Age=0",
                                 "floe-sesh=; Path=/app; Max-Age=0"]


def test_dev_serves_the_webapp_directory(start_engine, tmp_path):
    web = tmp_path / "webapp"
    (web / "js").mkdir(parents=True)
    (web / "index.html").write_text("<html><script src=/static/js/main.js></script>dev app")
    (web / "js" / "main.js").write_text("console.log('dev')")
    engine = start_engine(ONE_FLOW_APP, "-dev")
    with httpx.Client(base_url=engine.url(), timeout=30) as c:
        r = c.get("/app/flows/f")
        assert r.status_code == 200 and r.text.endswith("dev app")
        assert "content-security-policy" not in r.headers  # its own front end, its own rules
        assert c.get("/static/js/main.js").text == "console.log('dev')"
        assert c.get("/static/css/dash.css").status_code == 404  # not the packaged files
        # edits show without a restart
        (web / "index.html").write_text("edited")
        assert c.get("/app/dash").text == "edited"


def test_dev_without_a_webapp_directory_still_serves_the_api(start_engine):
    engine = start_engine(ONE_FLOW_APP, "-dev")
    assert httpx.get(engine.url() + "/app/dash").status_code == 404
    with engine.client() as c:
        assert c.get("/flows").status_code == 200
    assert "no webapp directory" in engine.stderr


def test_hosts_tells_any_session_what_p2p_config_tells_hosts(start_engine):
    engine = start_engine(ONE_FLOW_APP, "-tags=linux,go")
    with engine.client(None) as c:
        token = c.post("/login", json={"User": "admin", "Password": ADMIN}).json()["Payload"][
            "Token"]
        r = c.get("/hosts", headers={"X-Floe-Auth": token})
        assert r.status_code == 200
        assert r.json()["Payload"]["Config"] == {"HostID": "h1", "BaseURL": "", "Online": True,
                                                 "Tags": ["linux", "go"]}
        assert c.get("/p2p/config", headers={"X-Floe-Auth": token}).status_code == 403
        host = c.get("/p2p/config", headers={"X-Floe-Auth": ADMIN}).json()["Payload"]
        assert host == r.json()["Payload"]
        c.cookies.clear()
        assert c.get("/hosts").status_code == 401
