"""`auroram safety review`: people approve, edit or reject safety items one by one.

State lives in SQLite (one file, committed on every decision, so a restart loses nothing). Every item
has a version; a decision names the version it was made on, and a decision on an older version is
refused (HTTP 409) instead of overwriting what another reviewer did. Only approved items are exported
for the CAT mixture. The page is served by the standard library's http.server, on loopback unless
`allow_remote` is given; a remote server requires an access token on every API request.

Every request is checked before it is served: its Host must name this server (a DNS-rebinding page
cannot read or decide anything), a POST's Origin/Referer must be this server, the body must be at most
1 MiB with a valid Content-Length, and a client that stalls is dropped after `timeout_s`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import ipaddress
import json
import os
import re
import secrets
import socket
import sqlite3
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

from auroram.errors import AuroramError
from auroram.io import atomic_file
from auroram.safety.items import APPROVED, DEMO_APPROVED, FIELDS, PENDING, REJECTED, STATUSES
from auroram.safety.taxonomy import category_names

ACTIONS = {"approve": APPROVED, "reject": REJECTED, "edit": APPROVED}  # an edit saves and approves the new text
EXPORTED = (APPROVED, DEMO_APPROVED)
MAX_VERSION = 2**53 - 1  # the page holds versions as JavaScript numbers, exact only up to here
MAX_REVIEWER_CHARS = 200
MAX_BODY_BYTES = 1 << 20
TOKEN_HEADER = "X-Review-Token"
DECISION_KEYS = ("action", "version", "reviewer", "response")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, category TEXT NOT NULL, language TEXT NOT NULL,
    kind TEXT NOT NULL, prompt TEXT NOT NULL, response TEXT NOT NULL, original_response TEXT NOT NULL,
    source TEXT NOT NULL, split TEXT NOT NULL, status TEXT NOT NULL, edited INTEGER NOT NULL DEFAULT 0,
    reviewer TEXT, reviewed_at TEXT, version INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS decisions (
    n INTEGER PRIMARY KEY AUTOINCREMENT, item_id TEXT NOT NULL, action TEXT NOT NULL, reviewer TEXT NOT NULL,
    at TEXT NOT NULL, version INTEGER NOT NULL, response TEXT
);
CREATE INDEX IF NOT EXISTS items_filter ON items (category, language, status);
"""


class ReviewError(AuroramError, ValueError):
    """A review request is invalid (unknown action, no reviewer name, a field of the wrong type or range)."""


class UnknownItem(KeyError):
    """No item has this id."""


class Conflict(RuntimeError):
    """The item changed since the reviewer loaded it; `current` is what it is now."""

    def __init__(self, current: dict[str, Any]):
        super().__init__(f"item '{current['id']}' is at version {current['version']} "
                         f"(changed by {current.get('reviewer') or 'someone'} at {current.get('reviewed_at')})")
        self.current = current


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _check_int(name: str, v: Any, lo: int, hi: int) -> int:
    # bool is an int to Python but never a version; out-of-range ints would overflow SQLite's 64 bits
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ReviewError(f"'{name}' must be an integer from {lo} to {hi}")
    return v


def _check_text(name: str, v: Any, *, max_chars: int | None = None) -> str:
    if not isinstance(v, str):
        raise ReviewError(f"'{name}' must be a string, got {type(v).__name__}")
    if max_chars is not None and len(v) > max_chars:
        raise ReviewError(f"'{name}' is longer than {max_chars} characters")
    try:
        v.encode("utf-8")  # a lone surrogate from a JSON escape cannot be stored as UTF-8 text
    except UnicodeEncodeError:
        raise ReviewError(f"'{name}' holds a lone surrogate (not valid Unicode text)") from None
    return v


