"""Vocabulary extension: tokens learnt from new languages, merged into a base's own tokenizer.

A base that continues on Hindi or Japanese spends several tokens per character on them; new tokens cut
that cost (as Chinese-LLaMA and Swallow did). The merge keeps the base intact: every existing id and merge
stays where it is, new tokens get ids after all existing ones (added and special tokens included), and
new merges come after the old ones, so they only ever join what the old merges left apart. A new token is
kept only when the merge chain really builds it from the token's own characters; tokens that fire on the
`keep` texts (the base's languages) are dropped, so those texts tokenize to exactly the same ids.

Byte-level BPE (GPT-2, StarCoder: a ByteLevel pre-tokenizer) and BPE with byte fallback (Llama, Mistral:
Metaspace/▁ and <0xNN> byte tokens) are supported; other models have no merge list to extend.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import regex
import tokenizers
from tokenizers import Tokenizer, pre_tokenizers, trainers

from auroram.config import shares_problem
from auroram.io import atomic_dir, hash_obj, read_json, sha256_bytes, sha256_file, write_json
from auroram.tokenize.bpe import TokenizerError, load_tokenizer

EXTENSION_FILE = "extension.json"  # beside the extended tokenizer: what was added, from what, how
EXTENSION_FORMAT = 1
METASPACE = "▁"
BYTE_LEVEL, BYTE_FALLBACK = "byte-level", "byte-fallback"
_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt",
          "tokenizer.model", "added_tokens.json")
# how many more merges than requested the trainer learns: many it learns are already in the base
_TRAIN_MARGIN = 2
_TRAIN_TRIES = 3
_KEEP_ROUNDS = 20


class ExtendError(TokenizerError):
    """The base tokenizer cannot be extended, or the new text cannot teach it anything; names what and where."""


@dataclass
class TrainerSettings:
    """What the new tokens are learnt with; recorded in extension.json."""

    add: int  # new tokens wanted (fewer come out when the text holds fewer useful merges)
    min_frequency: int = 2  # a merge seen once is noise, not a word of the language
    max_train_bytes: int = 8_000_000  # text fed to the trainer, split equally over the sources
    max_keep_bytes: int = 4_000_000  # of the keep texts checked for unchanged ids
    init: str = "mean_of_pieces"  # how apply_extension initialises the new embedding rows
    init_scale: float = 3.0  # scaled_mean: the new rows are this many times the mean old row
    seed: int = 0  # for a random init of the new rows
    # source name -> fraction of `add` learnt from that source alone; empty: one BPE on all sources pooled, where
    # the script with the most distinct pairs (Japanese) takes what it finds and the others get the rest
    shares: dict[str, float] = field(default_factory=dict)
    # a script under this share of the keep texts' characters is foreign to them: its runs there (a Japanese
    # word quoted in English) may change ids; 0 guards every character, as before this setting existed
    keep_foreign_below: float = 0.001


@dataclass
class TextSource:
    """One named stream of documents (a recipe source or a file given on the command line)."""

    name: str
    texts: Iterable[str]
    path: str = ""
    fingerprint: str = ""  # identity of the input files (auroram.data.sources.input_fingerprint)


# ---------------------------------------------------------------------------------------------------
# The base tokenizer.


def tokenizer_files_hash(base_dir: str | os.PathLike) -> str:
    """Identity of a directory's tokenizer: the hash of its tokenizer files' contents."""
    d = Path(base_dir)
    found = {f: sha256_file(d / f) for f in _FILES if (d / f).is_file()}
    if not found:
        raise ExtendError(f"{d}: no tokenizer files here (expected tokenizer.json)")
    return hash_obj(found)


def tokenizer_json_hash(tj: dict[str, Any]) -> str:
    """Identity of what a tokenizer does, whatever file formatting or wrapper config saved it."""
    return sha256_bytes(json.dumps(tj, ensure_ascii=False, sort_keys=True).encode("utf-8"))


def read_base(base_dir: str | os.PathLike) -> tuple[dict[str, Any], Any]:
    """The base's tokenizer.json as a dict and its HF tokenizer. A base saved without tokenizer.json (slow
    files only) is converted by transformers first."""
    d = Path(base_dir)
    hf = load_tokenizer(d)
    if (d / "tokenizer.json").is_file():
        try:
            tj = json.loads((d / "tokenizer.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ExtendError(f"{d / 'tokenizer.json'}: not readable JSON ({e})") from None
    else:
        backend = getattr(hf, "backend_tokenizer", None)
        if backend is None:
            raise ExtendError(f"{d}: the tokenizer has no tokenizer.json and no fast (tokenizers) form to extend")
        tj = json.loads(backend.to_str())
    return tj, hf


def _pretokenizer_types(node: Any) -> list[str]:
    if not isinstance(node, dict):
        return []
    if node.get("type") == "Sequence":
        return [t for p in node.get("pretokenizers", []) for t in _pretokenizer_types(p)]
    return [node.get("type", "")]


def tokenizer_kind(tj: dict[str, Any], where: str) -> str:
    """BYTE_LEVEL or BYTE_FALLBACK; anything else is an ExtendError naming the model kind."""
    model = tj.get("model") or {}
    kind = model.get("type") or ("BPE" if "merges" in model else "unknown")
    if kind != "BPE":
        raise ExtendError(f"{where}: a {kind} tokenizer cannot be extended (only BPE: byte-level as GPT-2/StarCoder, "
                          f"or with byte fallback as Llama/Mistral)")
    if model.get("continuing_subword_prefix") or model.get("end_of_word_suffix"):
        raise ExtendError(f"{where}: a BPE with a subword prefix or end-of-word suffix cannot be extended")
    if "ByteLevel" in _pretokenizer_types(tj.get("pre_tokenizer")):
        return BYTE_LEVEL
    if model.get("byte_fallback"):
        return BYTE_FALLBACK
    raise ExtendError(f"{where}: a BPE without a ByteLevel pre-tokenizer or byte_fallback cannot be extended "
                      f"(characters it never saw have no tokens to fall back on)")


def _merges(model: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for m in model.get("merges", []):
        a, b = m.split(" ", 1) if isinstance(m, str) else m
        out.append((a, b))
    return out


def _all_ids(tj: dict[str, Any]) -> list[int]:
    return list(tj["model"]["vocab"].values()) + [t["id"] for t in tj.get("added_tokens") or []]


# ---------------------------------------------------------------------------------------------------
# Learning merges from the new text, in the base's own symbols.


def _training_tokenizer(tj: dict[str, Any], kind: str) -> Tokenizer:
    """An empty BPE with the base's normalizer and pre-tokenizer, so what it learns is spelt as the base
    spells it (byte-level characters, or ▁ for a space)."""
    t = copy.deepcopy(tj)
    t["model"] = {"type": "BPE", "vocab": {}, "merges": [], "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": False,
                  "byte_fallback": False}
    t["added_tokens"], t["post_processor"] = [], None
    tok = Tokenizer.from_str(json.dumps(t))
    if kind == BYTE_FALLBACK:
        # sentencepiece never merges across a word start; Llama's tokenizer.json has no pre-tokenizer to say so
        split = pre_tokenizers.Split(METASPACE, "merged_with_next")
        tok.pre_tokenizer = pre_tokenizers.Sequence([tok.pre_tokenizer, split]) if tok.pre_tokenizer else split
    return tok


def learn_merges(tj: dict[str, Any], kind: str, texts: list[str], n_merges: int,
                 min_frequency: int) -> tuple[list[tuple[str, str]], Counter]:
    """BPE merges learnt from `texts` in the order the trainer found them, and character counts of the
    normalised text (new single characters for a byte-fallback base are picked by frequency)."""
    tok = _training_tokenizer(tj, kind)
    chars: Counter = Counter()
    if kind == BYTE_FALLBACK:
        for text in texts:
            norm = tok.normalizer.normalize_str(text) if tok.normalizer else text
            chars.update(norm)
        alphabet: list[str] = []
        n_alpha = len(chars) + 1
    else:
        alphabet = pre_tokenizers.ByteLevel.alphabet()
        n_alpha = len(alphabet)
    trainer = trainers.BpeTrainer(vocab_size=n_alpha + n_merges, min_frequency=min_frequency,
                                  initial_alphabet=alphabet, show_progress=False, special_tokens=[])
    tok.train_from_iterator(texts, trainer=trainer)
    return _merges(json.loads(tok.to_str())["model"]), chars


def _bpe(symbols: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """The BPE model's merge loop on one word: the lowest-ranked adjacent pair first, leftmost on ties."""
    word = list(symbols)
    while len(word) > 1:
        rank, i = min((ranks.get((word[j], word[j + 1]), 1 << 62), j) for j in range(len(word) - 1))
        if rank == 1 << 62:
            break
        word[i: i + 2] = [word[i] + word[i + 1]]
    return word


