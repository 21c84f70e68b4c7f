"""The demo's own instruction sets, built offline from the demo corpus's train split.

Four kinds of question, each answered from the text of one training document (its `origin`):
    man       "what does command X do?"  answered by the man page's NAME line (+ the first DESCRIPTION
              paragraph when there is one)                                        fi, ja, vi
    help      a how-to question on a LibreOffice help page's title, answered by the paragraphs after it
                                                                                  en, fi, hi, ja, vi
    guide     "explain this section" on a Debian book section (Debian Reference, Maintainers' Guide)
                                                                                  en, vi
    function  "write a Python function that ..." answered by a standard-library function with its
              docstring (found with `ast`)                                        code

As in Aurora-M, lower-quality pairs (short or one-line answers, bare templates) go to CAP and the
higher-quality ones (answers of several sentences, functions with a documented contract) to CAT.
Output, in the `messages` format that `format: messages` reads:
    out_dir/cap/<lang>.jsonl, out_dir/cat/<lang>.jsonl, out_dir/manifest.json (written last)
"""

from __future__ import annotations

import ast
import json
import re
import zlib
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from auroram.io import atomic_dir, sha256_file, write_json

LANGS = ("en", "fi", "hi", "ja", "vi", "code")

# Question templates, written for this project. Two per kind where the language allows, picked by a
# stable hash of the origin so the set is the same on every machine.
MAN_COMMAND = {
    "en": ["What does the command `{cmd}` do?", "What is `{cmd}` used for?"],
    "fi": ["Mitä komento `{cmd}` tekee?", "Mihin komentoa `{cmd}` käytetään?"],
    "hi": ["कमांड `{cmd}` क्या करता है?", "`{cmd}` का उपयोग किस लिए होता है?"],
    "ja": ["コマンド `{cmd}` は何をしますか？", "`{cmd}` は何に使いますか？"],
    "vi": ["Lệnh `{cmd}` làm gì?", "Lệnh `{cmd}` dùng để làm gì?"],
}
MAN_OTHER = {  # sections other than commands: files, functions, conventions
    "en": ["What is `{cmd}`?"],
    "fi": ["Mikä on `{cmd}`?"],
    "hi": ["`{cmd}` क्या है?"],
    "ja": ["`{cmd}` とは何ですか？"],
    "vi": ["`{cmd}` là gì?"],
}
HELP = {
    "en": ["What does the LibreOffice help say about “{title}”?", "In LibreOffice, how do I go about this: {title}?"],
    "fi": ["Mitä LibreOfficen ohje kertoo aiheesta ”{title}”?", "Miten tämä tehdään LibreOfficessa: {title}?"],
    "hi": ["LibreOffice सहायता “{title}” के बारे में क्या बताती है?", "LibreOffice में यह कैसे करें: {title}?"],
    "ja": ["LibreOffice のヘルプでは「{title}」について何と説明していますか？",
           "LibreOffice で「{title}」はどうすればよいですか？"],
    "vi": ["Trợ giúp LibreOffice nói gì về “{title}”?", "Trong LibreOffice, làm thế nào để: {title}?"],
}
GUIDE = {
    "en": ["Explain the section “{title}” of {book}.", "What does {book} cover under “{title}”?"],
    "vi": ["Hãy giải thích phần “{title}” trong {book}.", "{book} nói gì trong phần “{title}”?"],
}
BOOKS = {"debian-reference-en": "the Debian Reference", "maint-guide-vi": "Hướng dẫn cho Nhà bảo trì Debian"}
FUNCTION = [
    "Write a Python function `{sig}` that does the following: {summary}",
    "Implement `{sig}` in Python. {summary}",
]

_NAME_HEADERS = {"NAME", "NIMI", "Nimi", "名前", "名称", "TÊN", "Tên", "नाम"}
_DESC_HEADERS = {"DESCRIPTION", "KUVAUS", "Kuvaus", "説明", "解説", "MÔ TẢ", "Mô tả", "विवरण"}
_COMMAND_SECTIONS = {"1", "6", "8"}
_NAME_LINE = re.compile(r"^\s*(?P<names>[^\s].*?)\s+[-—–]+\s+(?P<desc>.+)$")
_SENTENCE_END = re.compile(r"[.!?。！？।](\s|$)")