class ReviewDB:
    """The review state; safe to share between the server's threads."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")  # a decision that was answered is on disk
            self.conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as e:
            raise ReviewError(f"{self.path}: not a usable review database ({e})") from None
        self.lock = threading.Lock()

    def close(self) -> None:
        self.conn.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction under the lock; an error of any type rolls it back, so neither this server
        nor another process is left facing an open transaction and a locked database."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):  # the first error is the one worth reporting
                        self.conn.execute("ROLLBACK")
                raise

    def import_items(self, items: Iterable[dict[str, Any]], *, trust_status: bool = False) -> dict[str, int]:
        """Add items not yet in the database; items already there keep their review state. New items start
        pending whatever their `review_status` says, unless `trust_status` (the set was reviewed elsewhere)."""
        added = kept = 0
        at = _now()
        with self._write() as conn:
            seq = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM items").fetchone()[0]
            for it in items:
                seq += 1
                status = it.get("review_status") if trust_status else PENDING
                if status not in STATUSES:
                    status = PENDING
                trusted = status != PENDING
                cur = conn.execute(
                    "INSERT OR IGNORE INTO items (id, seq, category, language, kind, prompt, response, "
                    "original_response, source, split, status, reviewer, reviewed_at) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (it["id"], seq, it["category"], it["language"], it["kind"], it["prompt"], it["response"],
                     it["response"], it["source"], it["split"], status, "import" if trusted else None,
                     at if trusted else None))
                if cur.rowcount:
                    added += 1
                    if trusted:  # the audit trail says the status came from the file, not from a reviewer here
                        conn.execute("INSERT INTO decisions (item_id, action, reviewer, at, version) "
                                     "VALUES (?, 'import-trusted', 'import', ?, 1)", (it["id"], at))
                else:
                    kept += 1
        return {"added": added, "kept": kept}

    @staticmethod
    def _where(category: str | None, language: str | None, status: str | None) -> tuple[str, list[str]]:
        conds, args = [], []
        for col, v in (("category", category), ("language", language), ("status", status)):
            if v:
                conds.append(f"{col} = ?")
                args.append(v)
        return (" WHERE " + " AND ".join(conds)) if conds else "", args

    def list(self, category: str | None = None, language: str | None = None, status: str | None = None,
             ) -> list[dict[str, Any]]:
        where, args = self._where(category, language, status)
        with self.lock:
            rows = self.conn.execute(f"SELECT id, category, language, kind, split, status, version FROM items"
                                     f"{where} ORDER BY seq", args).fetchall()
        return [dict(r) for r in rows]

    def get(self, item_id: str) -> dict[str, Any]:
        with self.lock:
            row = self.conn.execute("SELECT * FROM items WHERE id = ?", (item_id,)).fetchone()
        if row is None:
            raise UnknownItem(item_id)
        return dict(row)

    def meta(self) -> dict[str, Any]:
        with self.lock:
            langs = [r[0] for r in self.conn.execute("SELECT DISTINCT language FROM items ORDER BY 1")]
            cats = [r[0] for r in self.conn.execute("SELECT DISTINCT category FROM items ORDER BY 1")]
        return {"languages": langs, "categories": cats, "category_names": category_names(),
                "statuses": [PENDING, APPROVED, REJECTED, DEMO_APPROVED]}

    def progress(self, category: str | None = None, language: str | None = None) -> dict[str, int]:
        where, args = self._where(category, language, None)
        with self.lock:
            rows = self.conn.execute(f"SELECT status, COUNT(*) FROM items{where} GROUP BY status", args).fetchall()
        counts = {s: n for s, n in rows}
        total = sum(counts.values())
        return {"total": total, "reviewed": total - counts.get(PENDING, 0), "approved": counts.get(APPROVED, 0),
                "rejected": counts.get(REJECTED, 0), "demo_approved": counts.get(DEMO_APPROVED, 0),
                "pending": counts.get(PENDING, 0)}

    def decide(self, item_id: str, action: str, *, version: int, reviewer: str,
               response: str | None = None) -> dict[str, Any]:
        # every field is checked before the transaction opens: what reaches SQLite is known to fit
        item_id = _check_text("id", item_id)
        if not isinstance(action, str) or action not in ACTIONS:
            raise ReviewError(f"unknown action {action!r} (known: {', '.join(ACTIONS)})")
        version = _check_int("version", version, 1, MAX_VERSION)
        reviewer = _check_text("reviewer", reviewer, max_chars=MAX_REVIEWER_CHARS).strip()
        if not reviewer:
            raise ReviewError("a reviewer name is needed")
        if response is not None:
            response = _check_text("response", response)
        if action == "edit" and (response is None or not response.strip()):
            raise ReviewError("an edit needs the new response text")
        at = _now()
        with self._write() as conn:
            if action == "edit":
                cur = conn.execute(
                    "UPDATE items SET response = ?, edited = 1, status = ?, reviewer = ?, reviewed_at = ?, "
                    "version = version + 1 WHERE id = ? AND version = ?",
                    (response, ACTIONS[action], reviewer, at, item_id, version))
            else:
                cur = conn.execute(
                    "UPDATE items SET status = ?, reviewer = ?, reviewed_at = ?, version = version + 1 "
                    "WHERE id = ? AND version = ?", (ACTIONS[action], reviewer, at, item_id, version))
            if cur.rowcount == 0:
                row = conn.execute("SELECT * FROM items WHERE id = ?", (item_id,)).fetchone()
                if row is None:
                    raise UnknownItem(item_id)
                raise Conflict(dict(row))
            conn.execute("INSERT INTO decisions (item_id, action, reviewer, at, version, response) "
                         "VALUES (?,?,?,?,?,?)", (item_id, action, reviewer, at, version + 1,
                                                  response if action == "edit" else None))
        return self.get(item_id)

    def auto_approve(self, reviewer: str = "auroram demo") -> int:
        """Demo only: every pending item becomes 'auto-approved (demo)', so nobody mistakes it for review."""
        at = _now()
        with self._write() as conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM items WHERE status = ?", (PENDING,))]
            conn.execute("UPDATE items SET status = ?, reviewer = ?, reviewed_at = ?, version = version + 1 "
                         "WHERE status = ?", (DEMO_APPROVED, reviewer, at, PENDING))
            conn.executemany("INSERT INTO decisions (item_id, action, reviewer, at, version) "
                             "SELECT id, 'auto-approve', ?, ?, version FROM items WHERE id = ?",
                             [(reviewer, at, i) for i in ids])
        return len(ids)

    def approved(self, split: str | None = "train") -> list[dict[str, Any]]:
        q = f"SELECT * FROM items WHERE status IN ({','.join('?' * len(EXPORTED))}) AND response != ''"
        args: list[Any] = list(EXPORTED)
        if split:
            q += " AND split = ?"
            args.append(split)
        with self.lock:
            return [dict(r) for r in self.conn.execute(q + " ORDER BY seq", args)]

    def items(self) -> list[dict[str, Any]]:
        """Every item in the safety-item layout, with its review status and current response."""
        with self.lock:
            rows = self.conn.execute("SELECT * FROM items ORDER BY seq").fetchall()
        return [{**{f: r[f] for f in FIELDS if f in r.keys()}, "review_status": r["status"]} for r in rows]


def export_approved(db: ReviewDB | str | os.PathLike, out_jsonl: str | os.PathLike, *, split: str | None = "train",
                    ) -> dict[str, Any]:
    """Approved items as {"prompt", "response", ...} JSONL, the CAT source (format prompt_response,
    loss_on response). Returns counts; rejected, pending and empty-response items never leave."""
    own = not isinstance(db, ReviewDB)
    rdb = ReviewDB(db) if own else db
    try:
        rows = rdb.approved(split)
        by_status: dict[str, int] = {}
        with atomic_file(out_jsonl, "w") as fh:
            for r in rows:
                by_status[r["status"]] = by_status.get(r["status"], 0) + 1
                fh.write(json.dumps({"prompt": r["prompt"], "response": r["response"], "id": r["id"],
                                     "category": r["category"], "language": r["language"], "kind": r["kind"],
                                     "review_status": r["status"], "reviewer": r["reviewer"]},
                                    ensure_ascii=False) + "\n")
        return {"items": len(rows), "by_status": by_status, "path": str(out_jsonl)}
    finally:
        if own:
            rdb.close()


# ---------------------------------------------------------------------------------------------------
# the web page


def _page() -> bytes:
    return (resources.files("auroram.safety") / "review.html").read_bytes()


def _inline_hashes(page: bytes, tag: str) -> str:
    """CSP sources allowing exactly the page's own inline <tag> blocks, so no injected one can run."""
    blocks = re.findall(rb"<%s>(.*?)</%s>" % (tag.encode(), tag.encode()), page, re.S)
    # browsers hash the text after the HTML parser turns CR LF and CR into LF
    digests = [hashlib.sha256(b.replace(b"\r\n", b"\n").replace(b"\r", b"\n")).digest() for b in blocks]
    return " ".join(f"'sha256-{base64.b64encode(d).decode()}'" for d in digests) or "'none'"


