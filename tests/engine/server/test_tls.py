"""HTTPS on the public listener with a certificate made here, and the private listener."""

from __future__ import annotations

import socket
import ssl

import httpx
import pytest
import trustme
from servertest import ADMIN, BASE, ONE_FLOW_APP

APP = ONE_FLOW_APP


def test_https_public_and_plain_private_listener(start_engine, tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    for pem in cert.cert_chain_pems[1:]:
        pem.write_to_path(str(cert_file), append=True)
    cert.private_key_pem.write_to_path(str(key_file))
    engine = start_engine(APP, f"-pub_cert={cert_file}", f"-pub_key={key_file}",
                          "-prv_bind=127.0.0.1:0")
    assert f"floe listening on https://127.0.0.1:{engine.ports['pub']}" in engine.stderr
    assert f"floe private listening on http://127.0.0.1:{engine.ports['prv']}" in engine.stderr
    trusted = ssl.create_default_context()
    ca.configure_trust(trusted)
    headers = {"X-Floe-Auth": ADMIN}
    with httpx.Client(verify=trusted, headers=headers) as c:
        r = c.get(f"https://127.0.0.1:{engine.ports['pub']}{BASE}/flows")
        assert r.status_code == 200 and r.json()["Payload"]["Flows"][0]["ID"] == "f"
    with httpx.Client(headers=headers) as c:  # the same routes on the private listener
        r = c.get(f"http://127.0.0.1:{engine.ports['prv']}{BASE}/flows")
        assert r.status_code == 200 and r.json()["Payload"]["Flows"][0]["ID"] == "f"
    with httpx.Client(headers=headers) as c, pytest.raises(httpx.HTTPError):
        c.get(f"https://127.0.0.1:{engine.ports['pub']}{BASE}/flows")  # untrusted: refused


def test_private_listener_with_its_own_tls(start_engine, tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "prv-cert.pem", tmp_path / "prv-key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    engine = start_engine(APP, "-prv_bind=127.0.0.1:0", f"-prv_cert={cert_file}",
                          f"-prv_key={key_file}")
    trusted = ssl.create_default_context()
    ca.configure_trust(trusted)
    with httpx.Client(verify=trusted, headers={"X-Floe-Auth": ADMIN}) as c:
        assert c.get(f"https://127.0.0.1:{engine.ports['prv']}{BASE}/flows").status_code == 200
        assert c.get(f"http://127.0.0.1:{engine.ports['pub']}{BASE}/flows").status_code == 200


def test_a_tls_handshake_never_begun_is_closed_after_the_header_timeout(start_engine,
                                                                         tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    engine = start_engine(APP, f"-pub_cert={cert_file}", f"-pub_key={key_file}",
                          "-header_timeout=1")
    # A TCP connection that never sends its ClientHello: asyncio alone would hold it 60 s.
    with socket.create_connection(("127.0.0.1", engine.ports["pub"]), timeout=30) as s:
        assert s.recv(1024) == b""
    trusted = ssl.create_default_context()
    ca.configure_trust(trusted)
    with httpx.Client(verify=trusted, headers={"X-Floe-Auth": ADMIN}) as c:
        assert c.get(f"https://127.0.0.1:{engine.ports['pub']}{BASE}/flows").status_code == 200
