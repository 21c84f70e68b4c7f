"""The review server against hostile input: huge numbers, foreign Hosts and Origins, lying Content-Lengths,
stalled clients, malformed bodies, remote serving, framing, and items that claim to be approved already."""

from __future__ import annotations

import http.client
import json
import socket
import sqlite3
import time

import pytest

from auroram import cli
from auroram.safety.build import generate_items
from auroram.safety.items import read_items, write_items
from auroram.safety.review import ReviewDB, ReviewError, start_review_server
from auroram.safety.stage import prepare_safety

TIMEOUT_S = 1.0  # the server's stall limit in these tests: short, so a dropped client shows up quickly


@pytest.fixture()
def served(tmp_path):
    db = ReviewDB(tmp_path / "review.db")
    db.import_items(generate_items()[:10])
    server, _thread, url = start_review_server(db, port=0, timeout_s=TIMEOUT_S)
    try:
        yield db, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        db.close()


def _call(port: int, method: str, path: str, body: bytes | dict | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], object]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        if isinstance(body, dict):
            body = json.dumps(body).encode()
        hdrs = {"Content-Type": "application/json"} if body is not None else {}
        hdrs.update(headers or {})
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        raw = r.read()
        ctype = r.getheader("Content-Type", "")
        return r.status, {k.lower(): v for k, v in r.getheaders()}, (json.loads(raw) if "json" in ctype else raw)
    finally:
        conn.close()