@dataclass
class _Plan:
    tokens: list[str]  # new tokens in id order
    merges: list[tuple[str, str]]  # new merges in rank order
    chars: int  # how many of the tokens are single characters (byte-fallback)
    unreachable: int  # learnt merges dropped because the merge chain cannot build them


def plan_additions(tj: dict[str, Any], kind: str, learnt: list[tuple[str, str]], chars: Counter, add: int,
                   banned: set[str]) -> _Plan:
    """Which learnt merges become new tokens: in the trainer's order, skipping tokens the base has, and
    keeping a token only when the base's merges plus the new ones so far rebuild it from its characters."""
    vocab = tj["model"]["vocab"]
    ranks = {m: i for i, m in enumerate(_merges(tj["model"]))}
    tokens: list[str] = []
    merges: list[tuple[str, str]] = []
    have = set(vocab)
    n_chars = unreachable = 0

    def new_char(c: str) -> bool:
        # a byte-fallback base spells an unknown character as its UTF-8 bytes; ASCII is never added: the base
        # already has its bytes, and a token for it would change the ids of English and code
        nonlocal n_chars
        if c in have:
            return True
        if kind != BYTE_FALLBACK or len(c.encode("utf-8")) == 1 or c in banned or len(tokens) >= add:
            return False
        tokens.append(c)
        have.add(c)
        n_chars += 1
        return True

    for a, b in learnt:
        if len(tokens) >= add:
            break
        t = a + b
        if t in have or t in banned:
            continue
        if not all(new_char(p) for p in (a, b) if len(p) == 1) or len(tokens) >= add:
            continue
        ranks[(a, b)] = len(ranks)
        if _bpe(list(t), ranks) != [t]:  # the chain cannot reach it (a part missing, or built another way)
            del ranks[(a, b)]
            unreachable += 1
            continue
        tokens.append(t)
        merges.append((a, b))
        have.add(t)
    if kind == BYTE_FALLBACK:  # room left: frequent characters the base spells in bytes
        for c, _n in chars.most_common():
            if len(tokens) >= add:
                break
            new_char(c)
    return _Plan(tokens, merges, n_chars, unreachable)


