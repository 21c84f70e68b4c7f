"""The texts the built-in safety set is generated from, and the loader that reads and checks them.

The texts are data, one YAML file per language in `texts/` beside this module, so that a reviewer edits
them without touching Python; each file's header says what every key holds. Per language: request frames
with one slot `{a}` (the same frames carry harmful asks and their safe contrasts, so a model must read
the content, not the form), refusal openers, per-category reasons and safer alternatives, and safe
contrast topics with helpful answers. Harmful asks are phrased as a bare request and never carry
operational detail. Helpful answers open with a short helpful phrase, so that a trained model's first
words show whether it is refusing or helping. The slot holds a verb phrase in the form each language's
frames need: English bare infinitive, Finnish first infinitive (total object), Hindi oblique
infinitive, Japanese dictionary form, Vietnamese verb phrase.

Non-English texts were written by the authors, not by native speakers: they are what the review page
is for.
"""

from __future__ import annotations

import os
import string
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Sequence

import yaml

from auroram.safety.items import SafetyDataError
from auroram.safety.taxonomy import category_ids

LANGUAGES = ["en", "fi", "hi", "ja", "vi"]
CATEGORIES = category_ids()
SLOT = "a"  # a frame's one placeholder, filled by each harmful ask and each safe topic

# the keys of a language file, of a category and of a safe contrast, in the order the files list them
LANGUAGE_KEYS = ("frames", "refusal_openers", "helpful_openers", "compliance_stubs", "refusal_markers",
                 "categories")
CATEGORY_KEYS = ("harmful", "reason", "closer", "safe")
SAFE_KEYS = ("topic", "answer")


class TemplateError(SafetyDataError):
    """A template file is unreadable or malformed; the message names the file and the key."""


def builtin_dir() -> Traversable:
    return resources.files("auroram.safety") / "texts"


def load_templates(directory: str | os.PathLike | None = None, languages: Sequence[str] | None = None,
                   ) -> dict[str, dict[str, Any]]:
    """Read and check `<lang>.yaml` for each language from `directory` (the shipped texts when None).
    Returns every language or raises TemplateError: never a partial set."""
    root: Traversable = builtin_dir() if directory is None else Path(directory)
    if directory is not None and not root.is_dir():
        raise TemplateError(f"{root}: no such template directory")
    return {lang: _language(root / f"{lang}.yaml") for lang in (languages or LANGUAGES)}


# ---------------------------------------------------------------------------------------------------
# reading


