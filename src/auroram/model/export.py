"""Write a trained model as a complete Hugging Face directory with a model card, whole or not at all."""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import torch
import transformers
import yaml
from torch import nn

from auroram.io import atomic_dir, read_json, sha256_file, write_json, write_text
from auroram.model.build import load_base

MANIFEST = "auroram-manifest.json"


def export_hf(
    model: nn.Module,
    tokenizer: Any,
    out_dir: str | os.PathLike,
    *,
    card: dict[str, Any],
    state_dict: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Save model (float32, safetensors), generation config, tokenizer, README.md card and a manifest.

    `state_dict`: a full (unsharded) state the caller gathered, e.g. from an FSDP2 model; default: the model's.
    """
    out_dir = Path(out_dir)
    inner = unwrap(model)
    if not isinstance(inner, transformers.PreTrainedModel):
        raise TypeError(f"export_hf needs a transformers PreTrainedModel, got {type(inner).__name__}")
    cpu_model = _cpu_float32_copy(inner, state_dict)
    card = {"arch": inner.config.model_type, **card}
    with atomic_dir(out_dir) as tmp:
        cpu_model.save_pretrained(tmp)  # transformers 5 always writes safetensors
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


def load_exported(out_dir: str | os.PathLike) -> tuple[transformers.PreTrainedModel, Any]:
    """(model, tokenizer) from an exported directory, in float32 and eval mode."""
    return load_base(out_dir)


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


def _cpu_float32_copy(model: transformers.PreTrainedModel, state: dict[str, torch.Tensor] | None) -> transformers.PreTrainedModel:
    # a shell on the meta device holding CPU float32 tensors: no GPU memory, no re-init, caller's model and config untouched
    if state is None:
        state = model.state_dict()
    copied: dict[int, torch.Tensor] = {}
    cpu_state = {}
    for name, t in state.items():
        if type(t).__name__ == "DTensor":
            raise ValueError(
                f"export_hf: '{name}' is sharded (FSDP/TP); gather a full state first and pass it as state_dict="
            )
        key = id(t)
        if key not in copied:  # tied weights stay one tensor, so the save dedups them as transformers expects
            copied[key] = t.detach().to("cpu", torch.float32, copy=True)
        cpu_state[name] = copied[key]
    config = copy.deepcopy(model.config)
    with torch.device("meta"):
        shell = type(model)._from_config(config, dtype=torch.float32)
    _missing, unexpected = shell.load_state_dict(cpu_state, strict=False, assign=True)
    shell.tie_weights()  # a state without the tied head's key still gets its head
    left = [k for k, t in shell.state_dict().items() if t.device.type == "meta"]
    if unexpected or left:
        raise ValueError(f"export_hf: the state does not match the model (missing {left[:5]}, unexpected {unexpected[:5]})")
    shell.generation_config = copy.deepcopy(model.generation_config)
    return shell


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
    arch = read_json(out_dir / "config.json").get("model_type")
    write_text(out_dir / "README.md", render_model_card({"arch": arch, **card}))
    manifest = read_json(out_dir / MANIFEST)
    f = out_dir / "README.md"
    manifest["files"]["README.md"] = {"bytes": f.stat().st_size, "sha256": sha256_file(f)}
    write_json(out_dir / MANIFEST, manifest)


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