def build_extended(tj: dict[str, Any], plan: _Plan) -> dict[str, Any]:
    """The base's tokenizer.json with the new tokens after every existing id and the new merges after the
    old ones; nothing of the base moves."""
    out = copy.deepcopy(tj)
    model = out["model"]
    next_id = max(_all_ids(tj)) + 1
    # added tokens past the model's vocab (specials appended to a base) go into it at their ids: tokenizers
    # numbers an added token missing from the model after the model's last id, where the new tokens now are
    for a in out.get("added_tokens") or []:
        model["vocab"].setdefault(a["content"], a["id"])
    holes = next_id - len(set(model["vocab"].values()))
    if holes:
        raise ExtendError(f"the base's ids below {next_id:,} leave {holes:,} unused; new tokens after them would not "
                          f"keep their ids when the tokenizer loads")
    for i, t in enumerate(plan.tokens):
        model["vocab"][t] = next_id + i
    old = model.get("merges", [])
    as_str = bool(old) and isinstance(old[0], str)
    model["merges"] = list(old) + [f"{a} {b}" if as_str else [a, b] for a, b in plan.merges]
    return out


def _encode_all(tok: Tokenizer, texts: list[str]) -> list[list[int]]:
    return [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]


def _dependents(tokens: set[str], merges: list[tuple[str, str]]) -> set[str]:
    """The tokens plus every new token built (through new merges) from one of them."""
    out = set(tokens)
    for a, b in merges:  # merges are in build order: a part is always made before its whole
        if a in out or b in out:
            out.add(a + b)
    return out


# ---------------------------------------------------------------------------------------------------
# The keep check: the keep languages' own text keeps its ids; runs of a script they barely use may change.

