"""Host memory of loading and exporting a base at scale: the sharded path against a full copy per rank.

For each size a random base is made by transformers and saved in bf16 (Llama with GQA, or GPTBigCode with
multi-query attention), then two fresh `torchrun --nproc-per-node N` groups (gloo, CPU) load it:

- `full`: what the stage did before the sharded path: every rank `from_pretrained(dtype=float32)` the
  whole model (auroram.model.build.load_base), then FSDP2 `fully_shard` (auroram.train.parallel.parallelize);
- `sharded`: build on meta, fully_shard, materialize, each rank reads its own rows
  (auroram.model.load.load_sharded_safetensors), then the streaming export (auroram.model.export.export_hf
  with --export-file-mb files, bf16).

Each rank records its peak RSS (VmHWM of /proc/self/status) after load, and, with the high-water mark reset
(`echo 5 > /proc/self/clear_refs`) before the export, after the export. The planner's numbers for the same
run (auroram.plan.host_memory with the shape read from the base's config.json) are printed beside them.

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/bench_model_scale.py --sizes 0.25b,0.5b,1b \
        --bigcode 0.5b --work-dir WORK --json-out model_scale.json
    python benchmarks/bench_model_scale.py report model_scale.json    # the table, slopes, planner ratios

The bases are deleted after each size (1B in bf16 is 2.2 GB on disk; its full load holds 4.4 GB a rank).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()

# Llama with GQA (4 K/V heads), vocabulary 32,000, untied head; 1b is TinyLlama's 1.1B shape
LLAMA = {
    "0.25b": dict(hidden_size=1024, intermediate_size=2816, num_hidden_layers=16, num_attention_heads=16),
    "0.5b": dict(hidden_size=1536, intermediate_size=4096, num_hidden_layers=16, num_attention_heads=16),
    "1b": dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32),
    "tiny": dict(hidden_size=64, intermediate_size=176, num_hidden_layers=2, num_attention_heads=4),
}
# GPTBigCode with multi-query attention and StarCoder's vocabulary, tied head
BIGCODE = {
    "0.25b": dict(n_embd=1024, n_layer=16, n_head=16),
    "0.5b": dict(n_embd=1536, n_layer=16, n_head=16),
    "1b": dict(n_embd=2048, n_layer=20, n_head=16),
    "tiny": dict(n_embd=64, n_layer=2, n_head=4),
}


def status_bytes() -> dict[str, int]:
    """VmHWM, VmRSS, RssAnon and RssFile of this process, in bytes."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
                out[key] = int(rest.split()[0]) * 1024
    return out


class AnonPeak:
    """Samples RssAnon every few milliseconds on a thread: the peak of the process's own memory, without the
    file pages of mapped safetensors files (which VmHWM counts and the kernel may reclaim)."""

    def __init__(self, every_seconds: float = 0.005) -> None:
        import threading

        self.peak, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every_seconds,), daemon=True)
        self._thread.start()

    def _run(self, every_seconds: float) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, status_bytes()["RssAnon"])
            time.sleep(every_seconds)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return max(self.peak, status_bytes()["RssAnon"])


def reset_peak() -> None:
    # Linux >= 4.0: writing 5 resets the peak resident set size (VmHWM) to the current RSS
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


# ----------------------------------------------------------------------------------------------------
# Making a base.


def make_base(out: Path, arch: str, size: str) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, GPTBigCodeConfig, LlamaConfig

    sys.path.insert(0, str(HERE.parent.parent / "tests"))
    from test_model import make_tokenizer

    tok = make_tokenizer()
    eos = tok.eos_token_id
    if arch == "llama":
        vocab = 512 if size == "tiny" else 32000
        cfg = LlamaConfig(**LLAMA[size], num_key_value_heads=4, vocab_size=vocab, max_position_embeddings=2048,
                          tie_word_embeddings=False, bos_token_id=eos, eos_token_id=eos)
    else:
        vocab = 512 if size == "tiny" else 49152
        cfg = GPTBigCodeConfig(**BIGCODE[size], multi_query=True, vocab_size=vocab, n_positions=2048,
                               tie_word_embeddings=True, bos_token_id=eos, eos_token_id=eos)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
    # the tokenizer only has to load; the vocabulary is the model's (ids beyond it are never asked for)
    model.save_pretrained(out, max_shard_size="1GB")
    tok.save_pretrained(out)
    del model
    gc.collect()
    return out