def _raw(port: int, request: bytes, wait_s: float = 3.0) -> bytes:
    """Send bytes as they are, keep the socket open and read what comes back until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as s:
        s.sendall(request)
        out = b""
        while True:
            chunk = s.recv(65536)  # a server that never answers raises socket.timeout here
            if not chunk:
                return out
            out += chunk


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def _json_body(response: bytes) -> dict:
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"application/json" in head, head
    return json.loads(body)


def _writable_elsewhere(db: ReviewDB) -> None:
    # another process's connection: waits at most one second for the write lock
    other = sqlite3.connect(db.path, timeout=1.0)
    try:
        other.execute("UPDATE items SET reviewer = reviewer WHERE seq = 1")
        other.commit()
    finally:
        other.close()


def test_huge_version_is_refused_and_later_decisions_still_saved(served):
    db, port = served
    first, second = db.list()[0]["id"], db.list()[1]["id"]
    for v in (2**63, 2**64 + 5, -(2**63) - 1, 2**53, 0, -1):
        s, _, body = _call(port, "POST", f"/api/items/{first}", {"action": "approve", "version": v,
                                                                 "reviewer": "ann"})
        assert s == 400 and "version" in body["error"], (v, s, body)
    with pytest.raises(ReviewError, match="version"):
        db.decide(first, "approve", version=2**63, reviewer="ann")
    _writable_elsewhere(db)
    s, _, body = _call(port, "POST", f"/api/items/{second}", {"action": "reject", "version": 1, "reviewer": "bob"})
    assert s == 200 and body["status"] == "rejected"
    assert db.get(first)["status"] == "pending" and db.get(first)["version"] == 1
    _writable_elsewhere(db)


def test_unknown_host_is_refused_and_changes_nothing(served):
    db, port = served
    iid = db.list()[0]["id"]
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1:{port + 1}", f"127.0.0.1.evil.example:{port}"):
        s, _, body = _call(port, "GET", "/api/items", headers={"Host": host})
        assert s == 403 and "Host" in body["error"], host
        s, _, body = _call(port, "POST", f"/api/items/{iid}", {"action": "approve", "version": 1, "reviewer": "x"},
                           headers={"Host": host})
        assert s == 403, host
    assert db.get(iid)["status"] == "pending" and db.get(iid)["version"] == 1
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}"):
        assert _call(port, "GET", "/api/meta", headers={"Host": host})[0] == 200, host


def test_cross_origin_post_is_refused(served):
    db, port = served
    iid = db.list()[0]["id"]
    decision = {"action": "approve", "version": 1, "reviewer": "mallory"}
    for hdrs in ({"Origin": "http://evil.example"}, {"Origin": "null"}, {"Origin": f"https://127.0.0.1:{port}"},
                 {"Referer": "http://evil.example/page"}):
        s, _, body = _call(port, "POST", f"/api/items/{iid}", decision, headers=hdrs)
        assert s == 403 and "cross-origin" in body["error"], hdrs
    assert db.get(iid)["status"] == "pending"
    s, _, _ = _call(port, "POST", f"/api/items/{iid}", {**decision, "reviewer": "ann"},
                    headers={"Host": f"localhost:{port}", "Origin": f"http://localhost:{port}"})
    assert s == 200 and db.get(iid)["reviewer"] == "ann"


@pytest.mark.parametrize("length_headers, status", [
    ("Content-Length: -1\r\n", 400), ("Content-Length: -99999999\r\n", 400),
    ("Content-Length: 1000000000000\r\n", 413), (f"Content-Length: {(1 << 20) + 1}\r\n", 413),
    ("Content-Length: abc\r\n", 400), ("Content-Length: 1_0\r\n", 400), ("Content-Length: +5\r\n", 400),
    ("Content-Length: 5\r\nContent-Length: 7\r\n", 400), ("", 411), ("Transfer-Encoding: chunked\r\n", 411)])
def test_bad_content_length_is_answered_at_once(served, length_headers, status):
    db, port = served
    iid = db.list()[0]["id"]
    t0 = time.monotonic()
    resp = _raw(port, (f"POST /api/items/{iid} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                       f"Content-Type: application/json\r\n{length_headers}\r\n").encode())
    assert _status(resp) == status and "error" in _json_body(resp)
    assert time.monotonic() - t0 < TIMEOUT_S  # answered, not left waiting for a body that never comes
    assert db.get(iid)["version"] == 1


def test_stalled_connections_are_dropped_while_others_are_served(served):
    db, port = served
    silent = socket.create_connection(("127.0.0.1", port), timeout=5 * TIMEOUT_S)
    half_line = socket.create_connection(("127.0.0.1", port), timeout=5 * TIMEOUT_S)
    half_body = socket.create_connection(("127.0.0.1", port), timeout=5 * TIMEOUT_S)
    try:
        t0 = time.monotonic()
        half_line.sendall(b"GET /api/it")
        half_body.sendall((f"POST /api/items/{db.list()[0]['id']} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                           "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"ac").encode())
        assert _call(port, "GET", "/api/meta")[0] == 200  # the stalled three hold nobody else up
        assert time.monotonic() - t0 < TIMEOUT_S
        assert silent.recv(100) == b"" and half_line.recv(100) == b""  # closed, by the server
        answer = b""
        while chunk := half_body.recv(65536):
            answer += chunk
        assert _status(answer) == 408 and "error" in _json_body(answer)
        assert TIMEOUT_S * 0.9 < time.monotonic() - t0 < 4 * TIMEOUT_S
    finally:
        for s in (silent, half_line, half_body):
            s.close()
    assert _call(port, "GET", "/api/meta")[0] == 200


def test_a_body_dripped_byte_by_byte_is_cut_off(served):
    db, port = served
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S / 4) as s:
        s.sendall((f"POST /api/items/{db.list()[0]['id']} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                   "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n").encode())
        t0, answer, closed = time.monotonic(), b"", False
        while not closed and time.monotonic() - t0 < 6 * TIMEOUT_S:
            try:
                chunk = s.recv(65536)
                answer += chunk
                closed = not chunk
            except socket.timeout:
                s.sendall(b" ")  # one byte each quarter of the stall limit: the socket's timeout never fires
            except ConnectionError:
                closed = True
        # the whole body gets twice the stall limit; a reset may cut the 408 itself, never the cut-off
        assert closed and time.monotonic() - t0 < 4 * TIMEOUT_S
        assert not answer or _status(answer) == 408
    assert db.get(db.list()[0]["id"])["version"] == 1


MALFORMED = {
    "response not a string": b'{"action": "edit", "version": 1, "reviewer": "ann", "response": 5}',
    "100,000-deep nesting": b"[" * 100_000 + b"]" * 100_000,
    "100,000-deep in a field": b'{"action": "approve", "version": 1, "reviewer": ' + b"[" * 100_000 + b"}",
    "invalid UTF-8": b'{"action": "approve", "version": 1, "reviewer": "\xff\xfe"}',
    "action a list": b'{"action": ["approve"], "version": 1, "reviewer": "ann"}',
    "reviewer an object": b'{"action": "approve", "version": 1, "reviewer": {"name": "ann"}}',
    "reviewer null": b'{"action": "approve", "version": 1, "reviewer": null}',
    "reviewer too long": b'{"action": "approve", "version": 1, "reviewer": "' + b"a" * 1000 + b'"}',
    "lone surrogate": b'{"action": "approve", "version": 1, "reviewer": "\\ud800"}',
    "version a string": b'{"action": "approve", "version": "1", "reviewer": "ann"}',
    "version true": b'{"action": "approve", "version": true, "reviewer": "ann"}',
    "version a float": b'{"action": "approve", "version": 1.0, "reviewer": "ann"}',
    "version NaN": b'{"action": "approve", "version": NaN, "reviewer": "ann"}',
    "version 5000 digits": b'{"action": "approve", "version": ' + b"9" * 5000 + b', "reviewer": "ann"}',
    "unknown field": b'{"action": "approve", "version": 1, "reviewer": "ann", "status": "approved"}',
    "a list": b"[]", "null": b"null", "a string": b'"approve"', "empty": b"", "not JSON": b"{action: approve}",
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_body_gets_400_json(served, name):
    db, port = served
    iid = db.list()[0]["id"]
    s, hdrs, body = _call(port, "POST", f"/api/items/{iid}", MALFORMED[name])
    assert s == 400 and hdrs["content-type"].startswith("application/json") and body["error"], (name, body)
    assert db.get(iid)["status"] == "pending" and db.get(iid)["version"] == 1
    _writable_elsewhere(db)
    s, _, body = _call(port, "POST", f"/api/items/{iid}", {"action": "approve", "version": 1, "reviewer": "ann"})
    assert s == 200 and body["status"] == "approved"


def test_non_loopback_host_needs_allow_remote(tmp_path, capsys, monkeypatch):
    import http.server

    def no_bind(self):  # a refused start must never reach the network
        raise AssertionError(f"tried to bind {self.server_address}")

    monkeypatch.setattr(http.server.HTTPServer, "server_bind", no_bind)
    db_path = tmp_path / "review.db"
    for host in ("0.0.0.0", "::", "192.0.2.7", "example.com"):
        assert cli.main(["safety", "review", "--db", str(db_path), "--host", host]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--allow-remote" in err and "not a loopback" in err, err
    assert not db_path.exists()  # refused before anything was written
    with pytest.raises(ReviewError, match="allow-remote"):
        start_review_server(db_path, host="0.0.0.0", port=0)

    seen = {}

    def fake_start(db, **kw):  # stands in for the bind, which this test must not do on 0.0.0.0
        seen.update(kw)
        raise KeyboardInterrupt

    monkeypatch.setattr("auroram.safety.review.start_review_server", fake_start)
    assert cli.main(["safety", "review", "--db", str(db_path), "--host", "0.0.0.0", "--allow-remote"]) == 130
    assert seen["allow_remote"] is True and len(seen["token"]) >= 32
    assert "warning:" in capsys.readouterr().err


def test_token_is_required_when_set(tmp_path):
    db = ReviewDB(tmp_path / "review.db")
    db.import_items(generate_items()[:4])
    token = "t0ken-for-the-test-only"
    server, _thread, url = start_review_server(db, port=0, token=token, timeout_s=TIMEOUT_S)
    port = server.server_address[1]
    iid = db.list()[0]["id"]
    try:
        assert url.endswith(f"/#token={token}")
        assert _call(port, "GET", "/")[0] == 200  # the page itself holds no data; it reads the token from its URL
        for hdrs in ({}, {"X-Review-Token": "wrong"}, {"X-Review-Token": token[:-1]}):
            assert _call(port, "GET", "/api/items", headers=hdrs)[0] == 403
            assert _call(port, "GET", f"/api/items/{iid}", headers=hdrs)[0] == 403
            s, _, body = _call(port, "POST", f"/api/items/{iid}", {"action": "approve", "version": 1,
                                                                    "reviewer": "x"}, headers=hdrs)
            assert s == 403 and "token" in body["error"]
        assert db.get(iid)["status"] == "pending"
        ok = {"X-Review-Token": token}
        assert _call(port, "GET", "/api/items", headers=ok)[0] == 200
        s, _, body = _call(port, "POST", f"/api/items/{iid}", {"action": "approve", "version": 1, "reviewer": "ann"},
                           headers=ok)
        assert s == 200 and body["status"] == "approved"
    finally:
        server.shutdown()
        server.server_close()
        db.close()


def test_every_answer_forbids_framing_sniffing_and_caching(served):
    _db, port = served
    s, page_hdrs, _ = _call(port, "GET", "/")
    assert s == 200
    csp = page_hdrs["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp and "script-src 'sha256-" in csp
    for path in ("/", "/api/items", "/api/meta", "/api/items/nope", "/nowhere"):
        _s, hdrs, _ = _call(port, "GET", path)
        assert hdrs["x-frame-options"] == "DENY" and hdrs["x-content-type-options"] == "nosniff", path
        assert hdrs["referrer-policy"] == "no-referrer" and hdrs["cache-control"] == "no-store", path
        assert "frame-ancestors 'none'" in hdrs["content-security-policy"], path
    # http.server's own error pages carry them too
    _s, hdrs, _ = _call(port, "PUT", "/api/items")
    assert _s == 501 and hdrs["x-frame-options"] == "DENY"


def _claiming_items(tmp_path):
    items = [it for it in generate_items()[:40] if it["split"] == "train"][:3]
    items[0]["review_status"] = "approved"
    items[1]["review_status"] = "rejected"
    items[2]["review_status"] = "auto-approved (demo)"
    path = tmp_path / "claims.jsonl"
    write_items(path, items)
    return path, items


def test_imported_items_start_pending_whatever_their_line_says(tmp_path):
    path, items = _claiming_items(tmp_path)
    db = ReviewDB(tmp_path / "plain.db")
    try:
        db.import_items(read_items(path))
        assert {db.get(it["id"])["status"] for it in items} == {"pending"}
        assert db.approved() == []
    finally:
        db.close()
    trusted = ReviewDB(tmp_path / "trusted.db")
    try:
        trusted.import_items(read_items(path), trust_status=True)
        assert [trusted.get(it["id"])["status"] for it in items] == [it["review_status"] for it in items]
        assert trusted.get(items[0]["id"])["reviewer"] == "import"
        n = trusted.conn.execute("SELECT COUNT(*) FROM decisions WHERE action = 'import-trusted'").fetchone()[0]
        assert n == 3
    finally:
        trusted.close()
    args = cli.build_parser().parse_args(["safety", "review", "--db", "x.db", "--items", str(path), "--trust-status"])
    assert args.trust_status and not args.allow_remote
    # the pipeline: a user's set is reviewed (nothing exported), or marked demo-approved, never "approved"
    with pytest.raises(ValueError, match="no approved train items"):
        prepare_safety(tmp_path / "safety", items=path, demo=False)
    info = prepare_safety(tmp_path / "safety_demo", items=path, demo=True)
    recs = [json.loads(x) for x in open(info["approved_jsonl"], encoding="utf-8")]
    assert len(recs) == 3 and {r["review_status"] for r in recs} == {"auto-approved (demo)"}
