"""Cluster planner: what a recipe costs before a GPU is rented.

From a recipe alone (no model is built, no weights are read): tokens and steps per stage, the model's
parameter count and training FLOPs per token, memory per device for each parallel layout, hours and
GPU-hours at a given model-FLOPs utilisation (MFU), and, for a base under FSDP2/HSDP, peak host memory per
node and device memory per GPU while it is loaded, trained and exported (`phase_memory`).

Memory model, per device (bytes; P parameters; s sequence length, b micro-batch sequences, h width,
a heads, L layers, V vocabulary, e bytes per activation: 2 in bf16, 4 in fp32):
- training state, 16 bytes a parameter: in bf16, 2 (bf16 params) + 2 (bf16 grads) + 12 (AdamW: fp32
  master + two moments); in fp32, 4 + 4 + 8. Sharding divides it: FSDP2 by the shard group, ZeRO-1
  (Megatron's distributed optimizer) only the 12 optimizer bytes, TP x PP the parameters themselves.
- activations saved for backward, per layer and micro-batch (Korthikanti et al. 2022, "Reducing
  activation recomputation in large transformer models", generalised to grouped/multi-query attention
  and to SwiGLU): e*s*b*h*(2 + 3 + 2*kv/h + 1 + m*f/h) bytes + dropout masks + attention scores, with
  kv the K/V width, f the MLP width, m = 2 for GELU and 4 for SwiGLU. With MHA, a 4h GELU MLP,
  dropout and e = 2 this is exactly their 34sbh + 5as^2b. Attention through SDPA/flash stores no s x s
  scores (only a fp32 log-sum-exp per head and token), which removes the 5as^2b term.
- activation checkpointing per block keeps e*s*b*h per layer plus one block's working set.
- the LM head keeps fp32 log-probabilities for the loss (4sbV) and, while they live, the logits and
  their gradient ((e + 4)sbV, counted as transient).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from auroram.config import Recipe
from auroram.errors import AuroramError
from auroram.model.archs import ArchError, Shape, arch_for_model_type, get_arch, known_model_types


class PlanError(AuroramError, ValueError):
    """The recipe cannot be planned; the one-line message names the key or file."""


@dataclass(frozen=True)
class GpuSpec:
    peak_bf16_flops_per_s: float  # dense (no sparsity), per device
    memory_bytes: int  # per device
    devices_per_card: int = 1  # MI250X: two GCDs, each its own device to PyTorch and to Megatron
    devices_per_node: int = 8  # the hybrid-shard group: one node's NVLink/Infinity Fabric domain
    label: str = ""


GB = 10**9
GPUS: dict[str, GpuSpec] = {
    "h100": GpuSpec(989e12, 80 * GB, label="NVIDIA H100 SXM"),
    "h100-pcie": GpuSpec(756e12, 80 * GB, label="NVIDIA H100 PCIe"),
    "h200": GpuSpec(989e12, 141 * GB, label="NVIDIA H200"),
    "a100": GpuSpec(312e12, 80 * GB, label="NVIDIA A100 80GB"),
    # 383 TFLOP/s a card = 2 GCDs x 191.5; a LUMI-G node has 4 cards = 8 GCDs
    "mi250x": GpuSpec(191.5e12, 64 * GB, devices_per_card=2, label="AMD MI250X (per GCD)"),
    "mi300x": GpuSpec(1307.4e12, 192 * GB, label="AMD MI300X"),
}

# Architectures of well-known bases, so a recipe can be planned before its base is downloaded
# (a subset of the HF config.json keys; the same parser reads both).
KNOWN_BASES: dict[str, dict[str, Any]] = {
    # StarCoderPlus / StarCoder / StarCoderBase: GPTBigCode 15.5B, multi-query attention
    "starcoderplus": {
        "model_type": "gpt_bigcode", "n_embd": 6144, "n_layer": 40, "n_head": 48, "n_inner": 24576,
        "multi_query": True, "vocab_size": 49152, "n_positions": 8192, "tie_word_embeddings": True,
    },
}
KNOWN_BASES["starcoder"] = KNOWN_BASES["starcoderbase"] = KNOWN_BASES["starcoderplus"]


# ----------------------------------------------------------------------------------------------------
# Shape and parameter arithmetic from configs, without building a model.


def _norm_name(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalnum())


def known_base(name: str) -> dict[str, Any] | None:
    return KNOWN_BASES.get(_norm_name(name))


def shape_from_hf_config(cfg: dict[str, Any], source: str) -> Shape:
    mt = cfg.get("model_type")
    arch = arch_for_model_type(mt) if isinstance(mt, str) else None
    if arch is None:
        raise PlanError(f"{source}: key 'model_type': the planner knows {', '.join(known_model_types())}, got {mt!r}")
    try:
        return arch.shape_from_hf(cfg, source)
    except ArchError as e:
        raise PlanError(str(e)) from None


def shape_from_recipe(recipe: Recipe, *, base_config: dict[str, Any] | None = None,
                      base_arch: str | None = None) -> Shape:
    m = recipe.model
    if base_config is not None:
        return shape_from_hf_config(base_config, "base_config")
    if base_arch is not None:
        cfg = known_base(base_arch)
        if cfg is None:
            raise PlanError(f"--base-arch {base_arch!r}: unknown (known: {', '.join(sorted(KNOWN_BASES))})")
        return shape_from_hf_config(cfg, f"known base {_norm_name(base_arch)}")
    if m.base:
        path = Path(m.base).expanduser() / "config.json"
        if path.is_file():
            try:
                cfg = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                raise PlanError(f"{path}: not readable JSON ({e})") from None
            return shape_from_hf_config(cfg, str(path))
        name = Path(m.base).name
        if (cfg := known_base(name)) is not None:
            return shape_from_hf_config(cfg, f"known base {_norm_name(name)}")
        raise PlanError(f"key 'model.base': '{m.base}' has no config.json and '{name}' is not a known base "
                        f"(known: {', '.join(sorted(KNOWN_BASES))}); pass --base-arch NAME")
    try:
        arch = get_arch(m.arch)
    except ArchError as e:
        raise PlanError(f"key 'model.arch': {e}") from None
    return arch.shape_from_model(m, recipe.tokenizer.vocab_size, "recipe.model")


def block_params(s: Shape) -> int:
    a = get_arch(s.arch)
    h, kv, f = s.width, s.kv_width, s.mlp_width
    attn = h * h + 2 * h * kv + h * h + ((h + 2 * kv) if s.qkv_bias else 0) + (h if s.out_bias else 0)
    # every MLP matrix but the last (down) ends in a width-f bias; the down projection's is width h
    mlp = a.mlp_matrices * h * f + (((a.mlp_matrices - 1) * f + h) if s.mlp_bias else 0)
    return attn + mlp + 2 * a.norm_params * h  # a norm before attention and one before the MLP


def count_params(s: Shape) -> dict[str, int]:
    """Same keys and meaning as auroram.model.build.count_params, from the shape alone."""
    head = s.vocab * s.width
    embedding = head + s.positions * s.width
    final_norm = get_arch(s.arch).norm_params * s.width
    total = embedding + s.layers * block_params(s) + final_norm + (0 if s.tied else head)
    return {"total": total, "embedding": embedding, "non_embedding": total - embedding, "head": head}


def flops_per_token(s: Shape, seq_len: int) -> float:
    # the formula of auroram.model.build.flops_per_token: 6 x (non-embedding params without the head)
    # + 6 x head params + 12 x layers x width x seq_len (attention scores and values)
    c = count_params(s)
    body = c["non_embedding"] - (0 if s.tied else c["head"])
    return float(6 * body + 6 * c["head"] + 12 * s.layers * s.width * seq_len)


# ----------------------------------------------------------------------------------------------------
# Memory.


def state_bytes_per_param(precision: str) -> dict[str, int]:
    if precision == "bf16":
        return {"params": 2, "grads": 2, "optimizer": 12}
    return {"params": 4, "grads": 4, "optimizer": 8}


def layer_activation_bytes(s: Shape, seq_len: int, micro_seqs: int, act_bytes: int, attention: str) -> float:
    sb, h = seq_len * micro_seqs, s.width
    elements = sb * (2 * h + (3 * h + 2 * s.kv_width) + (h + get_arch(s.arch).mlp_saved * s.mlp_width))
    total = act_bytes * elements + (2 * sb * h if s.dropout else 0)  # 1-byte masks after attention and MLP
    scores = s.heads * seq_len * seq_len * micro_seqs
    if attention == "eager":
        total += act_bytes * scores + ((1 + act_bytes) * scores if s.dropout else 0)
    else:
        total += 4 * s.heads * sb  # flash keeps one fp32 log-sum-exp per head and token
    return float(total)


def head_activation_bytes(s: Shape, seq_len: int, micro_seqs: int, act_bytes: int) -> dict[str, float]:
    sb = seq_len * micro_seqs
    # saved: final-norm input and the head's input, and fp32 log-probs for the cross-entropy
    saved = act_bytes * 2 * sb * s.width + 4 * sb * s.vocab
    return {"saved": float(saved), "transient": float((act_bytes + 4) * sb * s.vocab)}


def _activations(s: Shape, layers: int, in_flight: int, seq_len: int, micro: int, e: int, attention: str,
                 with_head: bool, divide: int) -> dict[str, float]:
    layer = layer_activation_bytes(s, seq_len, micro, e, attention)
    head = head_activation_bytes(s, seq_len, micro, e) if with_head else {"saved": 0.0, "transient": 0.0}
    plain = layers * in_flight * layer + head["saved"] + head["transient"]
    ckpt = layers * in_flight * e * seq_len * micro * s.width + layer + head["saved"] + head["transient"]
    return {"no_ckpt": plain / divide, "ckpt": ckpt / divide}


def _layout(name: str, *, states: float, acts: dict[str, float], gathered: float, dp: int, tp: int, pp: int,
            shard: int, accum: int, note: str, mem: int) -> dict[str, Any]:
    total = {k: states + gathered + v for k, v in acts.items()}
    return {
        "name": name, "dp": dp, "tp": tp, "pp": pp, "shard": shard, "grad_accum": accum,
        "state_bytes": round(states), "gathered_bytes": round(gathered),
        "activation_bytes": {k: round(v) for k, v in acts.items()},
        "total_bytes": {k: round(v) for k, v in total.items()},
        "fits": {k: _fit(v, mem) for k, v in total.items()},
        "note": note,
    }


def _fit(total: float, mem: int) -> str:
    # allocator fragmentation, the CUDA context and communication buffers take the last ~10%
    return "yes" if total <= 0.9 * mem else ("tight" if total <= mem else "no")


def layouts(s: Shape, *, devices: int, spec: GpuSpec, seq_len: int, global_seqs: int, micro_seqs: int,
            precision: str, attention: str, tp_pp: list[tuple[int, int]]) -> list[dict[str, Any]]:
    n = count_params(s)["total"]
    per = state_bytes_per_param(precision)
    full = sum(per.values())
    e = 2 if precision == "bf16" else 4
    mem = spec.memory_bytes
    out = []

    def dp_shape(dp: int) -> tuple[int, int, str]:
        local = global_seqs // dp
        if local == 0:
            return 0, 0, f"the global batch ({global_seqs} sequences) is smaller than DP {dp}"
        micro = min(micro_seqs, local)
        note = "" if global_seqs % dp == 0 and local % micro == 0 else f"{global_seqs} sequences do not split evenly"
        return micro, -(-local // micro), note

    micro, accum, note = dp_shape(devices)
    if micro:
        acts = _activations(s, s.layers, 1, seq_len, micro, e, attention, True, 1)
        out.append(_layout("ddp" if devices > 1 else "single", states=n * full, acts=acts, gathered=0, dp=devices,
                           tp=1, pp=1, shard=1, accum=accum, note=note, mem=mem))
        # FSDP2: the block being computed and the one prefetched are unsharded, with the root's
        # embeddings and head (kept gathered between forward and backward), in the compute dtype
        root = n - s.layers * block_params(s)
        gathered = (root + 2 * block_params(s)) * 2 * e
        groups = [("fsdp2", devices)] if devices > 1 else []
        node = spec.devices_per_node
        if devices > node and devices % node == 0:
            groups.append((f"hsdp {devices // node}x{node}", node))
        for name, shard in groups:
            out.append(_layout(name, states=n * full / shard, acts=acts, gathered=gathered, dp=devices, tp=1, pp=1,
                               shard=shard, accum=accum, note=note, mem=mem))
    for tp, pp in tp_pp:
        if devices % (tp * pp) or tp * pp > devices or s.heads % tp or pp > s.layers:
            continue
        dp = devices // (tp * pp)
        micro, accum, note = dp_shape(dp)
        if not micro:
            continue
        per_stage = -(-s.layers // pp)
        c = count_params(s)
        # worst pipeline stage: the first holds the embeddings, the last the head (a tied head is a copy there)
        first = c["embedding"] + per_stage * block_params(s)
        last = per_stage * block_params(s) + c["head"] + 2 * s.width
        stage_params = max(first, last) if pp > 1 else n
        in_flight = min(pp, accum)  # 1F1B: the first stage holds pp micro-batches of its L/pp layers
        # Megatron tensor + sequence parallel divides every activation by tp
        acts0 = _activations(s, per_stage, in_flight, seq_len, micro, e, attention, pp == 1, tp)
        acts_last = _activations(s, per_stage, 1, seq_len, micro, e, attention, True, tp)
        acts = {k: max(acts0[k], acts_last[k]) for k in acts0}
        bubble = (pp - 1) / accum if pp > 1 else 0.0
        pnote = "; ".join(x for x in (note, f"pipeline bubble {bubble:.0%}" if pp > 1 else "") if x)
        name = f"tp{tp} pp{pp} dp{dp}"
        states = stage_params / tp * full
        out.append(_layout(name, states=states, acts=acts, gathered=0, dp=dp, tp=tp, pp=pp, shard=1, accum=accum,
                           note=pnote, mem=mem))
        if dp > 1:  # Megatron's distributed optimizer (ZeRO-1) shards the optimizer state over DP
            states1 = stage_params / tp * (per["params"] + per["grads"] + per["optimizer"] / dp)
            out.append(_layout(name + " zero1", states=states1, acts=acts, gathered=0, dp=dp, tp=tp, pp=pp, shard=1,
                               accum=accum, note=pnote, mem=mem))
    return out


# ----------------------------------------------------------------------------------------------------
# Host and device memory while loading, training and exporting a base under FSDP2.
#
# The load builds the model on meta, shards it, gives each rank its shard and reads only its own rows of
# the base's safetensors files (auroram.model.load); the export gathers one tensor at a time and rank 0
# writes files of a bounded size (auroram.model.export). The terms are those of
# auroram.model.load.memory_estimate (tests/test_plan.py checks they agree) plus three that
# benchmarks/bench_model_scale.py measured (2 CPU ranks, Llama 0.25-1.1B and GPTBigCode 0.46B, 2026-12-03):
# the process itself and the export gather's staging copy. The load reads the files (no memory map), so their
# pages are page cache, not any rank's resident memory.

# One rank's resident memory besides the model: Python with torch, transformers and the model's classes
# imported and a gloo process group (RSS after the load less the local shard: 0.41-0.52 GB). On a GPU the
# CUDA context adds host memory this does not count.
PROCESS_HOST_BYTES = 440 * 10**6
# Host bytes a CPU rank holds while one tensor of L elements is all-gathered for the export, in units of
# L x 4: the gathered tensor and a staging copy of it (measured: 2.0 on GPTBigCode, whose embedding is
# gathered first; 2.4-2.9 on Llama, whose head is gathered last, after the allocator kept some of the rest)
GATHER_HOST_FACTOR = 2


def largest_tensor_params(s: Shape) -> int:
    """Elements of the model's largest single tensor: what the load reads and the export gathers at once."""
    h = s.width
    return max(s.vocab * h, s.positions * h, h * s.mlp_width, h * (h + 2 * s.kv_width))