# ----------------------------------------------------------------------------------------------------
# One torchrun process.


def worker(mode: str, base: Path, out: Path, export_file_bytes: int) -> None:
    import torch
    import torch.distributed as dist

    from auroram.model.build import base_on_meta, load_base
    from auroram.model.export import export_hf
    from auroram.model.load import load_sharded_safetensors, materialize
    from auroram.train.parallel import init_distributed, parallelize

    torch.set_num_threads(1)
    info = init_distributed("cpu")
    cpu = torch.device("cpu")
    gc.collect()
    dist.barrier()
    before = status_bytes()
    reset_peak()
    anon = AnonPeak()
    t0 = time.perf_counter()
    if mode == "full":
        model, tok = load_base(base, dtype=torch.float32)
        model = parallelize(model, mode="fsdp2", info=info, device=cpu, bf16=False, activation_checkpointing=False,
                            compile=False)
    else:
        model, tok = base_on_meta(base)
        model = parallelize(model, mode="fsdp2", info=info, device=cpu, bf16=False, activation_checkpointing=False,
                            compile=False)
        materialize(model, cpu)
        load_sharded_safetensors(base, model)
    gc.collect()
    load_seconds = time.perf_counter() - t0
    after_load = {**status_bytes(), "RssAnon_peak": anon.stop()}
    params = {id(p): p for p in model.parameters()}.values()
    rec = {"mode": mode, "rank": info.rank, "world_size": info.world_size, "load_seconds": round(load_seconds, 2),
           "before": before, "after_load": after_load,
           "local_state_bytes": sum(p.to_local().numel() * p.to_local().element_size() for p in params)}
    dist.barrier()
    if mode == "sharded":
        gc.collect()
        reset_peak()
        anon = AnonPeak()
        rec["before_export"] = status_bytes()
        t0 = time.perf_counter()
        export_hf(model, tok, out / "hf", card={"name": base.name}, dtype="bfloat16",
                  max_file_bytes=export_file_bytes, is_main=info.is_main)
        rec["export_seconds"] = round(time.perf_counter() - t0, 2)
        rec["after_export"] = {**status_bytes(), "RssAnon_peak": anon.stop()}
        if info.is_main:
            rec["export_files"] = len(list((out / "hf").glob("*.safetensors")))
    out.mkdir(parents=True, exist_ok=True)
    (out / f"rank{info.rank}.json").write_text(json.dumps(rec))
    dist.barrier()
    dist.destroy_process_group()


# ----------------------------------------------------------------------------------------------------
# The driver.


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_group(nproc: int, mode: str, base: Path, out: Path, export_file_bytes: int) -> list[dict]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc), "--master-addr",
           "127.0.0.1", "--master-port", str(_free_port()), str(HERE), "worker", mode, str(base), str(out),
           str(export_file_bytes)]
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if p.returncode != 0:
        raise SystemExit(f"{mode} load of {base.name} failed:\n{p.stderr[-4000:]}")
    return [json.loads(f.read_text()) for f in sorted(out.glob("rank*.json"))]


def estimate(base: Path, ranks: int, export_file_bytes: int) -> dict:
    from auroram.plan import count_params, host_memory, largest_tensor_params, shape_from_hf_config

    shape = shape_from_hf_config(json.loads((base / "config.json").read_text()), str(base / "config.json"))
    n = count_params(shape)["total"]
    return {"params": n, "largest_tensor_params": largest_tensor_params(shape), "export_file_bytes": export_file_bytes,
            **host_memory(n, largest_tensor_params(shape), ranks, export_file_bytes=export_file_bytes, on_gpu=False)}