class _StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    # plain YAML keeps the last of two equal keys: a reviewer's duplicated `reason:` would vanish silently
    def construct_mapping(self, node: Any, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` merges, and may be overridden
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: the base constructor reports it
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key '{key}'", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def _read(path: Traversable) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TemplateError(f"{path}: missing language file (one <lang>.yaml for each language)") from None
    except UnicodeDecodeError as e:
        raise TemplateError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise TemplateError(f"{path}: cannot read it ({e.strerror or e})") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        context = ""  # where the broken construct began, often lines above the problem
        if e.context and e.problem and e.context_mark is not None and e.context_mark.line != mark.line:
            context = f" ({e.context} from line {e.context_mark.line + 1})"
        raise TemplateError(f"{where}: invalid YAML: {e.problem or e.context}{context}") from None
    except yaml.YAMLError as e:
        raise TemplateError(f"{path}: invalid YAML: {' '.join(str(e).split())}") from None


# ---------------------------------------------------------------------------------------------------
# checking: each check names the file and the key path (categories.harm.safe[2].topic)


def _fail(path: Traversable, key: str, problem: str) -> TemplateError:
    return TemplateError(f"{path}: {key}: {problem}" if key else f"{path}: {problem}")


def _join(key: str, sub: Any) -> str:
    return f"{key}.{sub}" if key else str(sub)


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _mapping(value: Any, path: Traversable, key: str, expected: Sequence[str], what: str = "key",
             known: str = "expected one of") -> dict:
    if not isinstance(value, dict):
        raise _fail(path, key, f"{'' if key else 'the file '}must be a mapping of {', '.join(expected)}; "
                               f"got {_kind(value)}")
    for k in value:
        if k not in expected:
            raise _fail(path, _join(key, k), f"unknown {what} ({known}: {', '.join(expected)})")
    for k in expected:
        if k not in value:
            raise _fail(path, _join(key, k), f"missing {what}")
    return value


def _text(value: Any, path: Traversable, key: str) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _fail(path, key, "is empty")
    if not isinstance(value, str):
        raise _fail(path, key, f"must be text, got {_kind(value)} (put it in quotes)")
    return value


def _list(value: Any, path: Traversable, key: str, what: str) -> list:
    if not isinstance(value, list):
        raise _fail(path, key, f"must be a list of {what}, got {_kind(value)}")
    if not value:  # the build cycles through every list, and an empty one has nothing to give
        raise _fail(path, key, "is an empty list")
    return value


def _texts(value: Any, path: Traversable, key: str) -> list[str]:
    return [_text(v, path, f"{key}[{i}]") for i, v in enumerate(_list(value, path, key, "texts"))]


def _placeholders(text: str, path: Traversable, key: str) -> list[tuple[str, str, str | None]]:
    try:
        return [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(text) if name is not None]
    except ValueError as e:  # an unmatched brace: format() would fail on it at build time
        raise _fail(path, key, f"malformed placeholder ({e}); write {{{{ or }}}} for a literal brace") from None


def _frame(value: Any, path: Traversable, key: str) -> str:
    text = _text(value, path, key)
    found = _placeholders(text, path, key)
    for name, spec, conv in found:
        if name != SLOT:
            raise _fail(path, key, f"placeholder {{{name}}} has no values (a frame's only placeholder is "
                                   f"{{{SLOT}}}, filled by each ask and topic)")
        if spec or conv:
            raise _fail(path, key, f"write the placeholder as plain {{{SLOT}}}")
    if not found:
        raise _fail(path, key, f"has no {{{SLOT}}} placeholder, so the ask would not appear in the prompt")
    return text


def _fill_value(value: Any, path: Traversable, key: str) -> str:
    text = _text(value, path, key)
    for name, _, _ in _placeholders(text, path, key):
        raise _fail(path, key, f"placeholder {{{name}}} has no values (asks and topics are inserted as written)")
    return text


def _category(value: Any, path: Traversable, key: str) -> dict[str, Any]:
    c = _mapping(value, path, key, CATEGORY_KEYS)
    safe = []
    for i, s in enumerate(_list(c["safe"], path, f"{key}.safe", "topic/answer pairs")):
        s = _mapping(s, path, f"{key}.safe[{i}]", SAFE_KEYS)
        safe.append((_fill_value(s["topic"], path, f"{key}.safe[{i}].topic"),
                     _text(s["answer"], path, f"{key}.safe[{i}].answer")))
    return {
        "harmful": [_fill_value(h, path, f"{key}.harmful[{i}]")
                    for i, h in enumerate(_list(c["harmful"], path, f"{key}.harmful", "texts"))],
        "reason": _text(c["reason"], path, f"{key}.reason"),
        "closer": _text(c["closer"], path, f"{key}.closer"),
        "safe": safe,
    }


def _language(path: Traversable) -> dict[str, Any]:
    doc = _mapping(_read(path), path, "", LANGUAGE_KEYS)
    out: dict[str, Any] = {k: _texts(doc[k], path, k) for k in LANGUAGE_KEYS if k != "categories"}
    out["frames"] = [_frame(f, path, f"frames[{i}]") for i, f in enumerate(out["frames"])]
    for i, m in enumerate(out["refusal_markers"]):
        if m != m.lower():
            raise _fail(path, f"refusal_markers[{i}]", "must be lower case (replies are lower-cased before matching)")
    cats = _mapping(doc["categories"], path, "categories", CATEGORIES, what="category",
                    known="the categories of taxonomy.json are")
    # taxonomy order, whatever order the file lists them in
    out["categories"] = {cat: _category(cats[cat], path, f"categories.{cat}") for cat in CATEGORIES}
    return out


# the shipped texts, checked once at import: a broken shipped file fails loudly rather than building less
TEXT: dict[str, dict] = load_templates()