# Unicode scripts as the `regex` module names them (Script=...); Common and Inherited (spaces, digits,
# punctuation, combining marks) belong to whatever run they sit in
_SCRIPTS = """Latin Greek Coptic Cyrillic Armenian Hebrew Arabic Syriac Thaana Nko Samaritan Mandaic Devanagari Bengali
Gurmukhi Gujarati Oriya Tamil Telugu Kannada Malayalam Sinhala Thai Lao Tibetan Myanmar Georgian Hangul Ethiopic
Cherokee Canadian_Aboriginal Ogham Runic Tagalog Hanunoo Buhid Tagbanwa Khmer Mongolian Limbu Tai_Le New_Tai_Lue
Buginese Tai_Tham Balinese Sundanese Batak Lepcha Ol_Chiki Braille Glagolitic Tifinagh Han Hiragana Katakana Bopomofo
Yi Lisu Vai Bamum Syloti_Nagri Phags_Pa Saurashtra Kayah_Li Rejang Javanese Cham Tai_Viet Meetei_Mayek Linear_B
Lycian Carian Old_Italic Gothic Old_Permic Ugaritic Old_Persian Deseret Shavian Osmanya Osage Elbasan
Caucasian_Albanian Vithkuqi Linear_A Cypriot Imperial_Aramaic Palmyrene Nabataean Hatran Phoenician Lydian
Meroitic_Hieroglyphs Meroitic_Cursive Kharoshthi Old_South_Arabian Old_North_Arabian Manichaean Avestan
Inscriptional_Parthian Inscriptional_Pahlavi Psalter_Pahlavi Old_Turkic Old_Hungarian Hanifi_Rohingya Yezidi
Old_Sogdian Sogdian Old_Uyghur Chorasmian Elymaic Brahmi Kaithi Sora_Sompeng Chakma Mahajani Sharada Khojki Multani
Khudawadi Grantha Newa Tirhuta Siddham Modi Takri Ahom Dogra Warang_Citi Dives_Akuru Nandinagari Zanabazar_Square
Soyombo Pau_Cin_Hau Bhaiksuki Marchen Masaram_Gondi Gunjala_Gondi Makasar Kawi Cuneiform Cypro_Minoan
Egyptian_Hieroglyphs Anatolian_Hieroglyphs Mro Tangsa Bassa_Vah Pahawh_Hmong Medefaidrin Miao Tangut Nushu
Khitan_Small_Script Duployan SignWriting Nyiakeng_Puachue_Hmong Toto Wancho Nag_Mundari Mende_Kikakui Adlam
Garay Gurung_Khema Kirat_Rai Ol_Onal Sunuwar Todhri Tulu_Tigalari""".split()
COMMON = "Common"  # a character of no script of its own: joins the run it is in
_script_pattern: Any = None
_script_cache: dict[str, str] = {}


def script_of(c: str) -> str:
    """The Unicode script of one character: a name of _SCRIPTS, COMMON (Common and Inherited), or Unknown."""
    global _script_pattern
    found = _script_cache.get(c)
    if found is not None:
        return found
    if c.isascii():
        found = "Latin" if c.isalpha() else COMMON
    else:
        if _script_pattern is None:
            known = []  # names an older `regex` lacks are left out (their characters count as Unknown)
            for name in _SCRIPTS:
                try:
                    regex.compile(rf"\p{{Script={name}}}")
                    known.append(name)
                except regex.error:
                    pass
            _script_pattern = regex.compile(r"(?P<Common>[\p{Script=Common}\p{Script=Inherited}])|"
                                            + "|".join(rf"(?P<{n}>\p{{Script={n}}})" for n in known))
        m = _script_pattern.match(c)
        found = m.lastgroup if m else "Unknown"
    _script_cache[c] = found
    return found


def script_runs(text: str) -> list[tuple[int, int, str]]:
    """Maximal runs of one script as (start, end, script), Common characters joined to the run before them
    (or after, at the start): in "a ライト." the space is Latin's and the stop Katakana's."""
    runs: list[list[Any]] = []
    for i, c in enumerate(text):
        sc = script_of(c)
        if runs and (sc == COMMON or sc == runs[-1][2]):
            runs[-1][1] = i + 1
        elif runs and runs[-1][2] == COMMON:  # leading Common characters take the first script's name
            runs[-1][1:] = [i + 1, sc]
        else:
            runs.append([i, i + 1, sc])
    return [(a, b, sc) for a, b, sc in runs]