def measure(arch: str, size: str, nproc: int, work: Path, export_file_bytes: int) -> dict:
    base = work / f"{arch}-{size}"
    shutil.rmtree(base, ignore_errors=True)
    t0 = time.perf_counter()
    # a child process makes the base, so this driver's RSS stays small
    subprocess.run([sys.executable, str(HERE), "make", arch, size, str(base)], check=True)
    make_seconds = time.perf_counter() - t0
    row = {"arch": arch, "size": size, "ranks": nproc, "make_seconds": round(make_seconds, 1),
           "export_file_bytes": export_file_bytes,
           "disk_bytes": sum(f.stat().st_size for f in base.glob("*.safetensors")),
           "estimate": estimate(base, nproc, export_file_bytes)}
    for mode in ("full", "sharded"):
        out = work / f"out-{arch}-{size}-{mode}"
        shutil.rmtree(out, ignore_errors=True)
        row[mode] = run_group(nproc, mode, base, out, export_file_bytes)
        shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(base, ignore_errors=True)
    return row


def summarise(row: dict) -> str:
    e, gb = fresh_estimate(row), 1e9
    full = max(r["after_load"]["VmHWM"] for r in row["full"])
    sh = max(r["after_load"]["VmHWM"] for r in row["sharded"])
    exp0 = row["sharded"][0]["after_export"]["VmHWM"]
    exp1 = max(r["after_export"]["VmHWM"] for r in row["sharded"][1:]) if len(row["sharded"]) > 1 else 0
    return (f"{row['arch']} {row['size']} ({e['params'] / 1e9:.3f}B, {row['ranks']} ranks): load peak per rank "
            f"full {full / gb:.2f} GB (est {e['load_full_per_rank'] / gb:.2f}, x{full / e['load_full_per_rank']:.2f}), "
            f"sharded {sh / gb:.2f} GB (est {e['load_per_rank'] / gb:.2f}, x{sh / e['load_per_rank']:.2f}), "
            f"sharded/full {sh / full:.2f}; export rank 0 {exp0 / gb:.2f} GB "
            f"(est {e['export_rank0'] / gb:.2f}, x{exp0 / e['export_rank0']:.2f}), other ranks {exp1 / gb:.2f} GB "
            f"(est {e['export_other_ranks'] / gb:.2f})")


def fresh_estimate(row: dict) -> dict:
    """The planner's numbers for a measured row, from the current auroram.plan (a JSON file keeps its
    measurements; re-reading it after the planner changes compares them with the new formulas)."""
    from auroram.plan import host_memory

    e = row["estimate"]
    return {**e, **host_memory(e["params"], e["largest_tensor_params"], row["ranks"],
                               export_file_bytes=row.get("export_file_bytes", e.get("export_file_bytes", 0)),
                               on_gpu=False)}


def fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares slope and intercept."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return slope, my - slope * mx