CAT_MIN_CHARS = 200  # an answer of a few sentences: below this it is a one-liner and goes to CAP
CAP_MIN_CHARS = 30  # shorter answers teach nothing but the template
ANSWER_MAX_CHARS = 900  # whole paragraphs up to this size; help pages run on for pages


def _pick(templates: list[str], origin: str) -> str:
    return templates[zlib.crc32(origin.encode("utf-8")) % len(templates)]


def _paragraphs(text: str) -> list[str]:
    return [re.sub(r"[ \t]*\n[ \t]*", "\n", p).strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def _sentences(text: str) -> int:
    return len(_SENTENCE_END.findall(text))


def _answer(paras: list[str]) -> str:
    out: list[str] = []
    size = 0
    for p in paras:
        if out and size + len(p) > ANSWER_MAX_CHARS:
            break
        out.append(p)
        size += len(p)
    return "\n\n".join(out)


def _quality(answer: str) -> str | None:
    if len(answer) < CAP_MIN_CHARS:
        return None
    # CAT wants prose: several sentences, opening with a real paragraph rather than a list of headings
    opening = answer.split("\n\n", 1)[0]
    prose = len(answer) >= CAT_MIN_CHARS and _sentences(answer) >= 2 and len(opening) >= 60
    return "cat" if prose else "cap"


def _title_ok(title: str) -> bool:
    return 3 <= len(title) <= 80 and "\n" not in title and not title.rstrip().endswith((".", ":", "。", "：", "।"))


def _item(lang: str, kind: str, quality: str, origin: str, question: str, answer: str) -> dict[str, Any]:
    return {"lang": lang, "kind": kind, "quality": quality, "origin": origin,
            "messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}


# ----------------------------------------------------------------------------------------------------
# One maker per kind of document: (doc id, text, lang) -> an item, or a string naming why none was made.


def from_man_page(doc_id: str, text: str, lang: str) -> dict[str, Any] | str:
    page = doc_id.split(":", 1)[1]  # "man1/ls.1"
    section = page.split("/", 1)[0].removeprefix("man")[:1]
    lines = text.splitlines()
    cmd = desc = None
    for i, line in enumerate(lines[:-1]):
        if line.strip() in _NAME_HEADERS:
            m = _NAME_LINE.match(lines[i + 1])
            if m:
                cmd = m["names"].split(",")[0].strip()
                desc = m["desc"].strip().rstrip(".。")
            break
    paras = _paragraphs(text)
    description = None
    for i, p in enumerate(paras[:-1]):
        first, _, rest = p.partition("\n")
        if first.strip() in _DESC_HEADERS:
            description = (rest.strip() or paras[i + 1]).replace("\n", " ")
            break
    if cmd is None:
        cmd = re.sub(r"\.\d\w*$", "", page.rsplit("/", 1)[-1])
    if desc is None and description is None:
        return "man page without NAME line or DESCRIPTION"
    templates = (MAN_COMMAND if section in _COMMAND_SECTIONS else MAN_OTHER)[lang]
    question = _pick(templates, doc_id).format(cmd=cmd)
    head = f"`{cmd}` — {desc}{'。' if lang == 'ja' else '.'}" if desc else ""
    if description and len(description) >= 80:
        answer = f"{head}\n\n{description[:ANSWER_MAX_CHARS]}".strip()
        quality = "cat" if _quality(description) == "cat" else "cap"  # the NAME line is short by design
    else:
        answer = head or description or ""
        quality = "cap" if len(answer) >= 10 else None  # a NAME line is short by nature: CAP, not nothing
    if quality is None:
        return "answer too short"
    return _item(lang, "man", quality, doc_id, question, answer)


def from_titled_page(doc_id: str, text: str, lang: str, kind: str) -> dict[str, Any] | str:
    paras = _paragraphs(text)
    if len(paras) < 2:
        return "page with a single paragraph (no title and body)"
    title = paras[0]
    if not _title_ok(title):
        return "first paragraph is not a title"
    answer = _answer(paras[1:])
    quality = _quality(answer)
    if quality is None:
        return "answer too short"
    if title.endswith(("?", "？")):  # the page asks the question itself: no template needed
        question = title
    elif kind == "guide":
        book = BOOKS.get(doc_id.split(":", 1)[0], "the guide")
        question = _pick(GUIDE[lang], doc_id).format(title=title, book=book)
    else:
        question = _pick(HELP[lang], doc_id).format(title=title)
    return _item(lang, kind, quality, doc_id, question, answer)


def from_python_module(doc_id: str, text: str) -> Iterator[dict[str, Any] | str]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        yield "module does not parse"
        return
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        doc = ast.get_docstring(node)
        if node.name.startswith("_") or not doc:
            yield "private or undocumented function"
            continue
        source = ast.get_source_segment(text, node)
        if source is None or not 3 <= source.count("\n") + 1 <= 60:
            yield "function too short or too long"
            continue
        summary = " ".join(doc.strip().split("\n\n", 1)[0].split())
        if len(summary) > 200:  # the task names the contract; the docstring in the answer gives the rest
            m = _SENTENCE_END.search(summary)
            summary = summary[: m.end()].strip() if m and m.end() <= 300 else summary[:200].rsplit(" ", 1)[0] + " ..."
        args = ast.unparse(node.args)
        sig = f"{node.name}({args})"
        question = _pick(FUNCTION, f"{doc_id}:{node.name}").format(sig=sig, summary=summary)
        body_statements = len(node.body) - 1
        # a documented contract beyond the one-line summary, and a body that does something: CAT
        quality = "cat" if len(doc.strip().splitlines()) >= 3 and body_statements >= 2 else "cap"
        yield _item("code", "function", quality, f"{doc_id}:{node.name}", question, source)


def items_for(domain: str, docs: list[dict]) -> Iterator[dict[str, Any] | str]:
    for d in docs:
        doc_id, text = d["id"], d["text"]
        package = doc_id.split(":", 1)[0]
        if domain == "code":
            yield from from_python_module(doc_id, text)
        elif package.startswith("manpages-"):
            yield from_man_page(doc_id, text, domain)
        elif package.startswith("libreoffice-help-"):
            yield from_titled_page(doc_id, text, domain, "help")
        elif package in BOOKS and domain in GUIDE:
            yield from_titled_page(doc_id, text, domain, "guide")
        else:
            yield f"no question template for {package}"


def _corpus(corpus_dir: Path) -> Path:
    return corpus_dir / "corpus" if (corpus_dir / "corpus").is_dir() else corpus_dir


def build_demo_instructions(corpus_dir: str | Path, out_dir: str | Path) -> dict[str, Any]:
    """Build the CAP and CAT instruction sets from the demo corpus's train split; returns the manifest."""
    corpus = _corpus(Path(corpus_dir))
    out_dir = Path(out_dir)
    files: dict[tuple[str, str], list[dict]] = {}
    skipped: dict[str, Counter] = {}
    inputs: dict[str, str] = {}
    for lang in LANGS:
        path = corpus / lang / "train.jsonl"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: demo corpus split missing (build it with `auroram data demo`)")
        inputs[lang] = sha256_file(path)
        docs = []
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                try:
                    docs.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}: line {lineno}: not valid JSON ({e.msg})") from None
        skipped[lang] = Counter()
        for it in items_for(lang, docs):
            if isinstance(it, str):
                skipped[lang][it] += 1
                continue
            bucket = files.setdefault((it["quality"], lang), [])
            it = {"id": f"demo-instruct/{it['quality']}/{lang}/{len(bucket)}", **it}
            bucket.append(it)
    counts = {q: {lang: len(files.get((q, lang), [])) for lang in LANGS} for q in ("cap", "cat")}
    by_kind: dict[str, Counter] = {q: Counter() for q in ("cap", "cat")}
    for (q, _lang), items in files.items():
        by_kind[q].update(it["kind"] for it in items)
    manifest = {
        "format": 1,
        "from": {lang: {"file": f"corpus/{lang}/train.jsonl", "sha256": h} for lang, h in inputs.items()},
        "counts": counts,
        "by_kind": {q: dict(sorted(c.items())) for q, c in by_kind.items()},
        "skipped": {lang: dict(c.most_common()) for lang, c in skipped.items()},
        "files": sorted(f"{q}/{lang}.jsonl" for (q, lang) in files),
    }
    with atomic_dir(out_dir) as tmp:
        for (q, lang), items in sorted(files.items()):
            (tmp / q).mkdir(exist_ok=True)
            (tmp / q / f"{lang}.jsonl").write_text(
                "".join(json.dumps(it, ensure_ascii=False) + "\n" for it in items), encoding="utf-8")
        write_json(tmp / "manifest.json", manifest)  # last: its presence means the set is complete
    return manifest
