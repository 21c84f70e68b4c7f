"""The review page in a real headless Chromium, driven by keyboard events only (Chrome DevTools protocol
over --remote-debugging-pipe, so no websocket client is needed). Needs Debian's chromium:
`apt-get install -y chromium`. Chromium runs as root here, hence --no-sandbox."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from auroram.safety.build import generate_items
from auroram.safety.review import ReviewDB, start_review_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)")


class Browser:
    """Minimal CDP client: JSON messages separated by NUL bytes on fds 3 (to chromium) and 4 (from it)."""

    def __init__(self, profile: Path):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def fds() -> None:  # in the child: chromium reads commands on fd 3 and writes answers on fd 4
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        # close_fds would also close 3 and 4 after dup2; Python's own fds are non-inheritable, so none leak

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-dev-shm-usage", "--no-first-run", "--remote-debugging-pipe", f"--user-data-dir={profile}",
             "about:blank"],
            preexec_fn=fds, close_fds=False, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        os.set_blocking(self._from_chrome, False)
        self._buf = b""
        self._n = 0
        self.session: str | None = None

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            if time.monotonic() > deadline:
                raise TimeoutError("chromium did not answer in time")
            try:
                chunk = os.read(self._from_chrome, 1 << 16)
            except BlockingIOError:
                time.sleep(0.01)
                continue
            if not chunk:
                raise RuntimeError("chromium closed the debugging pipe")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def cmd(self, method: str, timeout_s: float = 20.0, session: bool = True, **params) -> dict:
        self._n += 1
        msg = {"id": self._n, "method": method, "params": params}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout_s
        while True:
            m = self._read(deadline)
            if m.get("id") == self._n:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})

    def open(self, url: str) -> None:
        tid = self.cmd("Target.createTarget", session=False, url="about:blank")["targetId"]
        self.session = self.cmd("Target.attachToTarget", session=False, targetId=tid, flatten=True)["sessionId"]
        self.navigate(url)

    def navigate(self, url: str) -> None:
        self.cmd("Page.navigate", url=url)
        self.wait("document.body && document.body.dataset.ready === '1'")

    def js(self, expr: str):
        r = self.cmd("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        return r.get("result", {}).get("value")

    def wait(self, expr: str, timeout_s: float = 15.0):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            v = self.js(expr)
            if v:
                return v
            time.sleep(0.05)
        raise TimeoutError(f"page never satisfied: {expr}")

    def key(self, key: str, *, ctrl: bool = False) -> None:
        named = {"Enter": 13, "Escape": 27, "ArrowRight": 39, "ArrowLeft": 37}
        code = named[key] if key in named else ord(key.upper())
        text = {"Enter": "\r", "Escape": ""}.get(key, key if len(key) == 1 else "")
        common = {"key": key, "windowsVirtualKeyCode": code, "modifiers": 2 if ctrl else 0,
                  "code": "Enter" if key == "Enter" else ("Key" + key.upper() if len(key) == 1 else key)}
        self.cmd("Input.dispatchKeyEvent", type="keyDown", text="" if ctrl else text, **common)
        self.cmd("Input.dispatchKeyEvent", type="keyUp", **common)

    def type(self, text: str) -> None:
        self.cmd("Input.insertText", text=text)

    def close(self) -> None:
        try:
            self.cmd("Browser.close", session=False, timeout_s=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        os.close(self._to_chrome)
        os.close(self._from_chrome)


def _items() -> list[dict]:
    # four English and two Finnish items, so the language filter has something to narrow
    all_items = generate_items(seed=1)
    en = [it for it in all_items if it["language"] == "en" and it["category"] == "cyber"][:4]
    fi = [it for it in all_items if it["language"] == "fi" and it["category"] == "cyber"][:2]
    return en + fi


def test_review_page_by_keyboard_alone(tmp_path):
    db_path = tmp_path / "review.db"
    db = ReviewDB(db_path)
    items = _items()
    db.import_items(items)
    server, _thread, url = start_review_server(db, port=0)
    browser = Browser(tmp_path / "profile")
    try:
        browser.open(url)
        progress = "document.getElementById('progress').textContent"
        current = "document.getElementById('meta').dataset.id"
        assert browser.js(progress).startswith("0 / 6 reviewed")
        # the inline stylesheet and script both run under the page's Content-Security-Policy
        assert browser.js("getComputedStyle(document.querySelector('header')).display") == "flex"
        # the page starts in the reviewer box: type a name, Enter
        assert browser.js("document.activeElement.id") == "reviewer"
        browser.type("alice")
        browser.key("Enter")
        assert browser.js(current) == items[0]["id"]

        browser.key("a")  # approve item 1, moves to item 2
        browser.wait(f"{progress}.startsWith('1 / 6')")
        browser.wait(f"{current} === {json.dumps(items[1]['id'])}")
        browser.key("r")  # reject item 2
        browser.wait(f"{progress}.startsWith('2 / 6')")
        browser.wait(f"{current} === {json.dumps(items[2]['id'])}")
        browser.key("e")  # edit item 3, save with Ctrl+Enter
        browser.wait("document.activeElement.id === 'response'")
        browser.type("EDITED BY KEYBOARD. ")
        browser.key("Enter", ctrl=True)
        browser.wait(f"{progress}.startsWith('3 / 6')")

        got = {i["id"]: db.get(i["id"]) for i in items[:3]}
        assert got[items[0]["id"]]["status"] == "approved" and got[items[0]["id"]]["reviewer"] == "alice"
        assert got[items[1]["id"]]["status"] == "rejected"
        assert "EDITED BY KEYBOARD." in got[items[2]["id"]]["response"] and got[items[2]["id"]]["edited"] == 1
        assert got[items[0]["id"]]["reviewed_at"]

        # a second reviewer changes item 4 while the page still shows version 1: the page's write is refused
        browser.wait(f"{current} === {json.dumps(items[3]['id'])}")
        db.decide(items[3]["id"], "reject", version=1, reviewer="bob")
        browser.key("a")
        browser.wait("document.getElementById('msg').textContent.includes('someone else changed')")
        after = db.get(items[3]["id"])
        assert after["status"] == "rejected" and after["reviewer"] == "bob"  # not silently overwritten
        assert browser.js("document.getElementById('meta').dataset.status") == "rejected"  # page shows the truth

        # j/k move without deciding
        browser.key("k")
        browser.wait(f"{current} === {json.dumps(items[2]['id'])}")
        browser.key("j")
        browser.wait(f"{current} === {json.dumps(items[3]['id'])}")

        # restart the server on the same database and port: every decision is still there
        port = server.server_address[1]
        server.shutdown()
        server.server_close()
        db.close()
        db = ReviewDB(db_path)
        server, _thread, url = start_review_server(db, port=port)
        browser.navigate(url)
        assert browser.js("document.getElementById('reviewer').value") == "alice"  # remembered by the page
        assert browser.js(progress).startswith("4 / 6 reviewed")
        assert "2 approved" in browser.js(progress) and "2 rejected" in browser.js(progress)

        # the language filter by keyboard: en, then fi
        browser.key("l")
        browser.wait(f"{progress}.includes('/ 4 reviewed')")
        browser.key("l")
        browser.wait(f"{progress}.startsWith('0 / 2 reviewed')")
        browser.wait(f"{current}.startsWith('fi-')")  # the item arrives by its own request, after the counts
        assert browser.js(current).startswith("fi-")
    finally:
        browser.close()
        server.shutdown()
        server.server_close()
        db.close()


def test_review_page_with_an_access_token(tmp_path):
    db = ReviewDB(tmp_path / "review.db")
    items = _items()
    db.import_items(items)
    server, _thread, url = start_review_server(db, port=0, token="browser-test-token")
    browser = Browser(tmp_path / "profile")
    try:
        assert "#token=" in url
        browser.open(url)  # the page reads the token from its URL's fragment and sends it with every request
        assert browser.js("document.getElementById('progress').textContent").startswith("0 / 6 reviewed")
        browser.type("carol")
        browser.key("Enter")
        browser.key("a")
        browser.wait("document.getElementById('progress').textContent.startsWith('1 / 6')")
        assert db.get(items[0]["id"])["status"] == "approved" and db.get(items[0]["id"])["reviewer"] == "carol"

        # without the token the page loads but the server answers nothing, and says why
        browser.cmd("Page.navigate", url=url.split("#")[0] + "?again")
        browser.wait("document.getElementById('msg').textContent.includes('token')")
        assert not browser.js("document.body.dataset.ready")
    finally:
        browser.close()
        server.shutdown()
        server.server_close()
        db.close()
