"""The fetch task against a real HTTP server on 127.0.0.1 (floe-reference §7.2, §8.7 TestFetch)."""

from __future__ import annotations

import asyncio
import socket

import flows
import pytest
from fileserver import serve_files
from flows import flow, task

KNOWN = b"this is a file with known hashes"
SHA256 = "864d6473d56d235de9ffb9d404e76f23e4d596ce77eae5b7ce5106f454fa7ee4"
BIG = bytes(range(256)) * 4096  # 1 MiB


def app(**opts: str) -> str:
    """Flow x of one fetch task f."""
    return flows.app(flow("x", task("f", type="fetch", opts=opts)))


async def fetch_once(h, flow="x"):
    end = await h.run_to_end(flow)
    run = end.run_ref.run_id
    result = next(e for e in h.events if e.run_ref.run_id == run and e.tag.startswith("task.f."))
    return run, result, "\n".join(h.lines(run, "f"))


@pytest.mark.parametrize(("checksum", "algo"), [
    ("", ""),
    (f"{SHA256} get-file.txt", "sha256"),
    ("bb3357153aa8e2c0b22fef75a7f21969abb7c2b4", "sha1"),
    ("f35ff35df6efc82e474e97eaf10e7ff6", "md5"),
])
async def test_fetch_known_file(engine_factory, checksum, algo):
    with serve_files({"/get-file.txt": KNOWN}) as srv:
        opts = {"url": srv.url("/get-file.txt")}
        if checksum:
            opts |= {"checksum": checksum, "checksum-algo": algo}
        h = await engine_factory(app(**opts))
        run, result, out = await fetch_once(h)
    assert result.tag == "task.f.good", out
    for want in ("(100.00%)", "Downloading", "200 OK"):
        assert want in out
    ws = h.hub.workspace_root / "spaces" / "x" / "ws" / run
    assert (ws / "get-file.txt").read_bytes() == KNOWN
    if checksum:
        assert result.opts["checksum"] == checksum.split()[0]
        assert result.opts["checksum-algo"] == algo
        # the verified digest is recorded with the run, not only carried by the event
        record = await h.hub.find_run("x", run)
        assert record.exec_nodes["f"].opts["checksum"] == checksum.split()[0]
    else:
        assert "(N.B. fetch without a checksum can not be trusted)" in out


async def test_bad_hex_checksum(engine_factory):
    with serve_files({"/get-file.txt": KNOWN}) as srv:
        h = await engine_factory(app(url=srv.url("/get-file.txt"), checksum="load-of bollox",
                                     **{"checksum-algo": "sha256"}))
        _, result, out = await fetch_once(h)
        assert srv.count() == 0
    assert result.tag == "task.f.bad"
    assert "Error" in out and "hex" in out and "checksum" in out


async def test_not_found(engine_factory):
    with serve_files({}) as srv:
        h = await engine_factory(app(url=srv.url("/wont_be_found")))
        _, result, out = await fetch_once(h)
    assert result.tag == "task.f.bad"
    assert "404" in out and "Not Found" in out and "Download failed" in out


async def test_connection_refused_is_a_bad_task(engine_factory):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    h = await engine_factory(app(url=f"http://127.0.0.1:{port}/f.txt"))
    _, result, out = await fetch_once(h)
    assert result.tag == "task.f.bad"
    assert "Download failed: cannot connect" in out


async def test_checksum_mismatch_deletes_and_fails(engine_factory):
    with serve_files({"/get-file.txt": KNOWN}) as srv:
        h = await engine_factory(app(url=srv.url("/get-file.txt"), checksum="00" * 32))
        _, result, out = await fetch_once(h)
    assert result.tag == "task.f.bad"
    assert "checksum mismatch" in out
    assert not [p for p in h.hub.cache_dir.rglob("get-file.txt*")]


async def test_location_relative_to_workspace_and_directory(engine_factory):
    with serve_files({"/a/get-file.txt": KNOWN, "/b/get-file.txt": b"other"}) as srv:
        h = await engine_factory(flows.app(flow(
            "x",
            task("f", type="fetch", opts={"url": srv.url("/a/get-file.txt"), "location": "dl/"}),
            task("g", type="fetch", listen="task.f.good",
                 opts={"url": srv.url("/b/get-file.txt"), "location": "other/name.txt"}))))
        end = await h.run_to_end("x")
    assert end.good
    ws = h.hub.workspace_root / "spaces" / "x" / "ws" / end.run_ref.run_id
    assert (ws / "dl" / "get-file.txt").read_bytes() == KNOWN
    # same file name, another URL: its own cache entry
    assert (ws / "other" / "name.txt").read_bytes() == b"other"
    assert h.hub.cache_dir.is_relative_to(h.hub.workspace_root)


