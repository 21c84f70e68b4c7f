"""Write a trained model as a complete Hugging Face directory with a model card, whole or not at all."""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any, Iterator

import torch
import transformers
import yaml
from torch import nn

from auroram.io import atomic_dir, read_json, sha256_file, write_json, write_text
from auroram.model.build import load_base

MANIFEST = "auroram-manifest.json"


# transformers' own default shard size; a 15B model in bfloat16 is then six files
DEFAULT_MAX_FILE_BYTES = 5 * 10**9
EXPORT_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
INDEX = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"


def export_dtype(setting: str, base: str | os.PathLike | None) -> str:
    """`model.export_dtype` resolved: `auto` is the base's on-disk dtype (its config.json), float32 for a
    model trained from scratch or a base whose config names none."""
    if setting != "auto":
        return setting
    if not base:
        return "float32"
    try:
        raw = read_json(Path(base).expanduser() / "config.json")
    except (OSError, ValueError):
        return "float32"
    if not isinstance(raw, dict):
        return "float32"
    named = str(raw.get("dtype") or raw.get("torch_dtype") or "float32").replace("torch.", "")
    return named if named in EXPORT_DTYPES else "float32"


def export_hf(
    model: nn.Module,
    tokenizer: Any,
    out_dir: str | os.PathLike,
    *,
    card: dict[str, Any],
    dtype: str = "float32",
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    is_main: bool = True,
) -> Path:
    """Save the weights (safetensors in `dtype`, files of at most `max_file_bytes` plus an index when more than
    one), config, generation config, tokenizer, README.md card and a manifest, whole or not at all.

    A sharded (FSDP2) model is gathered one tensor at a time: every rank must call this (each all-gather needs
    them all); rank 0 (`is_main`) converts and writes, holding at most about one output file.
    """
    out_dir = Path(out_dir)
    inner = unwrap(model)
    if not isinstance(inner, transformers.PreTrainedModel):
        raise TypeError(f"export_hf needs a transformers PreTrainedModel, got {type(inner).__name__}")
    if dtype not in EXPORT_DTYPES:
        raise ValueError(f"export dtype {dtype!r} is not one of {', '.join(EXPORT_DTYPES)}")
    tensors = gathered_tensors(inner, EXPORT_DTYPES[dtype] if is_main else None)
    if not is_main:
        for _ in tensors:  # take part in every gather; rank 0 writes
            pass
        return out_dir
    card = {"arch": inner.config.model_type, "export_dtype": dtype, **card}
    with atomic_dir(out_dir) as tmp:
        write_safetensors(tmp, tensors, max_file_bytes)
        config = copy.deepcopy(inner.config)
        config.architectures = [type(inner).__name__]
        config.dtype = dtype  # what from_pretrained(dtype="auto") gives back
        config.save_pretrained(tmp)
        if getattr(inner, "generation_config", None) is not None:
            inner.generation_config.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_text(tmp / "README.md", render_model_card(card))
        files = sorted(p for p in tmp.rglob("*") if p.is_file())
        write_json(
            tmp / MANIFEST,
            {
                "name": card.get("name"),
                "files": {str(p.relative_to(tmp)): {"bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in files},
            },
        )
    return out_dir


def gathered_tensors(model: nn.Module, dtype: torch.dtype | None) -> Iterator[tuple[str, torch.Tensor | None]]:
    """(name, whole CPU tensor in `dtype`) for every weight the export holds, a tied head once under its
    embedding's name (as save_pretrained does). A sharded tensor is all-gathered (every rank must iterate);
    with dtype None nothing is kept (the tensor is None): the other ranks of a gather."""
    seen: set[int] = set()
    for name, t in model.state_dict(keep_vars=True).items():
        if id(t) in seen:
            continue
        seen.add(id(t))
        with torch.no_grad():
            full = t.detach()
            if hasattr(full, "full_tensor"):
                full = full.full_tensor()  # collective: one tensor of the model on every rank, then freed
            yield name, None if dtype is None else full.to("cpu", dtype, copy=True).contiguous()
            del full


def write_safetensors(out: Path, tensors: Iterator[tuple[str, torch.Tensor | None]], max_file_bytes: int) -> list[str]:
    """Write the tensors as model.safetensors, or as model-0000i-of-0000n.safetensors files of at most
    `max_file_bytes` (a larger tensor gets a file of its own) with the index transformers reads. Buffers at
    most one file; always drains `tensors` (the other ranks are gathering with us) before raising."""
    from safetensors.torch import save_file

    if max_file_bytes <= 0:
        raise ValueError(f"max_file_bytes must be positive, got {max_file_bytes}")
    parts: list[Path] = []
    weight_map: dict[str, int] = {}
    buffer: dict[str, torch.Tensor] = {}
    buffered = total = 0
    failure: BaseException | None = None

    def flush() -> None:
        nonlocal buffer, buffered
        part = out / f".part-{len(parts):05d}.safetensors"
        save_file(buffer, str(part), metadata={"format": "pt"})
        parts.append(part)
        buffer, buffered = {}, 0

    for name, t in tensors:
        if failure is not None or t is None:
            continue
        try:
            size = t.numel() * t.element_size()
            if buffer and buffered + size > max_file_bytes:
                flush()
            buffer[name], buffered, total = t, buffered + size, total + size
            weight_map[name] = len(parts)
        except BaseException as e:  # noqa: BLE001 - kept until every gather is done, then raised
            failure = e
    if failure is None and buffer:
        try:
            flush()
        except BaseException as e:  # noqa: BLE001
            failure = e
    if failure is not None:
        raise failure
    if len(parts) == 1:
        names = [SINGLE_FILE]
    else:
        names = [f"model-{i + 1:05d}-of-{len(parts):05d}.safetensors" for i in range(len(parts))]
    for part, final in zip(parts, names):
        os.replace(part, out / final)
    if len(parts) > 1:
        write_json(out / INDEX, {"metadata": {"total_size": total},
                                 "weight_map": {k: names[i] for k, i in sorted(weight_map.items())}})
    return names



def load_exported(out_dir: str | os.PathLike, dtype: str = "float32") -> tuple[transformers.PreTrainedModel, Any]:
    """(model, tokenizer) from an exported directory, in `dtype` and eval mode."""
    return load_base(out_dir, dtype=EXPORT_DTYPES[dtype])


def unwrap(model: nn.Module) -> nn.Module:
    # torch.compile keeps the real module in ._orig_mod, DDP in .module; either may wrap the other
    while True:
        if hasattr(model, "_orig_mod") and isinstance(model._orig_mod, nn.Module):
            model = model._orig_mod
        elif isinstance(model, nn.parallel.DistributedDataParallel) or (
            type(model).__name__ in ("DistributedDataParallel", "DataParallel") and hasattr(model, "module")
        ):
            model = model.module
        else:
            return model


# ----------------------------------------------------------------------------------------------------
# The model card.


def render_model_card(card: dict[str, Any]) -> str:
    name = str(card.get("name") or "auroram model")
    arch = card.get("arch")
    languages = [str(x) for x in card.get("languages") or []]
    # the hub's language field wants ISO 639 codes; "code" (programming languages) becomes a tag
    lang_codes = [x for x in languages if x != "code" and re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]+)*", x)]
    tags = ["auroram", "continual-pretraining"] + ([str(arch)] if arch else []) + (["code"] if "code" in languages else [])
    front: dict[str, Any] = {}
    if card.get("license"):
        front["license"] = str(card["license"])
    if lang_codes:
        front["language"] = lang_codes
    if card.get("base_model"):
        front["base_model"] = str(card["base_model"])
    if card.get("datasets"):
        front["datasets"] = [str(d) for d in card["datasets"]]
    front["tags"] = tags
    front["library_name"] = "transformers"
    front["pipeline_tag"] = "text-generation"
    results = model_index_results(card)
    if results:
        front["model-index"] = [{"name": name, "results": results}]

    training = dict(card.get("training") or {})
    stage = card.get("stage")
    base = card.get("base")
    out = ["---", yaml.safe_dump(front, sort_keys=False, allow_unicode=True).rstrip(), "---", "", f"# {name}", ""]

    out += ["## What it is", ""]
    what = f"A {arch} causal language model" if arch else "A causal language model"
    # the pipeline names a fresh model's base "trained from scratch"; say it once, not as a model name
    scratch = not base or "scratch" in str(base).lower()
    what += " trained from scratch" if scratch else f" continued from `{base}`"
    what += f", at the end of stage `{stage}`" if stage else ""
    if card.get("recipe"):
        what += f" of the auroram recipe `{card['recipe']}`"
    what += (
        ". auroram reproduces the Aurora-M method (Nakamura et al., 2024, arXiv 2404.00399): continual pretraining "
        "of an existing model on new natural languages and code, in stages, replaying old data against forgetting."
    )
    out += [what, ""]
    if languages:
        out += [f"Languages: {', '.join(languages)}.", ""]

    out += ["## How it was trained", ""]
    summary = []
    if stage:
        summary.append(f"Stage: `{stage}`.")
    if "tokens" in training:
        summary.append(f"Tokens: {_num(training['tokens'])}.")
    if "steps" in training:
        summary.append(f"Steps: {_num(training['steps'])}.")
    lr = training.get("lr", training.get("peak_lr"))
    if lr is not None:
        sched = training.get("schedule")
        summary.append(f"Peak learning rate {_num(lr)}" + (f", {sched} schedule." if sched else "."))
    out += [" ".join(summary) if summary else "No training settings were recorded.", ""]
    if training:
        out += ["| setting | value |", "| --- | --- |"]
        out += [f"| {_cell(k)} | {_cell(_num(v))} |" for k, v in training.items()]
        out += [""]

    out += vocabulary_paragraph(card.get("vocabulary"))
    out += ["## Data mixture", ""]
    mixture = card.get("mixture") or {}
    if mixture:
        out += ["| source | weight | tokens | epochs |", "| --- | ---: | ---: | ---: |"]
        for src, m in mixture.items():
            m = m if isinstance(m, dict) else {"weight": m}
            out.append(f"| {_cell(src)} | {_num(m.get('weight'))} | {_num(m.get('tokens'))} | {_num(m.get('epochs'))} |")
        out += [""]
    else:
        out += ["No mixture was recorded.", ""]
    sources = card.get("data_sources") or []
    if sources:
        out += ["Data sources:", ""] + [f"- {_source(s)}" for s in sources] + [""]

    out += ["## Evaluation", ""]
    ev = card.get("eval") or {}
    if ev:
        out += [
            "Bits per byte on held-out text of each domain (lower is better; independent of the tokenizer).",
            "",
            "| domain | bits per byte |",
            "| --- | ---: |",
        ]
        for domain, r in ev.items():
            bpb = r.get("bpb") if isinstance(r, dict) else r
            out.append(f"| {_cell(domain)} | {_num(bpb, digits=4)} |")
        out += [""]
    else:
        out += ["Not evaluated.", ""]
    tasks = card.get("task_results") or []
    if tasks:
        out += ["Tasks at the end of the stage (the project's own small sets; the same numbers are in the "
                "`model-index` above):", "", "| task | set | metric | value |", "| --- | --- | --- | ---: |"]
        for t in tasks:
            for metric, v in t["metrics"].items():
                out.append(f"| {_cell(t['task_name'])} | {_cell(t['dataset_name'])} | {_cell(metric)} | "
                           f"{_num(v, digits=4)} |")
        out += [""]

    out += [
        "## Limitations",
        "",
        "This is a small research and demonstration model made by a toolkit run, not a product. It has seen "
        "little data, writes text that is often wrong or meaningless, has no safety tuning beyond what its "
        "recipe states, and must not be used for any decision or deployed to users.",
        "",
        "## How to load it",
        "",
        *([f"The weights are stored in {card['export_dtype']} (safetensors).", ""] if card.get("export_dtype") else []),
        "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "",
        'model_dir = "path/to/this/directory"',
        "tokenizer = AutoTokenizer.from_pretrained(model_dir)",
        "model = AutoModelForCausalLM.from_pretrained(model_dir)",
        'ids = tokenizer("def hello():", return_tensors="pt").input_ids',
        "print(tokenizer.decode(model.generate(ids, max_new_tokens=20)[0]))",
        "```",
        "",
    ]
    if card.get("license"):
        out += ["## License", "", f"{card['license']}", ""]
    return "\n".join(out)


def model_index_results(card: dict[str, Any]) -> list[dict[str, Any]]:
    """The card's numbers in the Hub's model-index form: bits per byte per domain, then each task's metrics."""
    results = []
    for domain, r in (card.get("eval") or {}).items():
        bpb = r.get("bpb") if isinstance(r, dict) else r
        if isinstance(bpb, (int, float)):
            results.append({"task": {"type": "text-generation", "name": "Language modelling"},
                            "dataset": {"type": f"heldout-{domain}", "name": f"held-out {domain} text",
                                        "split": "validation"},
                            "metrics": [{"type": "bits_per_byte", "value": round(float(bpb), 6),
                                         "name": "bits per byte"}]})
    for t in card.get("task_results") or []:
        metrics = [{"type": k, "value": round(float(v), 6), "name": k} for k, v in t["metrics"].items()
                   if isinstance(v, (int, float))]
        if metrics:
            results.append({"task": {"type": t["task_type"], "name": t["task_name"]},
                            "dataset": {"type": t["dataset_type"], "name": t["dataset_name"]}, "metrics": metrics})
    return results


def hub_id(path: str | os.PathLike, kind: str = "models") -> str | None:
    """The Hub id of a local copy: `org/name` inside a Hugging Face cache (`.../models--org--name/...`);
    elsewhere a model's directory name (check the card's base_model before pushing) and, for data, None."""
    for part in Path(path).parts:
        if part.startswith(f"{kind}--") and part.count("--") >= 2:
            return "/".join(part.split("--")[1:])
    return Path(path).name if kind == "models" else None


def update_card(out_dir: str | os.PathLike, card: dict[str, Any]) -> None:
    """Rewrite an export's card and its manifest entry (results measured after the export); weights untouched."""
    out_dir = Path(out_dir)
    config = read_json(out_dir / "config.json")
    write_text(out_dir / "README.md", render_model_card({"arch": config.get("model_type"),
                                                         "export_dtype": config.get("dtype"), **card}))
    manifest = read_json(out_dir / MANIFEST)
    f = out_dir / "README.md"
    manifest["files"]["README.md"] = {"bytes": f.stat().st_size, "sha256": sha256_file(f)}
    write_json(out_dir / MANIFEST, manifest)


def vocabulary_paragraph(ext: Any) -> list[str]:
    """The card's "Vocabulary" lines for a base whose vocabulary was extended (the tokenizer step's record);
    nothing otherwise."""
    if not isinstance(ext, dict) or not ext.get("added"):
        return []
    base = ext.get("base") or {}
    first, added = ext.get("first_new_id"), ext["added"]
    text = (f"The base's vocabulary ({_num(base.get('vocab_size'))} tokens, {base.get('kind') or 'BPE'}) was "
            f"extended with {_num(added)} tokens")
    learnt = [u for u in ext.get("learnt_from") or [] if isinstance(u, dict)]
    if learnt:
        text += " learnt from " + ", ".join(f"{u.get('name')} ({_num(u.get('bytes'))} bytes)" for u in learnt)
    if isinstance(first, int):
        text += f", ids {first:,} to {first + added - 1:,}"
    init = ext.get("init")
    method = init.get("method") if isinstance(init, dict) else init
    text += (f"; their embedding rows started as `{method}`" if method else "") + "."
    text += " Every id of the base keeps its token; the new ones come after them."
    return ["## Vocabulary", "", text, ""]


def _num(v: Any, digits: int | None = None) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:.{digits}f}" if digits is not None else f"{v:.4g}"


def _cell(v: Any) -> str:
    # a bare "|" would split the table row
    return str(v).replace("|", "\\|").replace("\n", " ")


def _source(s: Any) -> str:
    if isinstance(s, dict):
        return ", ".join(f"{k}: {v}" for k, v in s.items())
    return str(s)