def _page_csp(page: bytes) -> str:
    return (f"default-src 'none'; script-src {_inline_hashes(page, 'script')}; "
            f"style-src {_inline_hashes(page, 'style')}; connect-src 'self'; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'")


_API_CSP = "default-src 'none'; frame-ancestors 'none'"
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # another name: it may resolve to anything, so it counts as remote


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def _allowed_hosts(host: str, port: int) -> frozenset[str] | None:
    """Host header values this server answers to; None when bound to every interface (the token guards it)."""
    if host in ("", "0.0.0.0", "::"):
        return None
    names = {_netloc(host, port).lower()}
    if is_loopback(host):
        names |= {f"{n}:{port}" for n in _LOOPBACK_NAMES}
    if port == 80:  # a browser leaves the default port out of Host and Origin
        names |= {n.rsplit(":", 1)[0] for n in names}
    return frozenset(names)


class _Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class _Handler(BaseHTTPRequestHandler):
    db: ReviewDB  # this and the next three are set on the subclass made per server
    hosts: frozenset[str] | None
    token: str | None
    page_csp: str
    timeout = 10.0  # seconds a read or write may stall before the connection is dropped (set per server)
    server_version = "auroram-review"
    _csp = _API_CSP
    _body_read = False

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the terminal shows only the URL
        pass

    def version_string(self) -> str:  # no Python version for a prober to match against known bugs
        return self.server_version

    def end_headers(self) -> None:
        # on every answer, error pages from http.server included: never framed, sniffed, cached or referred
        self.send_header("Content-Security-Policy", self._csp)
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        if status >= 400:
            self._drain()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if status >= 400:
            self.close_connection = True  # the request body may be unread: never parse it as a next request
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _drain(self) -> None:
        # closing with unread bytes sends a TCP reset, which can destroy the answer before the client reads it
        if self.command != "POST" or self._body_read:
            return
        self._body_read = True
        lengths = self.headers.get_all("Content-Length") or []
        n = int(lengths[0]) if len(lengths) == 1 and re.fullmatch(r"[0-9]{1,19}", lengths[0].strip()) else -1
        if 0 < n <= MAX_BODY_BYTES:
            with contextlib.suppress(OSError):  # a stalled or vanished client: answer anyway
                self.rfile.read(n)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")

    def _check_request(self, url: SplitResult, state_changing: bool) -> None:
        if not self.path.startswith("/") or self.path.startswith("//"):  # an absolute URL names another host
            raise _Refused(400, "the request target must be a path")
        hosts = self.headers.get_all("Host") or []
        if len(hosts) != 1:
            raise _Refused(400, "exactly one Host header is needed")
        host = hosts[0].strip().lower()
        if self.hosts is not None and host not in self.hosts:
            raise _Refused(403, f"this server does not answer to Host '{hosts[0][:100]}'; open the address "
                                "`auroram safety review` printed")
        if state_changing:
            # browsers send Origin on every POST; a page from elsewhere (or a sandboxed one: "null") is refused
            origin = self.headers.get("Origin")
            referer = self.headers.get("Referer")
            if origin is not None:
                if origin.strip().lower() != f"http://{host}":
                    raise _Refused(403, "cross-origin request refused")
            elif referer is not None:
                r = urlsplit(referer.strip())
                if r.scheme.lower() != "http" or r.netloc.lower() != host:
                    raise _Refused(403, "cross-origin request refused")
        if self.token is not None and url.path.startswith("/api/"):
            given = self.headers.get(TOKEN_HEADER) or ""
            if not hmac.compare_digest(given.encode("utf-8", "replace"), self.token.encode()):
                raise _Refused(403, "access token missing or wrong: open the URL with #token=... that "
                                    "`auroram safety review` printed")

    def _serve(self, answer: Callable[[SplitResult], None], state_changing: bool) -> None:
        try:
            url = urlsplit(self.path)
            self._check_request(url, state_changing)
            answer(url)
        except _Refused as e:
            self._json(e.status, {"error": str(e)})
        except (ConnectionError, TimeoutError):
            self.close_connection = True  # the client went away or stalled: nobody to answer
        except Exception as e:  # noqa: BLE001 - a bug must cost one answer, never the server
            if isinstance(e, sqlite3.OperationalError) and "locked" in str(e):
                return self._json(503, {"error": "the review database is locked by another process; try again"})
            # repr: a hostile path or message must not put control characters on the operator's terminal
            print(f"auroram review: internal error on {self.command} {self.path[:200]!r}: {type(e).__name__}: "
                  f"{str(e)[:200]!r}", file=sys.stderr)
            self._json(500, {"error": "internal error (the server's terminal says which)"})

    def do_GET(self) -> None:
        self._serve(self._get, state_changing=False)

    def do_POST(self) -> None:
        self._serve(self._post, state_changing=True)

    def _get(self, url: SplitResult) -> None:
        try:
            q = {k: v[0] for k, v in parse_qs(url.query, max_num_fields=16).items()}
        except ValueError:
            raise _Refused(400, "too many query parameters") from None
        if url.path in ("/", "/index.html"):
            self._csp = self.page_csp
            return self._send(200, _page(), "text/html; charset=utf-8")
        if url.path == "/api/items":
            f = dict(category=q.get("category") or None, language=q.get("language") or None)
            return self._json(200, {"items": self.db.list(status=q.get("status") or None, **f),
                                    "progress": self.db.progress(**f)})
        if url.path == "/api/meta":
            return self._json(200, self.db.meta())
        if url.path.startswith("/api/items/"):
            try:
                return self._json(200, self.db.get(unquote(url.path[len("/api/items/"):])))
            except UnknownItem:
                return self._json(404, {"error": "no such item"})
        self._json(404, {"error": "not found"})

    def _read_json(self) -> Any:
        if self.headers.get("Transfer-Encoding") is not None:
            raise _Refused(411, "send the body with a Content-Length (chunked bodies are not read)")
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            raise _Refused(411, "a Content-Length header is needed")
        if len(lengths) > 1 or not re.fullmatch(r"[0-9]{1,19}", lengths[0].strip()):
            raise _Refused(400, "Content-Length must be one non-negative integer")
        n = int(lengths[0])
        if n > MAX_BODY_BYTES:
            raise _Refused(413, f"the body is over {MAX_BODY_BYTES} bytes")
        self._body_read = True
        # one deadline for the whole body: a byte now and then would otherwise reset the socket's timeout forever
        deadline = time.monotonic() + 2 * self.timeout
        chunks, got = [], 0
        while got < n:
            try:
                chunk = self.rfile.read1(min(n - got, 1 << 16))
            except TimeoutError:
                chunk = None
            if chunk == b"":
                raise _Refused(400, "the body is shorter than its Content-Length")
            if chunk is None or time.monotonic() > deadline:
                raise _Refused(408, f"the body did not arrive within {2 * self.timeout:g} s")
            chunks.append(chunk)
            got += len(chunk)
        raw = b"".join(chunks)
        try:
            return json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise _Refused(400, f"the body is not valid UTF-8 (byte {e.start})") from None
        except RecursionError:
            raise _Refused(400, "the body nests too deeply") from None
        except ValueError as e:
            raise _Refused(400, f"the body is not JSON ({str(e)[:100]})") from None

    def _post(self, url: SplitResult) -> None:
        if not url.path.startswith("/api/items/"):
            return self._json(404, {"error": "not found"})
        # JSON only: a cross-site form cannot send it without a preflight this server never grants
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            return self._json(415, {"error": "send application/json"})
        body = self._read_json()
        if not isinstance(body, dict):
            return self._json(400, {"error": "the body must be a JSON object"})
        unknown = sorted(set(body) - set(DECISION_KEYS))
        if unknown:
            return self._json(400, {"error": f"unknown field(s) {', '.join(map(repr, unknown))[:200]} "
                                             f"(known: {', '.join(DECISION_KEYS)})"})
        if "version" not in body:
            return self._json(400, {"error": "the body needs an integer 'version'"})
        try:
            item = self.db.decide(unquote(url.path[len("/api/items/"):]), body.get("action"),
                                  version=body["version"], reviewer=body.get("reviewer", ""),
                                  response=body.get("response"))
        except UnknownItem:
            return self._json(404, {"error": "no such item"})
        except Conflict as e:
            return self._json(HTTPStatus.CONFLICT, {"error": str(e), "item": e.current})
        except ReviewError as e:
            return self._json(400, {"error": str(e)})
        self._json(200, item)