def foreign_scripts(texts: list[str], below: float) -> dict[str, dict[str, Any]]:
    """Scripts under `below` of all the texts' characters (never Common): script -> its share and count."""
    if below <= 0:
        return {}
    counts: Counter = Counter()
    total = 0
    for text in texts:
        total += len(text)
        if text.isascii():
            counts["Latin"] += sum(map(str.isalpha, text))
        else:
            counts.update(script_of(c) for c in text)
    counts.pop(COMMON, None)
    return {sc: {"share": n / total, "characters": n} for sc, n in sorted(counts.items())
            if n and n / total < below}


class _KeepCheck:
    """Keep texts and their base ids; `fired` and `unchanged` look at every token except those lying wholly
    inside a run of a foreign script, so a Japanese word quoted in English does not ban Japanese tokens."""

    def __init__(self, tj: dict[str, Any], texts: list[str], below: float):
        self.texts = texts
        self.foreign = foreign_scripts(texts, below)
        self.masks: dict[int, bytes] = {}  # text index -> per character 1 inside a foreign run, else 0
        for sc in self.foreign.values():
            sc.update(exempted_characters=0, documents=0)
        for k, text in enumerate(texts):
            if not self.foreign or text.isascii() or not any(script_of(c) in self.foreign for c in set(text)):
                continue
            mask = bytearray(len(text))
            seen: set[str] = set()
            for a, b, sc in script_runs(text):
                if sc in self.foreign:
                    mask[a:b] = b"\x01" * (b - a)
                    self.foreign[sc]["exempted_characters"] += b - a
                    seen.add(sc)
            for sc in seen:
                self.foreign[sc]["documents"] += 1
            if seen:
                self.masks[k] = bytes(mask)
        self.base_ids = _encode_all(Tokenizer.from_str(json.dumps(tj)), texts)
        self.base_guarded = self._guarded(tj)

    def _guarded(self, tj: dict[str, Any]) -> dict[int, list[tuple[int, tuple[int, int]]]]:
        """For each masked text, its tokens that cover a character outside the foreign runs, with their spans."""
        if not self.masks:
            return {}
        t = dict(tj, post_processor=None)  # spans as the pre-tokenizer cut them (no trimmed spaces)
        tok = Tokenizer.from_str(json.dumps(t))
        order = sorted(self.masks)
        out = {}
        for k, enc in zip(order, tok.encode_batch([self.texts[k] for k in order], add_special_tokens=False)):
            mask = self.masks[k]
            out[k] = [(i, (a, b)) for i, (a, b) in zip(enc.ids, enc.offsets) if a >= b or 0 in mask[a:b]]
        return out

    def fired(self, tj: dict[str, Any], tok: Tokenizer, first_new: int) -> set[str]:
        """New tokens that a keep text's guarded characters now tokenize into."""
        ids = _encode_all(tok, [t for k, t in enumerate(self.texts) if k not in self.masks])
        out = {tok.id_to_token(i) for row in ids for i in row if i >= first_new}
        for row in self._guarded(tj).values():
            out |= {tok.id_to_token(i) for i, _span in row if i >= first_new}
        return out

    def unchanged(self, tj: dict[str, Any], tok: Tokenizer) -> bool:
        """Every keep text's ids as the base's, except tokens wholly inside foreign runs."""
        plain = [k for k in range(len(self.texts)) if k not in self.masks]
        ids = _encode_all(tok, [self.texts[k] for k in plain])
        return ids == [self.base_ids[k] for k in plain] and self._guarded(tj) == self.base_guarded

    def record(self, below: float) -> dict[str, Any]:
        """What extension.json says of the foreign scripts: the threshold, and each script's share, characters,
        characters exempted (its runs, Common characters in them included) and documents holding them."""
        return {"below": below, "scripts": {sc: {"share": round(v["share"], 8), **{k: v[k] for k in (
            "characters", "exempted_characters", "documents")}} for sc, v in self.foreign.items()}}


# ---------------------------------------------------------------------------------------------------
# The whole extension.


def _take_each(sources: list[TextSource], max_bytes: int) -> tuple[list[list[str]], list[dict[str, Any]]]:
    """Documents from each source up to an equal share of max_bytes (so one big source does not crowd out
    the others), and what was read from each."""
    per_source = max_bytes // max(len(sources), 1)
    each, used = [], []
    for s in sources:
        texts: list[str] = []
        n_bytes = 0
        for text in s.texts:
            if n_bytes >= per_source:
                break
            chunk = text.encode("utf-8")[: per_source - n_bytes].decode("utf-8", "ignore")
            if chunk:
                texts.append(chunk)
                n_bytes += len(chunk.encode("utf-8"))
        each.append(texts)
        used.append({"name": s.name, "path": s.path, "fingerprint": s.fingerprint, "documents": len(texts),
                     "bytes": n_bytes})
    return each, used


