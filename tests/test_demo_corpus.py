import json
import os
import random
import struct
import subprocess
from pathlib import Path

import pytest

from auroram.data import demo, extract
from auroram.outputs import MARKER

HELP_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>t</title>
<script>var x = "<p id='js'>not text</p>";</script></head>
<body>
<header><p id="par_head">Outside the display area</p></header>
<div id="DisplayArea" itemprop="softwareHelp">
<meta itemprop="keywords" content="ignored">
<h1 id="hd_1">Makrojen   turvallisuus</h1>
<p id="par_1">Avaa <span class="switchinline"><span hidden="true" id="MACx_1" class="MAC">Asetukset</span><span
 hidden="true" id="defaultx_1">Työkalut - Asetukset</span></span> ja valitse.</p>
<p class="embedded">A paragraph without an id</p>
<ol><li><p id="par_2">Ensimmäinen<br>askel</p></li></ol>
<table><tr><td id="td_1">Solu</td><td><p id="par_3">Sisempi</p></td></tr></table>
<p id="par_untranslated">Choose Tools - Options.</p>
<div><p id="par_empty">   </p></div>
</div>
<footer><p id="par_foot">This page is: text/shared/foo.xhp</p></footer>
</body></html>
"""


def test_help_paragraphs_reads_only_elements_with_an_id_inside_display_area():
    paragraphs = extract.help_paragraphs(HELP_PAGE)
    assert paragraphs == [
        ("hd_1", "Makrojen turvallisuus"),
        ("par_1", "Avaa Työkalut - Asetukset ja valitse."),  # the default variant, not the hidden Mac one
        ("par_2", "Ensimmäinen askel"),
        ("td_1", "Solu"),
        ("par_3", "Sisempi"),
        ("par_untranslated", "Choose Tools - Options."),
    ]


def test_translated_page_drops_paragraphs_identical_to_english():
    english = {"par_untranslated": "Choose Tools - Options.", "par_1": "Open Tools - Options and choose."}
    kept = extract.drop_untranslated(extract.help_paragraphs(HELP_PAGE), english)
    ids = [pid for pid, _ in kept]
    assert "par_untranslated" not in ids
    assert "par_1" in ids  # translated: differs from the English text with the same id


def _mo_file(entries: list[tuple[bytes, bytes]]) -> bytes:
    """A little-endian GNU .mo with the given (msgid, msgstr) pairs, header entry first."""
    entries = sorted(entries)
    n = len(entries)
    originals_at, translations_at = 28, 28 + 8 * n
    blob_at = translations_at + 8 * n
    blob = b""
    original_table = translation_table = b""
    for msgid, _ in entries:
        original_table += struct.pack("<2I", len(msgid), blob_at + len(blob))
        blob += msgid + b"\x00"
    for _, msgstr in entries:
        translation_table += struct.pack("<2I", len(msgstr), blob_at + len(blob))
        blob += msgstr + b"\x00"
    header = struct.pack("<7I", 0x950412DE, 0, n, originals_at, translations_at, 0, 0)
    return header + original_table + translation_table + blob


def test_mo_strings_reads_translations_and_skips_the_header():
    data = _mo_file(
        [
            (b"", b"Content-Type: text/plain; charset=UTF-8\n"),
            (b"STR_OPEN\x04~Open", "~खोलें".encode()),
            (b"file\x00files", "फ़ाइल\x00फ़ाइलें".encode()),
        ]
    )
    strings = extract.mo_strings(data)
    assert sorted(strings) == sorted(["~खोलें", "फ़ाइल", "फ़ाइलें"])
    assert extract.clean_ui_string("~खोलें") == "खोलें"
    assert extract.clean_ui_string("पृष्ठ शैली (_y)") == "पृष्ठ शैली"
    assert extract.clean_ui_string("_Open file_name") == "Open file_name"


def test_mo_strings_rejects_other_files():
    with pytest.raises(ValueError, match="not a .mo file"):
        extract.mo_strings(b"\x00" * 64)


def test_language_filter_keeps_only_the_target_language():
    finnish = "Tämä valintaikkuna tulee esille, kun asiakirjassa on yksi tai useampia makroja."
    english = "This dialog appears when a document contains one or more macros."
    lid = extract.LanguageFilter()
    assert lid.keep([finnish, english], "fi") == [finnish]
    assert lid.keep([finnish, english], "en") == [english]


def test_hindi_keeps_devanagari_paragraphs():
    assert extract.devanagari_share("फ़ाइल खोलें") == 1.0
    assert extract.devanagari_share("Open the file") == 0.0


def test_man_paragraphs_drop_running_header_and_footer():
    pad = " " * 900
    rendered = (
        f"LS(1){pad}User Commands{pad}LS(1)\n\n"
        "NAME\n       ls - list\n\n       more text   \n\n"
        f"GNU{pad}2022{pad}LS(1)\n"
    )
    assert extract.man_paragraphs(rendered) == ["NAME\n       ls - list", "more text"]


def test_book_sections_split_on_headings_and_drop_the_table_of_contents():
    book = (
        "Title\n\nTable of Contents\n\n1. Tutorials\n    1.1. Basics\n    1.2. A very long title that\n"
        "        wraps\n\n1.1.\u00a0Basics\n\n    The shell is a program.\n\n"
        "1.2. Next\n\n    More text.\n"
    )
    sections = extract.book_sections(book)
    assert [heading for heading, _ in sections] == ["front matter", "1.1. Basics", "1.2. Next"]
    assert sections[1][1] == ["1.1. Basics", "The shell is a program."]


def test_stdlib_docs_skip_tests_and_site_packages(tmp_path):
    for rel in ["json/decoder.py", "json/tests/test_x.py", "test/test_y.py", "site-packages/pkg/m.py",
                "idlelib/run.py", "abc.py", "notes.txt"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x = 1\n")
    ids = [doc.id for doc in demo.stdlib_docs(tmp_path)]
    assert ids == ["python-stdlib:abc.py", "python-stdlib:json/decoder.py"]


def test_val_split_is_deterministic_and_has_at_least_min_val_docs():
    ids = [f"pkg:page{i}.html" for i in range(1000)]
    first = demo.val_ids(ids, val_fraction=0.01, min_val_docs=20, seed=0)
    shuffled = ids[:]
    random.Random(1).shuffle(shuffled)
    assert demo.val_ids(shuffled, val_fraction=0.01, min_val_docs=20, seed=0) == first
    assert len(first) == 20
    assert len(demo.val_ids(ids, val_fraction=0.05, min_val_docs=20, seed=0)) == 50
    assert demo.val_ids(ids, val_fraction=0.01, min_val_docs=20, seed=1) != first


def _docs(domain: str, n: int, source: str = "pkg") -> list[dict]:
    return [{"id": f"{source}:{domain}/{i}", "text": f"{domain} document {i}", "source": source} for i in range(n)]


SOURCES = [
    {"domain": "fi", "package": "pkg-fi", "version": "1.0", "license": "GPL-3+"},
    {"domain": "code", "package": "python-stdlib", "version": "3.11.7", "license": "PSF-2.0"},
]


def test_write_corpus_writes_splits_and_manifest(tmp_path):
    docs = {"fi": _docs("fi", 100, "pkg-fi"), "code": _docs("code", 30, "python-stdlib")}
    corpus = demo.write_corpus(docs, SOURCES, tmp_path, val_fraction=0.05, min_val_docs=10, seed=0)
    assert corpus == tmp_path / "corpus"

    train, val = demo.load_split(corpus, "fi", "train"), demo.load_split(corpus, "fi", "val")
    assert len(val) == 10 and len(train) == 90
    assert {d["id"] for d in train}.isdisjoint(d["id"] for d in val)
    assert set(train[0]) == {"id", "text", "source"}

    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["format"] == 1
    assert manifest["python"]
    assert manifest["domains"]["fi"]["val"]["documents"] == 10
    fi_bytes = sum(len(d["text"].encode()) for d in docs["fi"])
    split_bytes = manifest["domains"]["fi"]["train"]["bytes"] + manifest["domains"]["fi"]["val"]["bytes"]
    assert split_bytes == fi_bytes
    assert manifest["sources"][0] == {**SOURCES[0], "documents": 100, "bytes": fi_bytes}
    assert demo.manifest_complete(tmp_path)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".") and p.name != MARKER] == []  # no temporaries

    again = demo.write_corpus(docs, SOURCES, tmp_path / "again", val_fraction=0.05, min_val_docs=10, seed=0)
    assert (again / "fi" / "val.jsonl").read_bytes() == (corpus / "fi" / "val.jsonl").read_bytes()


def test_failed_write_keeps_the_old_corpus_and_marks_the_build_incomplete(tmp_path):
    demo.write_corpus({"fi": _docs("fi", 40, "pkg-fi")}, SOURCES, tmp_path, min_val_docs=5)
    before = (tmp_path / "corpus" / "fi" / "train.jsonl").read_bytes()

    def broken():
        yield from _docs("fi", 3, "pkg-fi")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        demo.write_corpus({"fi": broken()}, SOURCES, tmp_path)
    assert (tmp_path / "corpus" / "fi" / "train.jsonl").read_bytes() == before
    assert not demo.manifest_complete(tmp_path)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".") and p.name != MARKER] == []


def test_write_corpus_rejects_repeated_ids(tmp_path):
    docs = _docs("fi", 5) + _docs("fi", 1)
    with pytest.raises(ValueError, match="unique"):
        demo.write_corpus({"fi": docs}, SOURCES, tmp_path)
    assert not (tmp_path / "manifest.json").exists()


def test_build_returns_cached_corpus_and_rebuilds_on_force(tmp_path, monkeypatch):
    demo.write_corpus({"fi": _docs("fi", 40, "pkg-fi")}, SOURCES, tmp_path, min_val_docs=5)

    def no_collect(*args, **kwargs):
        raise AssertionError("a complete corpus must not be rebuilt")

    monkeypatch.setattr(demo, "collect", no_collect)
    assert demo.build_demo_corpus(tmp_path, progress=False) == tmp_path / "corpus"

    monkeypatch.setattr(demo, "require_tools", lambda: None)
    monkeypatch.setattr(demo, "collect", lambda out_dir, bars: ({"fi": _docs("fi", 60, "pkg-fi")}, SOURCES, None))
    demo.build_demo_corpus(tmp_path, progress=False, force=True, min_val_docs=5)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["domains"]["fi"]["train"]["documents"] == 55


def test_missing_apt_lists_tell_the_user_to_run_apt_get_update(tmp_path, monkeypatch):
    def apt(cmd, **kwargs):
        assert cmd[:2] == ["apt-get", "download"]
        assert Path(kwargs["cwd"]).parent == tmp_path / "debs"
        return subprocess.CompletedProcess(cmd, 100, "", "E: Unable to locate package libreoffice-help-fi\n")

    monkeypatch.setattr(demo, "_run", apt)
    monkeypatch.setattr(demo, "require_tools", lambda: None)
    with pytest.raises(demo.DemoCorpusError, match=r"apt-get update.*auroram data demo") as err:
        demo.build_demo_corpus(tmp_path, progress=False)
    assert "\n" not in str(err.value)
    assert list((tmp_path / "debs").glob("*.deb")) == []


def test_missing_man_tools_name_the_packages_to_install(monkeypatch):
    real_which = demo.shutil.which
    monkeypatch.setattr(demo.shutil, "which", lambda tool: None if tool == "col" else real_which(tool) or tool)
    with pytest.raises(demo.DemoCorpusError, match="apt-get install man-db groff-base bsdextrautils"):
        demo.require_tools()


def test_load_split_names_file_and_line_of_bad_json(tmp_path):
    (tmp_path / "fi").mkdir()
    (tmp_path / "fi" / "train.jsonl").write_text('{"id": "a", "text": "x", "source": "s"}\n{"id": \n')
    with pytest.raises(ValueError, match=r"train\.jsonl: line 2"):
        demo.load_split(tmp_path, "fi", "train")


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("AURORAM_TEST_DEMO") != "1", reason="set AURORAM_TEST_DEMO=1 (needs apt, ~2 min)")
def test_real_demo_corpus_builds(tmp_path):
    out_dir = Path(os.environ.get("AURORAM_DEMO_DIR", tmp_path))
    corpus = demo.build_demo_corpus(out_dir, progress=False)
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert set(manifest["domains"]) == set(demo.DOMAINS)
    for domain, splits in manifest["domains"].items():
        assert splits["val"]["documents"] >= 20, domain
        assert splits["train"]["bytes"] > 500_000, domain
        assert demo.load_split(corpus, domain, "val")
    assert all(s["version"] and s["license"] for s in manifest["sources"])