def host_memory(params: int, largest: int, ranks: int, *, export_file_bytes: int, on_gpu: bool,
                train_bytes: int = 4, disk_bytes: int = 2, export_bytes: int = 2) -> dict[str, int]:
    """Peak resident bytes (RSS) of one rank in each phase, with P = params, W = ranks (the FSDP2 shard
    group), L the largest tensor and the process itself (PROCESS_HOST_BYTES) in every phase:
    - load, sharded: the local shard ceil(P/W) * b_train (on a GPU it is in device memory) and one owned
      slice as read and converted, ceil(L/W) * (b_disk + b_train) (the files are read, not mapped: their
      pages are page cache);
    - load, full copy per rank (the path before): the whole model in float32, P * b_train, and the file
      pages of the whole base, P * b_disk (shared by the ranks of a node: one copy in its page cache);
    - export, rank 0: the shard (on CPU), one output file F = min(file bound, P * b_export) and one gathered
      tensor: GATHER_HOST_FACTOR * L * b_train while it is gathered, then L * (b_train + b_export) with its
      converted copy; other ranks: the shard and the gather. On a GPU the gather is on the device and rank 0
      copies L * b_export to the host.
    - training: on a GPU the state lives on the device; on CPU it is the device (see the layouts)."""
    shard = 0 if on_gpu else -(-params // ranks) * train_bytes
    read = -(-largest // ranks) * (disk_bytes + train_bytes)
    file = min(export_file_bytes, params * export_bytes)
    gather = 0 if on_gpu else round(GATHER_HOST_FACTOR * largest * train_bytes)
    gathered0 = largest * export_bytes if on_gpu else max(gather, largest * (train_bytes + export_bytes))
    return {
        "process": PROCESS_HOST_BYTES,
        "base_file_bytes": params * disk_bytes,
        "load_per_rank": PROCESS_HOST_BYTES + shard + read,
        "load_full_per_rank": PROCESS_HOST_BYTES + params * (train_bytes + disk_bytes),
        "train_per_rank": PROCESS_HOST_BYTES,
        "export_rank0": PROCESS_HOST_BYTES + shard + file + gathered0,
        "export_other_ranks": PROCESS_HOST_BYTES + shard + gather,
    }


def device_memory(params: int, largest: int, ranks: int, *, train_bytes: int = 4) -> dict[str, int]:
    """Peak device bytes of one GPU while loading and exporting, the model's shards in float32 over `ranks`:
    load (its shard: each slice is read and converted on the host, then copied into it), load_full_copy (the
    path before: the whole model moved to the device, then sharded) and export (its shard and one gathered
    tensor)."""
    shard = -(-params // ranks) * train_bytes
    return {"load": shard, "load_full_copy": params * train_bytes + shard,
            "export": shard + largest * train_bytes}


def phase_memory(s: Shape, lay: dict[str, Any], *, spec: GpuSpec, precision: str, export_file_bytes: int,
                 activation_checkpointing: bool, disk_bytes: int = 2) -> dict[str, Any]:
    """Peak host bytes per node and device bytes per GPU of an FSDP2/HSDP layout while loading a base stored
    with `disk_bytes` a parameter (sharded, and the full copy per rank it replaces), training and
    exporting. The load and export keep float32 master weights (the training dtype of the shards) whatever
    the compute precision; the export is in bf16."""
    n, largest, shard_group = count_params(s)["total"], largest_tensor_params(s), lay["shard"]
    node = min(spec.devices_per_node, lay["dp"])  # ranks on one node
    h = host_memory(n, largest, shard_group, export_file_bytes=export_file_bytes, on_gpu=True, disk_bytes=disk_bytes)
    d = device_memory(n, largest, shard_group)
    train_device = lay["total_bytes"]["ckpt" if activation_checkpointing else "no_ckpt"]
    rows = {
        "load": {"host_per_rank": h["load_per_rank"], "host_per_node": node * h["load_per_rank"],
                 "device_per_gpu": d["load"]},
        # the path before: each rank builds the whole float32 model on the host, moves it to its device, shards
        # the ranks of a node map the same files: their pages are in its page cache once
        "load_full_copy": {"host_per_rank": h["load_full_per_rank"],
                           "host_per_node": node * h["load_full_per_rank"] - (node - 1) * h["base_file_bytes"],
                           "device_per_gpu": d["load_full_copy"]},
        "train": {"host_per_rank": h["train_per_rank"], "host_per_node": node * h["train_per_rank"],
                  "device_per_gpu": train_device},
        # rank 0 holds a file and one tensor besides its process; the other ranks of its node only the process
        "export": {"host_per_rank": h["export_rank0"], "host_per_node": h["export_rank0"] + (node - 1) * h["export_other_ranks"],
                   "device_per_gpu": d["export"]},
    }
    sharded = ("load", "train", "export")
    return {
        "layout": lay["name"], "shard": shard_group, "ranks_per_node": node, "export_file_bytes": export_file_bytes,
        "largest_tensor_params": largest, "activation_checkpointing": activation_checkpointing, "disk_bytes": disk_bytes,
        "precision": precision, "phases": rows,
        "peak_host_per_node": max(rows[k]["host_per_node"] for k in sharded),
        "peak_device_per_gpu": max(rows[k]["device_per_gpu"] for k in sharded),
        "fits": _fit(max(rows[k]["device_per_gpu"] for k in sharded), spec.memory_bytes),
    }


# ----------------------------------------------------------------------------------------------------
# The data side: what `auroram prepare` costs on CPU nodes before the GPU job.
#
# Per source a stage draws from: tokens drawn (its weight x the stage's tokens, summed over stages), text
# bytes (its files on disk when they are there, else tokens x bytes per token), the shard set on disk and
# CPU-core-hours at rates benchmarks/bench_data_scale.py measured (2026-12-03, 2-core AMD EPYC VM, synthetic
# multilingual corpora grown from the demo, tiny recipe's curate settings, demo held-out sets, a 4,096-token
# BPE; CPU seconds per MB of text, on one core, in the 1.6 GB run with 2 tasks, tokenization alone on 8 MB of
# it, one thread; docs/benchmarks.md). A curated
# source's shard set is made from what curation keeps (`curate_keep` of its bytes); a source the recipe reads as
# it is keeps every byte. Each document adds its offset (8 bytes) to the shard set.

# curation (language ID, heuristics, quality, toxicity, PII, exact and near-duplicate removal), per MB in
CURATE_CPU_S_PER_MB = 2.18
# a shard task less its tokenizer, per MB it reads: reading, rendering, decontamination, the part on disk
DECONTAM_CPU_S_PER_MB = 0.36
# tokenize_part alone: encoding, EOS, hashing (a larger BPE changes this; the measured one has 4,096 tokens)
TOKENIZE_CPU_S_PER_MB = 0.72
# Aurora-M: ~1.7 TB of text for 435B tokens of StarCoder's tokenizer; the demo's BPE is not StarCoder's
BYTES_PER_TOKEN = 3.9
# the fraction of input bytes curation keeps: the benchmark's 1.6 GB corpus (demo paragraphs, resampled and
# perturbed: 0.76 at 100 MB, more near-duplicates as it grows); raw web text loses more: set it per corpus
CURATE_KEEP = 0.69
# an assumed mean document size (web pages and source files are a few kB): it only sizes the offsets, <1% of a set
BYTES_PER_DOCUMENT = 4096
OFFSET_BYTES = 8
# curation's deduplication runs one task a hash bucket (at least one a band and one a task): a near-duplicate
# bucket task holds ~60 bytes for each band row of its bucket, documents x bands / buckets rows (measured with
# tracemalloc on 80k documents; benchmarks in docs/benchmarks.md); the cluster task holds the candidate pairs
DEDUP_BYTES_PER_ROW = 60
MB = 10**6


def _source_disk_bytes(path: str) -> int | None:
    """Bytes of a source's files when they are on this machine (None: not there, or compressed)."""
    from auroram.data.sources import SourceError, _files

    if ":" in path.split("/", 1)[0] or not Path(path).expanduser().exists():  # "demo:en" and the like
        return None
    try:
        files = _files(path)
    except SourceError:
        return None
    if any(f.name.endswith(".gz") for f in files):
        return None
    return sum(f.stat().st_size for f in files)


def data_plan(recipe: Recipe, vocab_size: int, *, cpu_nodes: int = 1, cores_per_node: int = 64,
              bytes_per_token: float = BYTES_PER_TOKEN, curate_keep: float = CURATE_KEEP,
              bytes_per_document: float = BYTES_PER_DOCUMENT) -> dict[str, Any]:
    """Tokens, bytes and CPU-core-hours of the recipe's data preparation, and its wall time on
    cpu_nodes x cores_per_node cores with the recipe's data.tasks (tasks per source). A curated source keeps
    `curate_keep` of its input: from files, the shards are made of that share; sized from the tokens a stage
    draws, those tokens are what is kept, so the input to curate is larger by 1 / curate_keep."""
    from auroram.data.virtual import source_curated

    if cpu_nodes <= 0 or cores_per_node <= 0:
        raise PlanError(f"--cpu-nodes {cpu_nodes}, --cores-per-node {cores_per_node}: must be positive")
    if not bytes_per_token > 0:
        raise PlanError(f"--bytes-per-token {bytes_per_token}: must be positive")
    if not 0 < curate_keep <= 1:
        raise PlanError(f"--curate-keep {curate_keep}: must be within (0, 1]")
    if not bytes_per_document > 0:
        raise PlanError(f"--bytes-per-document {bytes_per_document}: must be positive")
    from auroram.curate.config import CurateConfig, dedup_buckets

    dedup = (recipe.curate or CurateConfig()).dedup
    bands = dedup.bands if dedup.near else 1
    buckets = dedup_buckets(dedup, recipe.data.tasks)
    drawn: dict[str, float] = {}
    for st in recipe.stages:
        for name, w in recipe.stage_weights(st).items():
            drawn[name] = drawn.get(name, 0.0) + w * st.tokens
    token_bytes = 2 if vocab_size <= 65535 else 4
    sources = []
    for name in sorted(drawn, key=lambda n: list(recipe.sources).index(n)):
        src = recipe.sources[name]
        masked = src.format != "text" or src.loss_on == "response"
        on_disk = _source_disk_bytes(src.path)
        curated = source_curated(recipe, name)
        keep = curate_keep if curated else 1.0
        # text: the source's input; kept: what reaches the shard set (all of it unless curated)
        if on_disk is not None:
            text, kept = on_disk, on_disk * keep
            tokens = round(kept / bytes_per_token)
        else:
            kept = drawn[name] * bytes_per_token
            text, tokens = kept / keep, round(drawn[name])
        documents = round(kept / bytes_per_document)
        # what curating it reads: its files, or the input that keeps the tokens drawn
        curate_in = text if curated or on_disk is not None else kept / curate_keep
        curate_h = curate_in / MB * CURATE_CPU_S_PER_MB / 3600
        # a near-duplicate bucket task holds its bucket's band rows
        clustering = round(round(curate_in / bytes_per_document) * bands / buckets * DEDUP_BYTES_PER_ROW)
        could_curate = not curated and not masked  # a plain-text source the recipe reads as it is
        hours = {"curate": curate_h if curated else 0.0,
                 "decontaminate": kept / MB * DECONTAM_CPU_S_PER_MB / 3600,
                 "tokenize": kept / MB * TOKENIZE_CPU_S_PER_MB / 3600}
        sources.append({
            "name": name, "domain": src.domain, "masked": masked, "curate": curated,
            "tokens_drawn": round(drawn[name]), "text_bytes": round(text), "kept_bytes": round(kept),
            "text_bytes_from": "files" if on_disk is not None else "tokens x bytes/token",
            "tokens": tokens, "documents": documents, "dedup_bytes": clustering if curated else 0,
            "shard_bytes": tokens * (token_bytes + (1 if masked else 0)) + (documents + 1) * OFFSET_BYTES,
            "core_hours": hours, "core_hours_total": sum(hours.values()),
            # what curating it would add, for a plain-text source the recipe does not curate
            "curate_core_hours_if_curated": curate_h if could_curate else 0.0,
            "dedup_bytes_if_curated": clustering if could_curate else 0,
        })
    cores, tasks = cpu_nodes * cores_per_node, recipe.data.tasks

    def phase_wall(keys: tuple[str, ...]) -> float:
        # a phase ends with its slowest source, which spreads over at most data.tasks cores
        per = [sum(s["core_hours"][k] for k in keys) for s in sources]
        return max(sum(per) / cores, max(per, default=0.0) / min(tasks, cores))

    # curation, then the shard sets (on Slurm the plan job waits for every curation job)
    wall = phase_wall(("curate",)) + phase_wall(("decontaminate", "tokenize"))
    total = {k: sum(s["core_hours"][k] for s in sources) for k in ("curate", "decontaminate", "tokenize")}
    return {
        "bytes_per_token": bytes_per_token, "curate_keep": curate_keep, "bytes_per_document": bytes_per_document,
        "vocab_size": vocab_size, "token_bytes": token_bytes,
        "rates_cpu_s_per_mb": {"curate": CURATE_CPU_S_PER_MB, "decontaminate": DECONTAM_CPU_S_PER_MB,
                               "tokenize": TOKENIZE_CPU_S_PER_MB},
        "cpu_nodes": cpu_nodes, "cores_per_node": cores_per_node, "cores": cores, "tasks": tasks,
        "sources": sources,
        "total": {"tokens_drawn": sum(s["tokens_drawn"] for s in sources),
                  "text_bytes": sum(s["text_bytes"] for s in sources),
                  "kept_bytes": sum(s["kept_bytes"] for s in sources),
                  "shard_bytes": sum(s["shard_bytes"] for s in sources),
                  "core_hours": total, "core_hours_total": sum(total.values()),
                  "curate_core_hours_if_curated": sum(s["curate_core_hours_if_curated"] for s in sources),
                  "dedup_peak_bytes_if_curated": max((s["dedup_bytes_if_curated"] for s in sources), default=0),
                  "wall_hours": wall,
                  # a bucket task of the largest curated source sets the peak
                  "dedup_peak_bytes": max((s["dedup_bytes"] for s in sources), default=0),
                  "dedup_bands": bands, "dedup_buckets": buckets},
    }


def render_data(p: dict[str, Any]) -> list[str]:
    d = p.get("data")
    if not d:
        return []
    lines = ["", f"data preparation (auroram prepare): {d['bytes_per_token']:g} bytes of text a token, "
                 f"{d['token_bytes']} bytes a token on disk (+1 for a loss mask, +8 a document at "
                 f"{d['bytes_per_document']:,g} bytes a document), vocab {d['vocab_size']:,}; curation keeps "
                 f"{d['curate_keep']:.0%} of a curated source; CPU-core-hours at "
                 f"{', '.join(f'{k} {v:g}' for k, v in d['rates_cpu_s_per_mb'].items())} "
                 f"CPU-s/MB (benchmarks/bench_data_scale.py):"]
    rows = [("source", "tokens", "text", "from", "kept", "shards", "curate", "decontam", "tokenize", "core-h")]
    for s in d["sources"] + [{**d["total"], "name": "total", "text_bytes_from": "", "masked": False,
                              "curate": d["total"]["core_hours"]["curate"] > 0}]:
        h = s["core_hours"]
        rows.append((s["name"] + (" (masked)" if s["masked"] else ""), _si(s["tokens_drawn"]), _bytes(s["text_bytes"]),
                     s["text_bytes_from"], _bytes(s["kept_bytes"]), _bytes(s["shard_bytes"]),
                     _hours(h["curate"]) if s["curate"] else "-",
                     _hours(h["decontaminate"]), _hours(h["tokenize"]), _hours(s["core_hours_total"])))
    lines += _table(rows, right_from=1, left_cols={3})
    t = d["total"]
    lines.append(f"wall: {t['wall_hours']:,.1f} h on {d['cpu_nodes']} x {d['cores_per_node']} cores with data.tasks "
                 f"{d['tasks']}" + (f" (each source uses at most {d['tasks']} cores: raise data.tasks)"
                                    if d["tasks"] < d["cores"] else ""))
    how = (f"{t['dedup_buckets']} buckets for {t['dedup_bands']} bands, {DEDUP_BYTES_PER_ROW} bytes a band row; "
           f"the cluster task also holds the candidate pairs")
    if t["dedup_peak_bytes"] > 0:
        lines.append(f"curation's near-duplicate bucket task holds ~{_bytes(t['dedup_peak_bytes'])} for the largest "
                     f"curated source ({how})")
    if t["curate_core_hours_if_curated"] > 0:
        lines.append(f"(curating the plain-text sources the recipe reads as they are (curate: true) would add "
                     f"{_hours(t['curate_core_hours_if_curated'])} core-hours, and a near-duplicate bucket task "
                     f"~{_bytes(t['dedup_peak_bytes_if_curated'])} for the largest source; {how})")
    return lines


# ----------------------------------------------------------------------------------------------------
# The plan.

DEFAULT_TP_PP = [(8, 1), (4, 4)]  # TP inside a node; Aurora-M's TP4 x PP4


def _base_disk_bytes(recipe: Recipe, base_config: dict[str, Any] | None) -> int | None:
    """Bytes a parameter of the base's weight files (its config's dtype: 4 for float32, else 2, as a known
    base's half-precision release); None for a recipe without a base."""
    cfg = base_config
    if cfg is None and recipe.model.base:
        path = Path(recipe.model.base).expanduser() / "config.json"
        try:
            cfg = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        except (OSError, ValueError):
            cfg = {}  # shape_from_recipe has already said what is wrong with it
    if cfg is None:
        return None
    named = str((cfg.get("dtype") or cfg.get("torch_dtype") or "bfloat16") if isinstance(cfg, dict) else "bfloat16")
    return 4 if named.replace("torch.", "") in ("float32", "float") else 2


def plan(recipe: Recipe, *, gpus: int, gpu: str = "h100", mfu: float = 0.4,
         base_config: dict[str, Any] | None = None, base_arch: str | None = None, attention: str = "flash",
         tp_pp: list[tuple[int, int]] | None = None, export_file_gb: float = 5.0, cpu_nodes: int = 1,
         cores_per_node: int = 64, bytes_per_token: float = BYTES_PER_TOKEN, curate_keep: float = CURATE_KEEP,
         bytes_per_document: float = BYTES_PER_DOCUMENT) -> dict[str, Any]:
    """`gpus` counts cards (an MI250X card is two devices); `tp_pp` lists the (TP, PP) layouts to size
    besides DDP and FSDP2 (default: TP8, and Aurora-M's TP4 x PP4); `export_file_gb` bounds the export's
    files (the host memory rank 0 holds while exporting); cpu_nodes x cores_per_node run the data
    preparation (data_plan)."""
    if gpu not in GPUS:
        raise PlanError(f"--gpu {gpu!r}: unknown (known: {', '.join(GPUS)})")
    if gpus <= 0:
        raise PlanError(f"--gpus {gpus}: must be positive")
    if not 0 < mfu <= 1:
        raise PlanError(f"--mfu {mfu}: must be within (0, 1]")
    if attention not in ("flash", "eager"):
        raise PlanError(f"attention {attention!r}: expected 'flash' or 'eager'")
    if not export_file_gb > 0:
        raise PlanError(f"--export-file-gb {export_file_gb}: must be positive")
    spec = GPUS[gpu]
    devices = gpus * spec.devices_per_card
    t = recipe.train
    # the planner plans GPU runs: "auto" means bf16 autocast there
    precision = "fp32" if t.precision == "fp32" else "bf16"
    shape = shape_from_recipe(recipe, base_config=base_config, base_arch=base_arch)
    if shape.positions and shape.positions < t.seq_len:
        raise PlanError(f"key 'train.seq_len': {t.seq_len} exceeds the model's {shape.positions} positions")
    params = count_params(shape)
    fpt = flops_per_token(shape, t.seq_len)
    peak = devices * spec.peak_bf16_flops_per_s

    stages = []
    for st in recipe.stages:
        steps = -(-st.tokens // t.global_batch_tokens)
        trained = steps * t.global_batch_tokens
        flops = fpt * trained
        hours = flops / (peak * mfu) / 3600
        stages.append({"name": st.name, "tokens": st.tokens, "steps": steps, "trained_tokens": trained,
                       "flops": flops, "hours": hours, "gpu_hours": hours * gpus, "device_hours": hours * devices})
    total_flops = sum(s["flops"] for s in stages)
    hours = total_flops / (peak * mfu) / 3600
    global_seqs = t.global_batch_tokens // t.seq_len
    lays = layouts(shape, devices=devices, spec=spec, seq_len=t.seq_len, global_seqs=global_seqs,
                   micro_seqs=t.micro_batch_seqs, precision=precision, attention=attention,
                   tp_pp=DEFAULT_TP_PP if tp_pp is None else tp_pp)
    # only a base is loaded from safetensors files; a recipe trained from scratch builds its first model whole
    disk = _base_disk_bytes(recipe, base_config if base_config is not None or not base_arch else known_base(base_arch))
    phases = [] if disk is None else [
        phase_memory(shape, lay, spec=spec, precision=precision, export_file_bytes=round(export_file_gb * GB),
                     activation_checkpointing=t.activation_checkpointing, disk_bytes=disk)
        for lay in lays if lay["name"].startswith(("fsdp2", "hsdp"))]
    return {
        "recipe": recipe.name,
        "gpu": gpu, "gpu_label": spec.label, "gpus": gpus, "devices": devices,
        "peak_flops_per_s_per_device": spec.peak_bf16_flops_per_s, "memory_bytes_per_device": spec.memory_bytes,
        "mfu": mfu, "precision": precision, "attention": attention,
        "seq_len": t.seq_len, "global_batch_tokens": t.global_batch_tokens, "global_batch_seqs": global_seqs,
        "micro_batch_seqs": t.micro_batch_seqs,
        "model": {**asdict(shape), "params": params, "flops_per_token": fpt},
        "stages": stages,
        "total": {"tokens": sum(s["tokens"] for s in stages), "steps": sum(s["steps"] for s in stages),
                  "trained_tokens": sum(s["trained_tokens"] for s in stages), "flops": total_flops,
                  "hours": hours, "days": hours / 24, "gpu_hours": hours * gpus, "device_hours": hours * devices},
        "layouts": lays,
        "phases": phases,
        # an extended vocabulary adds its tokens to the base's
        "data": data_plan(recipe, shape.vocab + (recipe.tokenizer.add if recipe.tokenizer.kind == "extend" else 0),
                          cpu_nodes=cpu_nodes, cores_per_node=cores_per_node, bytes_per_token=bytes_per_token,
                          curate_keep=curate_keep, bytes_per_document=bytes_per_document),
    }


# ----------------------------------------------------------------------------------------------------
# Rendering.


def _si(x: float) -> str:
    for unit, f in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= f:
            return f"{x / f:.3g}{unit}"
    return f"{x:.3g}"


def _bytes(x: float) -> str:
    for unit, f in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if x >= f:
            return f"{x / f:.1f} {unit}"
    return f"{x:.0f} B"


def _hours(h: float) -> str:
    return f"{h:,.0f}" if h >= 10 else (f"{h:.2g}" if h >= 0.01 else "<0.01")


def render_plan(p: dict[str, Any]) -> str:
    m = p["model"]
    c = m["params"]
    kind = "multi-query" if m["kv_width"] * m["heads"] == m["width"] and m["heads"] > 1 else (
        "MHA" if m["kv_width"] == m["width"] else "GQA")
    lines = [
        f"plan: recipe {p['recipe']} on {p['gpus']} x {p['gpu_label']}"
        + (f" = {p['devices']} devices" if p["devices"] != p["gpus"] else "")
        + f", {p['precision']}, MFU {p['mfu']:.0%}",
        f"model: {m['arch']} {_si(c['total'])} parameters ({_si(c['non_embedding'])} non-embedding), "
        f"width {m['width']}, {m['layers']} layers, {m['heads']} heads ({kind}), vocab {m['vocab']}  [{m['source']}]",
        f"batch: {p['global_batch_tokens']:,} tokens a step = {p['global_batch_seqs']:,} x {p['seq_len']:,}; "
        f"{m['flops_per_token']:.3g} FLOP a token (6N + 12 L h s)",
        "",
    ]
    rows = [("stage", "tokens", "steps", "FLOP", "hours", "days", "GPU-hours")]
    for s in p["stages"] + [{**p["total"], "name": "total"}]:
        rows.append((s["name"], _si(s["tokens"]), f"{s['steps']:,}", f"{s['flops']:.3g}", _hours(s["hours"]),
                     f"{s['hours'] / 24:,.1f}", _hours(s["gpu_hours"])))
    lines += _table(rows, right_from=1)
    if p["devices"] != p["gpus"]:
        lines.append(f"(GPU-hours count cards; device-hours: {p['total']['device_hours']:,.0f})")
    lines.append("")
    lines.append(f"memory per device, of {_bytes(p['memory_bytes_per_device'])} "
                 f"(micro-batch {p['micro_batch_seqs']} x {p['seq_len']}, {p['attention']} attention):")
    rows = [("layout", "accum", "states", "gathered", "acts", "total", "fits", "acts ckpt", "total ckpt", "fits",
             "note")]
    for lay in p["layouts"]:
        a, t, f = lay["activation_bytes"], lay["total_bytes"], lay["fits"]
        rows.append((lay["name"], str(lay["grad_accum"]), _bytes(lay["state_bytes"]), _bytes(lay["gathered_bytes"]),
                     _bytes(a["no_ckpt"]), _bytes(t["no_ckpt"]), f["no_ckpt"], _bytes(a["ckpt"]), _bytes(t["ckpt"]),
                     f["ckpt"], lay["note"]))
    lines += _table(rows, right_from=1, left_cols={6, 9, 10})
    lines += render_phases(p)
    lines += render_data(p)
    return "\n".join(lines)


def render_phases(p: dict[str, Any]) -> list[str]:
    if not p.get("phases"):
        return []
    first = p["phases"][0]
    lines = ["", f"memory by phase, FSDP2 with the sharded load (host: {first['ranks_per_node']} ranks a node; "
                 f"export in bf16, files of {_bytes(first['export_file_bytes'])}; "
                 f"training {'with' if first['activation_checkpointing'] else 'without'} activation checkpointing):"]
    names = {"load": "load (each rank reads its rows)", "load_full_copy": "load, full fp32 copy per rank (before)",
             "train": "train", "export": "export (rank 0)"}
    rows = [("layout", "phase", "host/rank", "host/node", "device/GPU")]
    for ph in p["phases"]:
        for key, r in ph["phases"].items():
            rows.append((ph["layout"], names[key], _bytes(r["host_per_rank"]), _bytes(r["host_per_node"]),
                         _bytes(r["device_per_gpu"])))
        rows.append((ph["layout"], "peak (load, train, export)", "", _bytes(ph["peak_host_per_node"]),
                     f"{_bytes(ph['peak_device_per_gpu'])} ({ph['fits']})"))
    lines += _table(rows, right_from=2)
    lines.append(f"(host: resident memory, counting the process itself ({_bytes(PROCESS_HOST_BYTES)}, measured on CPU; "
                 "not the CUDA context); the full-copy load also maps the base's files (their pages count once a node))")
    return lines


def _table(rows: list[tuple[str, ...]], right_from: int, left_cols: set[int] = frozenset()) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [c.ljust(w) if i < right_from or i in left_cols else c.rjust(w)
                 for i, (c, w) in enumerate(zip(r, widths))]
        out.append("  ".join(cells).rstrip())
    return out


def parse_layout(text: str) -> tuple[int, int]:
    """'tp4pp4', 'tp4-pp4' or 'tp8' -> (tp, pp)."""
    t = text.lower().replace("-", "").replace("x", "").replace(" ", "")
    tp, _, pp = t.removeprefix("tp").partition("pp")
    if not t.startswith("tp") or not tp.isdigit() or (pp and not pp.isdigit()) or int(tp) < 1 or int(pp or 1) < 1:
        raise PlanError(f"--layout {text!r}: expected TPnPPm, e.g. tp4pp4 or tp8")
    return int(tp), int(pp or 1)


def plan_command(recipe_name: str, *, gpus: int, gpu: str = "h100", mfu: float = 0.4, as_json: bool = False,
                 base_arch: str | None = None, overrides: list[str] | None = None, attention: str = "flash",
                 layouts: list[str] | None = None, export_file_gb: float = 5.0, cpu_nodes: int = 1,
                 cores_per_node: int = 64, bytes_per_token: float = BYTES_PER_TOKEN,
                 curate_keep: float = CURATE_KEEP, bytes_per_document: float = BYTES_PER_DOCUMENT) -> str:
    """What `auroram plan` prints: the table, or the plan as JSON."""
    from auroram.config import load_recipe

    tp_pp = DEFAULT_TP_PP + [parse_layout(x) for x in layouts] if layouts else None
    p = plan(load_recipe(recipe_name, overrides), gpus=gpus, gpu=gpu, mfu=mfu, base_arch=base_arch,
             attention=attention, tp_pp=tp_pp, export_file_gb=export_file_gb, cpu_nodes=cpu_nodes,
             cores_per_node=cores_per_node, bytes_per_token=bytes_per_token, curate_keep=curate_keep,
             bytes_per_document=bytes_per_document)
    return json.dumps(p, indent=2) if as_json else render_plan(p)