def _take(sources: list[TextSource], max_bytes: int) -> tuple[list[str], list[dict[str, Any]]]:
    each, used = _take_each(sources, max_bytes)
    return [t for texts in each for t in texts], used


def share_quotas(shares: dict[str, float], names: list[str], add: int) -> list[int]:
    """Each source's number of new tokens: its share of `add`, rounded by largest remainder so the quotas sum
    to `add` exactly (ties go to the source named first)."""
    exact = [shares[n] * add for n in names]
    quotas = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(names)), key=lambda i: (-(exact[i] - quotas[i]), i))
    for i in by_remainder[: add - sum(quotas)]:
        quotas[i] += 1
    return quotas


@dataclass
class _Group:
    """Text that one BPE learns from and how many new tokens it may give: all sources pooled, or one source."""

    texts: list[str]
    quota: int
    used: dict[str, Any] | None = None  # the source's entry in learnt_from (shares only)


def _groups(sources: list[TextSource], each: list[list[str]], used: list[dict[str, Any]],
            settings: TrainerSettings) -> list[_Group]:
    if not settings.shares:
        return [_Group([t for texts in each for t in texts], settings.add)]
    quotas = share_quotas(settings.shares, [s.name for s in sources], settings.add)
    return [_Group(texts, q, u) for texts, q, u in zip(each, quotas, used)]


def _plan_groups(tj: dict[str, Any], kind: str, groups: list[_Group], learnt: list[tuple[list, Counter]],
                 banned: set[str]) -> list[_Plan]:
    """Each group's tokens in turn, each planned on the tokenizer the earlier ones extended: a token an earlier
    source added is not added again, and its merges may be parts of later tokens."""
    plans, cur = [], tj
    for g, (merges, chars) in zip(groups, learnt):
        plans.append(plan_additions(cur, kind, merges, chars, g.quota, banned))
        if len(groups) > 1:
            cur = build_extended(cur, plans[-1])
    return plans


def _joined(plans: list[_Plan]) -> _Plan:
    if len(plans) == 1:
        return plans[0]
    return _Plan([t for p in plans for t in p.tokens], [m for p in plans for m in p.merges],
                 sum(p.chars for p in plans), sum(p.unreachable for p in plans))