def check_host(host: str, allow_remote: bool) -> None:
    if not is_loopback(host) and not allow_remote:
        raise ReviewError(f"--host {host} is not a loopback address: anyone who can reach it could read and "
                          "approve items; add --allow-remote to serve it behind an access token")


def start_review_server(db: ReviewDB | str | os.PathLike, *, host: str = "127.0.0.1", port: int = 8765,
                        allow_remote: bool = False, token: str | None = None, timeout_s: float = 10.0,
                        ) -> tuple[ThreadingHTTPServer, threading.Thread, str]:
    """Serve the review page in a background thread; returns (server, thread, url). Stop with server.shutdown().

    A host that is not loopback needs `allow_remote` and always gets an access token (`token`, or a random
    one); the url then carries it as `#token=...`, which the page sends with every API request. `token`
    on loopback requires it there too. `timeout_s` bounds how long a client may stall mid-request."""
    check_host(host, allow_remote)
    if not is_loopback(host):
        token = token or secrets.token_urlsafe(32)
    if timeout_s <= 0:
        raise ReviewError(f"timeout_s must be positive, got {timeout_s}")
    rdb = db if isinstance(db, ReviewDB) else ReviewDB(db)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server_cls = type("ReviewServer", (ThreadingHTTPServer,), {"address_family": family, "daemon_threads": True})
    try:
        server = server_cls((host.strip("[]"), port), _Handler)
    except BaseException:
        if rdb is not db:
            rdb.close()
        raise
    bound_port = server.server_address[1]
    server.RequestHandlerClass = type("ReviewHandler", (_Handler,), {
        "db": rdb, "hosts": _allowed_hosts(host.strip("[]"), bound_port), "token": token,
        "page_csp": _page_csp(_page()), "timeout": timeout_s})
    # a short poll makes shutdown() return quickly; the cost is ten idle wake-ups a second
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="auroram-review",
                              daemon=True)
    thread.start()
    shown = socket.gethostname() if host in ("", "0.0.0.0", "::") else host.strip("[]")
    url = f"http://{_netloc(shown, bound_port)}/" + (f"#token={token}" if token else "")
    return server, thread, url