def report(rows: list[dict]) -> str:
    """A markdown table of the measured peaks against the planner's, the fitted slopes, and what they say
    about StarCoderPlus (15.5B) on 8 ranks."""
    gb = 1e9
    out = ["| base | params | ranks | load s full / sharded | load peak/rank full (est) | load peak/rank sharded (est) "
           "| sharded / full | anon peak/rank full / sharded | export s | export peak rank 0 (est) "
           "| export peak other rank (est) |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    pts = {"full": [], "sharded": []}
    for row in rows:
        e = fresh_estimate(row)
        full = max(r["after_load"]["VmHWM"] for r in row["full"])
        sh = max(r["after_load"]["VmHWM"] for r in row["sharded"])
        exp0 = row["sharded"][0]["after_export"]["VmHWM"]
        exp1 = max(r["after_export"]["VmHWM"] for r in row["sharded"][1:])
        pts["full"].append((e["params"], full))
        pts["sharded"].append((e["params"], sh))
        secs = lambda mode, key: max(r[key] for r in row[mode])  # noqa: E731
        anon = [max(r["after_load"].get("RssAnon_peak", 0) for r in row[m]) for m in ("full", "sharded")]
        anon_cell = f"{anon[0] / gb:.2f} / {anon[1] / gb:.2f} GB ({anon[1] / anon[0]:.2f})" if all(anon) else "-"
        out.append(
            f"| {row['arch']} {row['size']} | {e['params'] / 1e9:.3f}B | {row['ranks']} | "
            f"{secs('full', 'load_seconds'):.0f} / {secs('sharded', 'load_seconds'):.0f} | "
            f"{full / gb:.2f} GB ({e['load_full_per_rank'] / gb:.2f}, x{full / e['load_full_per_rank']:.2f}) | "
            f"{sh / gb:.2f} GB ({e['load_per_rank'] / gb:.2f}, x{sh / e['load_per_rank']:.2f}) | {sh / full:.2f} | "
            f"{anon_cell} | "
            f"{secs('sharded', 'export_seconds'):.0f} | "
            f"{exp0 / gb:.2f} GB ({e['export_rank0'] / gb:.2f}, x{exp0 / e['export_rank0']:.2f}) | "
            f"{exp1 / gb:.2f} GB ({e['export_other_ranks'] / gb:.2f}, x{exp1 / e['export_other_ranks']:.2f}) |")
    out.append("")
    ranks = rows[0]["ranks"]
    slopes = {}
    for mode, p in pts.items():
        if len(p) >= 2:
            slopes[mode], icpt = fit([x for x, _ in p], [y for _, y in p])
            out.append(f"{mode}: load peak per rank = {icpt / gb:.2f} GB + {slopes[mode]:.2f} bytes x params "
                       f"({ranks} ranks)")
    if "sharded" in slopes and "full" in slopes:
        n, w = 15_517_000_000, 8
        # what the sharded load holds of the model scales as 1 / ranks; on a GPU node the 4-byte shard is on the device
        cpu = slopes["sharded"] * ranks / w
        gpu = (slopes["sharded"] * ranks - 4) / w
        out.append(f"StarCoderPlus ({n / 1e9:.1f}B) on {w} ranks (one node), from these slopes: sharded load "
                   f"{cpu:.2f} bytes x params = {cpu * n / gb:.1f} GB a rank on CPU; on GPUs {gpu:.2f} bytes x params "
                   f"= {gpu * n / gb:.1f} GB of host a rank ({w * gpu * n / gb:.0f} GB a node: the slice being read, "
                   f"besides the process itself) and {4 / w:.1f} bytes x params = {4 * n / w / gb:.1f} GB a GPU. Full copy per rank: "
                   f"{slopes['full']:.2f} bytes x params = {slopes['full'] * n / gb:.0f} GB a rank, of which "
                   f"{4 * n / gb:.0f} GB fp32 (a node: {w} x {4 * n / gb:.0f} + {2 * n / gb:.0f} GB of shared file "
                   f"pages = {(w * 4 + 2) * n / gb:.0f} GB), then {4 * n / gb:.0f} GB on each GPU before it is sharded")
    return "\n".join(out)


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "report":
        print(report(json.loads(Path(sys.argv[2]).read_text())))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "make":
        make_base(Path(sys.argv[4]), sys.argv[2], sys.argv[3])
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        worker(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), int(sys.argv[5]))
        return 0
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="0.25b,0.5b,1b", help="Llama GQA sizes: tiny, 0.25b, 0.5b, 1b")
    ap.add_argument("--bigcode", default="0.5b", help="GPTBigCode multi-query sizes (comma-separated, or empty)")
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--export-file-mb", type=float, default=200, help="export file size bound, MB")
    ap.add_argument("--work-dir", required=True, help="scratch directory for the bases and exports")
    ap.add_argument("--json-out", default="")
    args = ap.parse_args()
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    runs = [("llama", s) for s in args.sizes.split(",") if s] + [("bigcode", s) for s in args.bigcode.split(",") if s]
    rows = []
    for arch, size in runs:
        rows.append(measure(arch, size, args.nproc, work, int(args.export_file_mb * 1e6)))
        print(summarise(rows[-1]), flush=True)
        if args.json_out:  # after each size, so a long run leaves what it measured so far
            Path(args.json_out).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