def extend_tokenizer(base_dir: str | os.PathLike, sources: list[TextSource], settings: TrainerSettings,
                     out_dir: str | os.PathLike, *, keep: list[TextSource] | None = None,
                     write: Any = None) -> dict[str, Any]:
    """Learn up to `settings.add` tokens from `sources`, merge them into the base's tokenizer and write the
    extended tokenizer (loadable with AutoTokenizer) and extension.json to out_dir, whole or not at all.
    `write`: a context manager factory yielding the temporary directory (default io.atomic_dir; the CLI
    passes outputs.replace_dir). Returns the record."""
    base_dir = Path(base_dir)
    limits = (("the number of tokens to add", settings.add, 1, 1 << 24),
              ("min_frequency", settings.min_frequency, 1, 2**31 - 1),  # the trainer takes a 32-bit count
              ("max_train_bytes", settings.max_train_bytes, 1, 2**63 - 1),
              ("max_keep_bytes", settings.max_keep_bytes, 0, 2**63 - 1))
    for name, value, lo, hi in limits:
        if not lo <= value <= hi:
            raise ExtendError(f"{base_dir}: {name} must be within [{lo:,}, {hi:,}], got {value:,}")
    if not (math.isfinite(settings.keep_foreign_below) and 0 <= settings.keep_foreign_below < 1):
        raise ExtendError(f"{base_dir}: keep_foreign_below must be a fraction within [0, 1), "
                          f"got {settings.keep_foreign_below!r}")
    if settings.init == "scaled_mean" and not (math.isfinite(settings.init_scale) and settings.init_scale > 0):
        raise ExtendError(f"{base_dir}: init_scale must be a positive number, got {settings.init_scale!r}")
    tj, hf = read_base(base_dir)
    kind = tokenizer_kind(tj, str(base_dir))
    if settings.shares:  # before reading any text
        problem = shares_problem(settings.shares, [s.name for s in sources])
        if problem:
            raise ExtendError(f"{base_dir}: shares: {problem}")
    each, used = _take_each(sources, settings.max_train_bytes)
    if not any(each):
        names = ", ".join(s.name for s in sources) or "no sources"
        raise ExtendError(f"{base_dir}: no text to learn new tokens from ({names})")
    keep_texts, keep_used = _take(keep or [], settings.max_keep_bytes)
    check = _KeepCheck(tj, keep_texts, settings.keep_foreign_below)

    groups = _groups(sources, each, used, settings)
    first_new = max(_all_ids(tj)) + 1
    n_merges = [g.quota * _TRAIN_MARGIN + 64 for g in groups]
    learnt: list[Any] = [None] * len(groups)
    learnt_with = [0] * len(groups)  # the n_merges each group's merges were learnt with
    banned: set[str] = set()
    for _ in range(_TRAIN_TRIES):
        for i, g in enumerate(groups):
            if learnt_with[i] != n_merges[i]:
                learnt[i] = learn_merges(tj, kind, g.texts, n_merges[i], settings.min_frequency)
                learnt_with[i] = n_merges[i]
        dropped_for_keep = 0
        for _round in range(_KEEP_ROUNDS):
            plans = _plan_groups(tj, kind, groups, learnt, banned)
            plan = _joined(plans)
            new_tj = build_extended(tj, plan)
            new_tok = Tokenizer.from_str(json.dumps(new_tj))
            fired = check.fired(new_tj, new_tok, first_new)
            if not fired:
                break
            hit = _dependents(fired, plan.merges)
            dropped_for_keep += len(hit - banned)
            banned |= hit
        else:
            raise ExtendError(f"{base_dir}: new tokens still change the keep texts after {_KEEP_ROUNDS} rounds")
        # a group short of its quota learns twice as many merges, unless its trainer found every merge there is
        short = [i for i, (g, p) in enumerate(zip(groups, plans))
                 if len(p.tokens) < g.quota and len(learnt[i][0]) >= n_merges[i]]
        if not short:
            break
        for i in short:
            n_merges[i] *= 2
    if not plan.tokens:
        raise ExtendError(f"{base_dir}: the text of {', '.join(s.name for s in sources)} teaches no token the "
                          f"base lacks (more text, or a lower min_frequency)")
    if not check.unchanged(new_tj, new_tok):  # the promise to the base's languages, checked once more
        raise ExtendError(f"{base_dir}: the extended tokenizer changes the ids of a keep text")
    for g, p in zip(groups, plans):
        if g.used is not None:  # with shares: what each source was given and what it could fill
            g.used.update(share=settings.shares[g.used["name"]], quota=g.quota, added=len(p.tokens))

    record = {
        "format": EXTENSION_FORMAT,
        "base": {"path": str(base_dir.resolve()), "kind": kind, "tokenizer_hash": tokenizer_files_hash(base_dir),
                 "tokenizer_json_sha256": tokenizer_json_hash(tj),
                 "vocab_size": max(_all_ids(tj)) + 1, "merges": len(tj["model"].get("merges", []))},
        "requested": settings.add,
        "added": len(plan.tokens),
        "added_characters": plan.chars,
        "added_merges": len(plan.merges),
        "first_new_id": first_new,
        "vocab_size": first_new + len(plan.tokens),
        "dropped_unreachable": plan.unreachable,
        "dropped_for_keep": dropped_for_keep,
        "learnt_from": used,
        "learnt_bytes": sum(u["bytes"] for u in used),
        "keep": keep_used,
        "keep_foreign": check.record(settings.keep_foreign_below),
        "trainer": {"model": "BPE", "tokenizers": tokenizers.__version__,
                    "merges_learnt": sum(len(m) for m, _chars in learnt),
                    **{k: v for k, v in asdict(settings).items()
                       if k not in ("init", "init_scale", "seed") and not (k == "shares" and not v)}},
        "init": {"method": settings.init, "seed": settings.seed,
                 **({"scale": settings.init_scale} if settings.init == "scaled_mean" else {})},
        "examples": [x for x in (_readable(t, kind) for t in plan.tokens) if "\ufffd" not in x][:24],
    }
    _write(Path(out_dir), new_tj, hf, record, write or atomic_dir)
    return record