async def test_resumes_a_partial_download(engine_factory):
    with serve_files({"/big.bin": BIG}, cut_after={"/big.bin": 100_000}) as srv:
        h = await engine_factory(app(url=srv.url("/big.bin")))
        _, first, out = await fetch_once(h)
        assert first.tag == "task.f.bad" and "Download failed" in out
        run, second, out = await fetch_once(h)
        assert second.tag == "task.f.good", out
        method, _, rng = srv.requests[-1]
        # resumed from what reached the disk (httpx hands the body over in chunks)
        assert method == "GET" and rng.startswith("bytes=") and 0 < int(rng[6:-1]) <= 100_000
        assert "206 Partial Content" in out
    ws = h.hub.workspace_root / "spaces" / "x" / "ws" / run
    assert (ws / "big.bin").read_bytes() == BIG


async def test_tampered_cache_is_downloaded_again(engine_factory):
    with serve_files({"/get-file.txt": KNOWN}) as srv:
        h = await engine_factory(app(url=srv.url("/get-file.txt"), checksum=SHA256))
        _, first, _ = await fetch_once(h)
        assert first.tag == "task.f.good"
        _, again, out = await fetch_once(h)
        assert again.tag == "task.f.good" and "Using the cached" in out
        assert srv.count() == 1
        [cached] = [p for p in h.hub.cache_dir.rglob("get-file.txt")]
        cached.unlink()  # the workspaces hold links to it: tamper with a fresh file
        cached.write_bytes(b"this is a file with forged hashes")
        run, third, out = await fetch_once(h)
        assert third.tag == "task.f.good", out
        assert "fails its sha256 checksum" in out
        assert srv.count() == 2
    ws = h.hub.workspace_root / "spaces" / "x" / "ws" / run
    assert (ws / "get-file.txt").read_bytes() == KNOWN


async def test_concurrent_runs_download_once(engine_factory):
    with serve_files({"/big.bin": BIG}) as srv:
        h = await engine_factory(app(url=srv.url("/big.bin")))
        runs = [await h.start_run("x") for _ in range(5)]
        ends = await asyncio.gather(*(h.wait_tag("sys.end.all", r) for r in runs))
        assert all(e.good for e in ends)
        assert srv.count("GET") == 1
    for r in runs:
        ws = h.hub.workspace_root / "spaces" / "x" / "ws" / r
        assert (ws / "big.bin").stat().st_size == len(BIG)


async def test_a_pushed_name_never_places_a_file_outside_the_workspace(engine_factory,
                                                                        tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    with serve_files({"/get-file.txt": KNOWN}) as srv:
        h = await engine_factory(app(url=srv.url("/get-file.txt"), location="./dl/$FLOE_IN_NAME"))
        # enough `..` to reach `/` from any workspace, so an expanded name lands on victim
        end = await h.run_to_end("x", {"name": "../" * 64 + str(victim).lstrip("/")})
    assert end.good  # `$FLOE_IN_NAME` is not the engine's to expand: the file keeps that name
    assert victim.read_text() == "keep me"
    ws = h.hub.workspace_root / "spaces" / "x" / "ws" / end.run_ref.run_id
    assert (ws / "dl" / "$FLOE_IN_NAME").read_bytes() == KNOWN


@pytest.mark.parametrize("where", ["ABSOLUTE", "CLIMB", "link/victim"])
async def test_a_location_outside_the_workspace_is_refused(engine_factory, tmp_path, where):
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    if where == "ABSOLUTE":
        where = str(victim)
    elif where == "CLIMB":  # `..` up to `/` from any workspace, then down to the victim
        where = "../" * 64 + str(victim).lstrip("/")
    with serve_files({"/get-file.txt": KNOWN}) as srv:
        h = await engine_factory(flows.app(flow(
            "x",
            task("plant", shell=f"ln -s {tmp_path} link"),
            task("f", type="fetch", listen="task.plant.good",
                 opts={"url": srv.url("/get-file.txt"), "location": where}))))
        end = await h.run_to_end("x")
    assert not end.good
    assert victim.read_text() == "keep me"
    assert h.lines(end.run_ref.run_id, "f")[-1].startswith(f"refused: location '{where}")