def serve_review(db_path: str | os.PathLike, *, items: str | os.PathLike | None = None, host: str = "127.0.0.1",
                 port: int = 8765, allow_remote: bool = False, trust_status: bool = False) -> None:
    """Blocking: import `items` (a built or loaded set's JSONL) if given, then serve until Ctrl-C."""
    from auroram.safety.items import read_items

    check_host(host, allow_remote)  # before the database is touched: a refused start writes nothing
    remote = not is_loopback(host)
    rdb = ReviewDB(db_path)
    try:
        if items is not None:
            r = rdb.import_items(read_items(items), trust_status=trust_status)
            how = "with the review status in the file" if trust_status else "as pending"
            print(f"imported {r['added']} new items {how} ({r['kept']} already in {db_path} keep their "
                  f"review state)")
        token = secrets.token_urlsafe(32) if remote else None
        if remote:
            print(f"warning: serving on {host}, not loopback: anyone on the network who has the URL below can "
                  f"read and decide items, over unencrypted HTTP", file=sys.stderr)
        server, thread, url = start_review_server(rdb, host=host, port=port, allow_remote=allow_remote,
                                                  token=token)
    except BaseException:
        rdb.close()
        raise
    p = rdb.progress()
    print(f"review {p['total']} items ({p['pending']} pending) at {url}  (Ctrl-C to stop; decisions are saved "
          f"as they are made)")
    try:
        thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
        rdb.close()