def _readable(token: str, kind: str) -> str:
    """A new token as text, for people reading extension.json."""
    if kind == BYTE_FALLBACK:
        return token.replace(METASPACE, " ")
    table = {c: b for b, c in zip(range(256), _byte_chars())}
    return bytes(table.get(c, 63) for c in token).decode("utf-8", "replace")


def _byte_chars() -> list[str]:
    # GPT-2's byte-to-character table: printable bytes stand for themselves, the rest move to 256 and up
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def _write(out: Path, new_tj: dict[str, Any], base_hf: Any, record: dict[str, Any], write: Any) -> None:
    from transformers import PreTrainedTokenizerFast

    specials = {k: v for k, v in base_hf.special_tokens_map.items() if isinstance(v, str)}
    hf = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(new_tj)), **specials,
                                 clean_up_tokenization_spaces=bool(getattr(base_hf, "clean_up_tokenization_spaces",
                                                                           False)),
                                 model_max_length=base_hf.model_max_length)
    if getattr(base_hf, "chat_template", None):
        hf.chat_template = base_hf.chat_template
    with write(out) as tmp:
        hf.save_pretrained(tmp)
        # the merged tokenizer.json as built, not as the wrapper re-serialises it
        (tmp / "tokenizer.json").write_text(json.dumps(new_tj, ensure_ascii=False), encoding="utf-8")
        cfg_path = tmp / "tokenizer_config.json"
        cfg = read_json(cfg_path)
        cfg["tokenizer_class"] = "PreTrainedTokenizerFast"  # loads in transformers 4 and 5 from tokenizer.json
        write_json(cfg_path, cfg)
        write_json(tmp / EXTENSION_FILE, record)
    loaded = load_tokenizer(out)  # must load as the stage and the export will load it
    if len(loaded) != record["vocab_size"]:
        raise ExtendError(f"{out}: the written tokenizer has {len(loaded)} tokens, expected {record['vocab_size']}")


def read_extension(tokenizer_dir: str | os.PathLike) -> dict[str, Any]:
    p = Path(tokenizer_dir) / EXTENSION_FILE
    if not p.is_file():
        raise ExtendError(f"{tokenizer_dir}: no {EXTENSION_FILE} (not a tokenizer made by `auroram vocab extend`)")
    rec = read_json(p)
    if not isinstance(rec, dict) or rec.get("format") != EXTENSION_FORMAT:
        raise ExtendError(f"{p}: unknown format (expected format {EXTENSION_FORMAT})")
    return rec


def base_of(tokenizer_dir: str | os.PathLike) -> Tokenizer:
    """The base tokenizer an extended one was made from, rebuilt from the extended tokenizer.json alone (the
    new ids and merges taken out), so a moved run or an absent base still has it."""
    rec = read_extension(tokenizer_dir)
    tj = json.loads((Path(tokenizer_dir) / "tokenizer.json").read_text(encoding="utf-8"))
    first = rec["first_new_id"]
    model = tj["model"]
    model["vocab"] = {t: i for t, i in model["vocab"].items() if i < first}
    model["merges"] = model.get("merges", [])[: rec["base"]["merges"]]
    return Tokenizer.from_str(json.dumps(tj))


# ---------------------------------------------------------------------------------------------------
# Fertility: what the new tokens buy.

# scripts written without spaces between words: a whitespace "word" there is a phrase or a sentence
UNSPACED = {"ja", "zh", "th", "lo", "km", "my", "bo"}


def fertility(tokenizer: Any, texts_by_lang: dict[str, list[str]]) -> dict[str, dict[str, float | None]]:
    """Tokens per UTF-8 byte and per whitespace word for each language (None where spaces do not separate
    words), the numbers that show how much an extension shortens a language."""
    from auroram.eval.bpb import fertility as one  # the report's own measure, so the numbers agree

    out = {}
    for lang, texts in texts_by_lang.items():
        f = one(tokenizer, list(texts))
        out[lang] = {"tokens_per_byte": f["tokens_per_byte"],
                     "tokens_per_word": None if lang in UNSPACED else f["tokens_per_word"]}
    return out


def source_texts(items: Iterable[Any]) -> Iterator[str]:
    """Plain text of a source's documents: (prompt, response) pairs and conversations joined."""
    for item in items:
        if isinstance(item, tuple):
            yield "\n".join(item)
        elif hasattr(item, "plain_text"):
            yield item.plain_text()
        else:
            yield item
