"""Data preparation at scale: `auroram prepare` (curation, decontamination, tokenization) on synthetic corpora
of growing size, with 1 and 2 tasks; tokenization per core against raw `tokenizers`; peak memory per task.

    python benchmarks/bench_data_scale.py --demo DEMO_DIR --work SCRATCH [--mb 100 400 1600] [--tasks 1 2]
        [--two-only-from-mb 1600] [--tokenize-mb 8] [--tokenize-only] [--json-out FILE]

DEMO_DIR is the demo corpus (`auroram data demo`); SCRATCH holds the corpora and run directories (deleted
per size unless --keep). Each corpus is grown by benchmarks/synth_corpus.py: one source per language, each
`curate: true`, so curation runs with the tiny recipe's curate settings; the demo's held-out text is the
evaluation set decontamination checks against; one BPE (4,096 tokens, learnt once from the demo's English and
code) is copied into every run, so no run trains a tokenizer. Each `auroram prepare` runs as a child process.
CPU seconds: each process of its tree sampled from /proc/PID/stat every 0.1 s (datatrove's workers are not
all waited for, so getrusage of the children misses some; the larger of the two is kept), split into curation
and shard sets at the `curate` step's start and end lines in the run's log. Peak memory: /proc/PID/status
VmHWM of each process, the prepare process and its workers apart. The 1- and 2-task runs of a size follow
each other. Tokenization per core (--tokenize-mb of the first corpus, an equal share of each language):
`tokenize_part` (encode, EOS, hash, part on disk) against the tokenizer's own batch calls
(`Tokenizer.encode_batch` and transformers' `tokenizer(texts)`, ids as lists), one thread, CPU seconds, the
sides taking turns within a repeat.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

os.environ["RAYON_NUM_THREADS"] = "1"  # read by tokenizers once, at its first parallel call
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import yaml  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synth_corpus import LANGS, build  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "src" / "auroram" / "recipes" / "tiny.yaml"
MICRO = ROOT / "src" / "auroram" / "recipes" / "micro.yaml"


def recipe(corpus: Path, demo: Path) -> dict:
    tiny, micro = yaml.safe_load(TINY.read_text()), yaml.safe_load(MICRO.read_text())
    sources = {lang: {"domain": lang, "path": str(corpus / lang), "curate": True} for lang in LANGS}
    # the BPE's own sources: fixed, so its step key (and the copied tokenizer) is the same in every run
    sources["bpe_en"] = {"domain": "en", "path": "demo:en", "curate": False}
    sources["bpe_code"] = {"domain": "code", "path": "demo:code", "curate": False}
    return {
        "name": "bench-data-scale", "seed": 0, "domains": list(LANGS), "demo_dir": str(demo), "sources": sources,
        "curate": tiny["curate"], "heldout": tiny["heldout"],
        "tokenizer": {"kind": "train-bpe", "vocab_size": 4096, "train_sources": ["bpe_en", "bpe_code"],
                      "max_train_bytes": 4_000_000},
        "model": micro["model"], "train": micro["train"],
        "stages": [{"name": "s", "tokens": 100_000, "mixture": {lang: 1 / len(LANGS) for lang in LANGS}}],
        "safety": {"enabled": False, "eval_stages": []},
    }


def tree(pid: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(p.name))
    out, todo = [], [pid]
    while todo:
        q = todo.pop()
        out.append(q)
        todo += kids.get(q, [])
    return out


def hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_ticks(pid: int) -> int:
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])  # utime + stime of the process itself
    except (OSError, IndexError, ValueError):
        return 0


def prepare(recipe_file: Path, run_dir: Path, tasks: int, tok_dir: Path) -> dict:
    shutil.rmtree(run_dir, ignore_errors=True)
    # the BPE's run directory (its manifest vouches for the tokenizer): the tokenizer step is then cached
    shutil.copytree(tok_dir.parent, run_dir, ignore=shutil.ignore_patterns("log.txt"))
    cmd = [str(Path(sys.executable).parent / "auroram"), "prepare", str(recipe_file), "--run-dir", str(run_dir),
           "--set", f"data.tasks={tasks}", "--set", f"data.workers={tasks}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peaks: dict[int, int] = {}
    ticks: dict[int, int] = {}
    series: list[tuple[float, int]] = []  # (unix time, CPU ticks of the tree so far)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for q in tree(proc.pid):
                peaks[q] = max(peaks.get(q, 0), hwm_kb(q))
                ticks[q] = max(ticks.get(q, 0), cpu_ticks(q))
            series.append((time.time(), sum(ticks.values())))
            time.sleep(0.1)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, _ = proc.communicate()
    wall = time.perf_counter() - t0
    done.set()
    th.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise SystemExit(f"prepare failed ({proc.returncode}):\n{out[-3000:]}")
    # rusage misses processes nobody waited for (datatrove's forkserver workers); sampling misses each
    # process's last 0.1 s: the larger of the two
    waited = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    sampled = sum(ticks.values()) / os.sysconf("SC_CLK_TCK")
    cpu = max(waited, sampled)
    steps, ends = {}, {}
    for line in (run_dir / "log.txt").read_text(encoding="utf-8").splitlines():
        m = re.search(r"\b((?:curate|shards)\S*)\s.*?\((\d+(?:\.\d+)?)s\)", line)
        if m:
            steps[m.group(1).rstrip(":")] = float(m.group(2))
        m = re.match(r"(\S+)\s+\S+\s+(\S+)\s+(start|end)\b", line)
        if m:
            ends[(m.group(2), m.group(3))] = datetime.fromisoformat(m.group(1)).timestamp()

    def cpu_at(t: float) -> float:  # the tree's CPU seconds at time t (log lines have 1 s resolution)
        before = [c for ts, c in series if ts <= t + 0.5]
        return (before[-1] if before else 0) / os.sysconf("SC_CLK_TCK")

    # CPU by phase: curation (curate start to end), shard sets (after curate), the rest (start-up, data steps)
    phases = {}
    if ("curate", "start") in ends and ("curate", "end") in ends:
        c0, c1 = cpu_at(ends[("curate", "start")]), cpu_at(ends[("curate", "end")])
        phases = {"startup_cpu_s": c0, "curate_cpu_s": c1 - c0, "shards_cpu_s": sampled - c1}
    main_kb = peaks.pop(proc.pid, 0)
    return {"tasks": tasks, "wall_s": wall, "cpu_s": cpu, "cpu_s_waited": waited, "cpu_s_sampled": sampled,
            "processes": len(ticks), **phases, "peak_main_mb": main_kb / 1e3,
            "peak_worker_mb": max(peaks.values(), default=0) / 1e3, "children_maxrss_mb": after.ru_maxrss / 1e3,
            "step_wall_s": steps, "load": os.getloadavg()}


def shard_stats(run_dir: Path) -> dict:
    tokens = text = docs = on_disk = 0
    for lang in LANGS:
        idx = json.loads((run_dir / "shards" / lang / "index.json").read_text())
        tokens += idx["tokens"]
        docs += idx["documents"]
        text += idx.get("bytes_text", 0)
        on_disk += sum(p["bytes"] for p in idx["parts"])
    kept = sum(f.stat().st_size for lang in LANGS for f in (run_dir / "curate" / "sources" / lang / "kept").rglob("*")
               if f.is_file())
    return {"tokens": tokens, "documents": docs, "text_bytes": text, "shard_bytes": on_disk, "kept_bytes": kept}


def tokenize_vs_raw(corpus: Path, tok_dir: Path, max_mb: float, repeats: int, scratch: Path) -> dict:
    """tokenize_part against the tokenizer's own batch calls on the same texts (an equal share of each
    language of the corpus), one thread, CPU seconds, the sides taking turns within each repeat."""
    import gzip

    from auroram.tokenize.bpe import eos_id, load_tokenizer
    from auroram.tokenize.shardset import tokenize_part

    texts, used = [], 0
    per = max_mb * 1e6 / len(LANGS)
    for lang in LANGS:
        got = 0
        for f in sorted((corpus / lang).rglob("*.jsonl*")):
            opener = gzip.open if f.suffix == ".gz" else open
            with opener(f, "rt", encoding="utf-8") as fh:
                for line in fh:
                    t = json.loads(line)["text"]
                    texts.append(t)
                    got += len(t.encode("utf-8"))
                    if got >= per:
                        break
            if got >= per:
                break
        used += got
    tok = load_tokenizer(tok_dir / "hf")
    backend, eos = tok.backend_tokenizer, eos_id(tok)
    sides = {
        # the Rust tokenizer's batch call, ids collected as lists
        "encode_batch": lambda: [[e.ids for e in backend.encode_batch(texts[i : i + 512], add_special_tokens=False)]
                                 for i in range(0, len(texts), 512)],
        # transformers' call, as a user would write it: input ids (and attention masks) as lists
        "tokenizer(texts)": lambda: [tok(texts[i : i + 512], add_special_tokens=False)["input_ids"]
                                     for i in range(0, len(texts), 512)],
        # auroram: encode, EOS, hash, the part on disk with its record
        "tokenize_part": lambda: tokenize_part(tok, texts, scratch, 0, eos_id=eos, masked=False),
    }
    cpu: dict[str, list[float]] = {k: [] for k in sides}
    for _ in range(repeats):
        for k, fn in sides.items():
            t0 = time.process_time()
            fn()
            cpu[k].append(time.process_time() - t0)
    shutil.rmtree(scratch, ignore_errors=True)
    out: dict = {"bytes": used, "documents": len(texts),
                 "mb_per_cpu_s": {k: [used / 1e6 / x for x in v] for k, v in cpu.items()}}
    for k in ("encode_batch", "tokenizer(texts)"):
        r = [a / b for a, b in zip(cpu[k], cpu["tokenize_part"])]
        out[f"ratio_vs_{k}"] = {"median": statistics.median(r), "min": min(r), "max": max(r)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--mb", type=float, nargs="+", default=[100, 400, 1600])
    ap.add_argument("--tasks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--two-only-from-mb", type=float, default=1600,
                    help="from this size on, only the largest task count runs")
    ap.add_argument("--tokenize-mb", type=float, default=8.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tokenize-only", action="store_true", help="only the tokenization comparison")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--json-out", type=Path)
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    results: dict = {"sizes": [], "machine": {"cpus": os.cpu_count()}}
    # the BPE, learnt once: a run with no curated source, only the tokenizer step
    tok_dir = a.work / "bpe" / "tokenizer"
    if not (tok_dir / "step.json").is_file():
        r = recipe(a.work / "none", a.demo)
        r["sources"] = {k: v for k, v in r["sources"].items() if k.startswith("bpe_")}
        r["stages"][0]["mixture"] = {"bpe_en": 1.0}
        r["curate"] = None
        (a.work / "bpe.yaml").write_text(yaml.safe_dump(r))
        subprocess.run([str(Path(sys.executable).parent / "auroram"), "prepare", str(a.work / "bpe.yaml"),
                        "--run-dir", str(a.work / "bpe")], check=True, capture_output=True)
    if a.tokenize_only:
        corpus = a.work / "corpus-tokenize"
        build(a.demo, corpus, a.tokenize_mb * 1.2)
        results["tokenize"] = tokenize_vs_raw(corpus, tok_dir, a.tokenize_mb, a.repeats, a.work / "tok-bench")
        print(json.dumps(results["tokenize"], indent=1))
        shutil.rmtree(corpus, ignore_errors=True)
        if a.json_out:
            a.json_out.write_text(json.dumps(results, indent=1))
        return 0
    for mb in a.mb:
        corpus = a.work / f"corpus-{mb:g}"
        t0 = time.perf_counter()
        built = build(a.demo, corpus, mb)
        in_bytes = sum(v["bytes"] for v in built["languages"].values())
        print(f"{mb:g} MB: corpus {in_bytes / 1e6:.1f} MB built in {time.perf_counter() - t0:.0f}s", flush=True)
        rf = a.work / f"recipe-{mb:g}.yaml"
        rf.write_text(yaml.safe_dump(recipe(corpus, a.demo), allow_unicode=True))
        size = {"mb": mb, "input_bytes": in_bytes, "runs": []}
        counts = [max(a.tasks)] if mb >= a.two_only_from_mb else a.tasks
        for tasks in counts:
            run = prepare(rf, a.work / f"run-{mb:g}-{tasks}", tasks, tok_dir)
            run["mb_per_s"] = in_bytes / 1e6 / run["wall_s"]
            run["cpu_s_per_mb"] = run["cpu_s"] / (in_bytes / 1e6)
            size["runs"].append(run)
            print(f"  {tasks} task(s): wall {run['wall_s']:.0f}s ({run['mb_per_s']:.2f} MB/s), "
                  f"CPU {run['cpu_s']:.0f}s ({run['cpu_s_per_mb']:.2f} CPU-s/MB), peak main "
                  f"{run['peak_main_mb']:.0f} MB, worker {run['peak_worker_mb']:.0f} MB, load "
                  f"{run['load'][0]:.1f}; steps {run['step_wall_s']}", flush=True)
        last = a.work / f"run-{mb:g}-{counts[-1]}"
        size["output"] = shard_stats(last)
        if mb == a.mb[0] and a.tokenize_mb > 0:
            results["tokenize"] = tokenize_vs_raw(corpus, tok_dir, a.tokenize_mb, a.repeats, a.work / "tok-bench")
            print(f"  tokenize_part vs raw: {json.dumps(results['tokenize'])}", flush=True)
        results["sizes"].append(size)
        if not a.keep:
            shutil.rmtree(corpus, ignore_errors=True)
            for tasks in counts:
                shutil.rmtree(a.work / f"run-{mb:g}-{tasks}", ignore_errors=True)
        if a.json_out:
            a.json_out.write_text(json.dumps(results, indent=1))
    if len(results["sizes"]) >= 2:
        import math

        t = max(a.tasks)
        pts = [(s["input_bytes"], r["cpu_s"]) for s in results["sizes"] for r in s["runs"] if r["tasks"] == t]
        xs, ys = [math.log(x) for x, _ in pts], [math.log(y) for _, y in pts]
        mx, my = statistics.mean(xs), statistics.mean(ys)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
        results["cpu_s_exponent"] = slope
        print(f"CPU seconds ~ size^{slope:.3f} ({t} tasks)")
    if a.json_out:
        a.json_out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
