"""`auroram safety review`: people approve, edit or reject safety items one by one.

State lives in SQLite (one file, committed on every decision, so a restart loses nothing). Every item
has a version; a decision names the version it was made on, and a decision on an older version is
refused (HTTP 409) instead of overwriting what another reviewer did. Only approved items are exported
for the CAT mixture. The page is served on loopback by the standard library's http.server.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import parse_qs, unquote, urlparse

from auroram.errors import AuroramError
from auroram.io import atomic_file
from auroram.safety.items import APPROVED, DEMO_APPROVED, FIELDS, PENDING, REJECTED
from auroram.safety.taxonomy import category_names

ACTIONS = {"approve": APPROVED, "reject": REJECTED, "edit": APPROVED}  # an edit saves and approves the new text
EXPORTED = (APPROVED, DEMO_APPROVED)

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
    """A review request is invalid (unknown item or action, no reviewer name)."""


class Conflict(RuntimeError):
    """The item changed since the reviewer loaded it; `current` is what it is now."""

    def __init__(self, current: dict[str, Any]):
        super().__init__(f"item '{current['id']}' is at version {current['version']} "
                         f"(changed by {current.get('reviewer') or 'someone'} at {current.get('reviewed_at')})")
        self.current = current


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


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

    def import_items(self, items: Iterable[dict[str, Any]]) -> dict[str, int]:
        """Add items not yet in the database; items already there keep their review state."""
        added = kept = 0
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                seq = self.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM items").fetchone()[0]
                for it in items:
                    seq += 1
                    cur = self.conn.execute(
                        "INSERT OR IGNORE INTO items (id, seq, category, language, kind, prompt, response, "
                        "original_response, source, split, status) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                        (it["id"], seq, it["category"], it["language"], it["kind"], it["prompt"], it["response"],
                         it["response"], it["source"], it["split"], it.get("review_status") or PENDING))
                    if cur.rowcount:
                        added += 1
                    else:
                        kept += 1
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
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
            raise KeyError(item_id)
        return dict(row)

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
        if action not in ACTIONS:
            raise ReviewError(f"unknown action '{action}' (known: {', '.join(ACTIONS)})")
        reviewer = (reviewer or "").strip()
        if not reviewer:
            raise ReviewError("a reviewer name is needed")
        if action == "edit" and (response is None or not response.strip()):
            raise ReviewError("an edit needs the new response text")
        at = _now()
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                if action == "edit":
                    cur = self.conn.execute(
                        "UPDATE items SET response = ?, edited = 1, status = ?, reviewer = ?, reviewed_at = ?, "
                        "version = version + 1 WHERE id = ? AND version = ?",
                        (response, ACTIONS[action], reviewer, at, item_id, int(version)))
                else:
                    cur = self.conn.execute(
                        "UPDATE items SET status = ?, reviewer = ?, reviewed_at = ?, version = version + 1 "
                        "WHERE id = ? AND version = ?", (ACTIONS[action], reviewer, at, item_id, int(version)))
                if cur.rowcount == 0:
                    row = self.conn.execute("SELECT * FROM items WHERE id = ?", (item_id,)).fetchone()
                    self.conn.execute("ROLLBACK")
                    if row is None:
                        raise KeyError(item_id)
                    raise Conflict(dict(row))
                self.conn.execute("INSERT INTO decisions (item_id, action, reviewer, at, version, response) "
                                  "VALUES (?,?,?,?,?,?)", (item_id, action, reviewer, at, int(version) + 1,
                                                           response if action == "edit" else None))
                self.conn.execute("COMMIT")
            except sqlite3.Error:
                self.conn.execute("ROLLBACK")
                raise
        return self.get(item_id)

    def auto_approve(self, reviewer: str = "auroram demo") -> int:
        """Demo only: every pending item becomes 'auto-approved (demo)', so nobody mistakes it for review."""
        at = _now()
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            ids = [r[0] for r in self.conn.execute("SELECT id FROM items WHERE status = ?", (PENDING,))]
            self.conn.execute("UPDATE items SET status = ?, reviewer = ?, reviewed_at = ?, version = version + 1 "
                              "WHERE status = ?", (DEMO_APPROVED, reviewer, at, PENDING))
            self.conn.executemany("INSERT INTO decisions (item_id, action, reviewer, at, version) "
                                  "SELECT id, 'auto-approve', ?, ?, version FROM items WHERE id = ?",
                                  [(reviewer, at, i) for i in ids])
            self.conn.execute("COMMIT")
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


class _Handler(BaseHTTPRequestHandler):
    db: ReviewDB  # set on the subclass made per server
    server_version = "auroram-review"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the terminal shows only the URL
        pass

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")

    def do_GET(self) -> None:
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path in ("/", "/index.html"):
            return self._send(200, _page(), "text/html; charset=utf-8")
        if url.path == "/api/items":
            f = dict(category=q.get("category") or None, language=q.get("language") or None)
            return self._json(200, {"items": self.db.list(status=q.get("status") or None, **f),
                                    "progress": self.db.progress(**f)})
        if url.path == "/api/meta":
            with self.db.lock:
                langs = [r[0] for r in self.db.conn.execute("SELECT DISTINCT language FROM items ORDER BY 1")]
                cats = [r[0] for r in self.db.conn.execute("SELECT DISTINCT category FROM items ORDER BY 1")]
            return self._json(200, {"languages": langs, "categories": cats, "category_names": category_names(),
                                    "statuses": [PENDING, APPROVED, REJECTED, DEMO_APPROVED]})
        if url.path.startswith("/api/items/"):
            try:
                return self._json(200, self.db.get(unquote(url.path[len("/api/items/"):])))
            except KeyError:
                return self._json(404, {"error": "no such item"})
        self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        url = urlparse(self.path)
        if not url.path.startswith("/api/items/"):
            return self._json(404, {"error": "not found"})
        # JSON only: a cross-site form cannot send it without a preflight this server never grants
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            return self._json(415, {"error": "send application/json"})
        try:
            n = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(min(n, 1 << 20)) or b"{}")
            if not isinstance(body, dict) or not isinstance(body.get("version"), int):
                raise ValueError("body needs an integer 'version'")
            item = self.db.decide(unquote(url.path[len("/api/items/"):]), str(body.get("action")),
                                  version=body["version"], reviewer=str(body.get("reviewer") or ""),
                                  response=body.get("response"))
        except KeyError:
            return self._json(404, {"error": "no such item"})
        except Conflict as e:
            return self._json(HTTPStatus.CONFLICT, {"error": str(e), "item": e.current})
        except (ValueError, ReviewError) as e:
            return self._json(400, {"error": str(e)})
        self._json(200, item)


def start_review_server(db: ReviewDB | str | os.PathLike, *, host: str = "127.0.0.1", port: int = 8765,
                        ) -> tuple[ThreadingHTTPServer, threading.Thread, str]:
    """Serve the review page in a background thread; returns (server, thread, url). Stop with server.shutdown()."""
    rdb = db if isinstance(db, ReviewDB) else ReviewDB(db)
    handler = type("ReviewHandler", (_Handler,), {"db": rdb})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="auroram-review", daemon=True)
    thread.start()
    return server, thread, f"http://{host}:{server.server_address[1]}/"


def serve_review(db_path: str | os.PathLike, *, items: str | os.PathLike | None = None, host: str = "127.0.0.1",
                 port: int = 8765) -> None:
    """Blocking: import `items` (a built or loaded set's JSONL) if given, then serve until Ctrl-C."""
    from auroram.safety.items import read_items

    rdb = ReviewDB(db_path)
    if items is not None:
        r = rdb.import_items(read_items(items))
        print(f"imported {r['added']} new items ({r['kept']} already in {db_path} keep their review state)")
    server, thread, url = start_review_server(rdb, host=host, port=port)
    p = rdb.progress()
    print(f"review {p['total']} items ({p['pending']} pending) at {url}  (Ctrl-C to stop; decisions are saved "
          f"as they are made)")
    try:
        thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        rdb.close()
