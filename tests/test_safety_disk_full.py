"""A full disk while the review database is written is a one-line error naming the database."""

from __future__ import annotations

import sqlite3

import pytest

from auroram.io import DiskFullError
from auroram.safety import stage
from auroram.safety.review import ReviewDB


def test_full_disk_in_the_review_database_names_it(tmp_path, monkeypatch):
    def full(self, items):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(ReviewDB, "import_items", full)
    with pytest.raises(DiskFullError) as e:
        stage.prepare_safety(tmp_path / "safety", demo=True)
    msg = str(e.value)
    assert "no space left on device" in msg and "review.db" in msg and "\n" not in msg
