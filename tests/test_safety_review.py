"""Review state: versioned decisions, 409 on stale writes over HTTP, restarts, export of approved items."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from auroram.safety.build import generate_items
from auroram.safety.review import Conflict, ReviewDB, ReviewError, export_approved, start_review_server
from auroram.safety.stage import eval_items, prepare_safety


def _post(url: str, body: dict, ctype: str = "application/json") -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


@pytest.fixture()
def db(tmp_path):
    d = ReviewDB(tmp_path / "review.db")
    d.import_items(generate_items()[:40])
    yield d
    d.close()


def test_decisions_are_versioned_and_stale_ones_refused(db):
    iid = db.list()[0]["id"]
    first = db.decide(iid, "approve", version=1, reviewer="ann")
    assert first["status"] == "approved" and first["version"] == 2 and first["reviewer"] == "ann"
    with pytest.raises(Conflict) as e:
        db.decide(iid, "reject", version=1, reviewer="bob")
    assert e.value.current["reviewer"] == "ann" and db.get(iid)["status"] == "approved"
    edited = db.decide(iid, "edit", version=2, reviewer="bob", response="I can't help, because it hurts people.")
    assert edited["edited"] == 1 and edited["response"].startswith("I can't") and edited["version"] == 3
    assert edited["original_response"] != edited["response"]
    with pytest.raises(ReviewError, match="reviewer name"):
        db.decide(iid, "approve", version=3, reviewer="  ")
    with pytest.raises(ReviewError, match="unknown action"):
        db.decide(iid, "publish", version=3, reviewer="ann")
    with pytest.raises(KeyError):
        db.decide("no-such-id", "approve", version=1, reviewer="ann")


def test_http_conflict_is_409_and_restart_keeps_decisions(tmp_path, db):
    server, _t, url = start_review_server(db, port=0)
    try:
        iid = db.list()[3]["id"]
        s, body = _post(f"{url}api/items/{iid}", {"action": "reject", "version": 1, "reviewer": "ann"})
        assert s == 200 and body["status"] == "rejected"
        s, body = _post(f"{url}api/items/{iid}", {"action": "approve", "version": 1, "reviewer": "bob"})
        assert s == 409 and body["item"]["status"] == "rejected" and "version 2" in body["error"]
        s, _ = _post(f"{url}api/items/{iid}", {"action": "approve", "version": 2, "reviewer": "bob"}, "text/plain")
        assert s == 415  # only JSON: a cross-site form post cannot decide anything
        s, body = _post(f"{url}api/items/{iid}", {"action": "approve", "reviewer": "bob"})
        assert s == 400
        with urllib.request.urlopen(f"{url}api/items?language=en&status=rejected", timeout=10) as r:
            listing = json.load(r)
        assert [x["id"] for x in listing["items"]] == [iid] and listing["progress"]["rejected"] == 1
    finally:
        server.shutdown()
        server.server_close()
    db.close()
    again = ReviewDB(tmp_path / "review.db")
    try:
        assert again.get(iid)["status"] == "rejected" and again.progress()["reviewed"] == 1
        # importing the same set again keeps the decision
        assert again.import_items(generate_items()[:40]) == {"added": 0, "kept": 40}
        assert again.get(iid)["status"] == "rejected"
    finally:
        again.close()


def test_only_approved_train_items_are_exported(tmp_path, db):
    rows = db.list()
    train = [r for r in rows if r["split"] == "train"]
    held = [r for r in rows if r["split"] == "heldout"]
    db.decide(train[0]["id"], "approve", version=1, reviewer="ann")
    db.decide(train[1]["id"], "reject", version=1, reviewer="ann")
    db.decide(held[0]["id"], "approve", version=1, reviewer="ann")
    out = tmp_path / "approved.jsonl"
    res = export_approved(db, out)
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert res["items"] == 1 and [r["id"] for r in recs] == [train[0]["id"]]
    assert set(recs[0]) >= {"prompt", "response"} and recs[0]["review_status"] == "approved"


def test_demo_auto_approval_is_marked(tmp_path):
    info = prepare_safety(tmp_path / "safety", seed=3, demo=True)
    recs = [json.loads(x) for x in open(info["approved_jsonl"], encoding="utf-8")]
    assert len(recs) == info["exported"]["items"] > 3000
    assert {r["review_status"] for r in recs} == {"auto-approved (demo)"}
    assert {r["reviewer"] for r in recs} == {"auroram demo"}
    # a second run keeps state (nothing new to approve) and evaluation sees only held-out items
    again = prepare_safety(tmp_path / "safety", seed=3, demo=True)
    assert again["auto_approved_demo"] == 0 and again["imported"]["added"] == 0
    held = eval_items(tmp_path / "safety")
    assert held and {it["split"] for it in held} == {"heldout"}


def test_without_demo_nothing_is_exported_until_reviewed(tmp_path):
    with pytest.raises(ValueError, match="no approved train items"):
        prepare_safety(tmp_path / "safety", seed=3, demo=False)
