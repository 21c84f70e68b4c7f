"""lm-evaluation-harness adapter (optional extra `[lmeval]`): any auroram/HF model as an lm-eval model, local
YAML tasks over local files, offline.

    from auroram.eval.lmeval import run_lmeval, write_mc_task
    write_mc_task(TASK_DIR, "aurora_mc_fi", "fi.jsonl")
    run_lmeval(model, tokenizer, ["aurora_mc_fi"], include_path=TASK_DIR)

The model is registered as "auroram", so `lm_eval --model auroram --model_args pretrained=DIR` works too. An
exported stage is a plain HF directory, so lm-eval's own `hf` model reads it as well (`write_bpb_task` makes a
local task for either).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

# read by datasets and huggingface_hub at import time: nothing may be fetched, even by a task that asks
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

try:
    from lm_eval.api.model import LM
    from lm_eval.api.registry import register_model

    HAVE_LMEVAL = True
    IMPORT_ERROR = ""
    try:
        # lm-eval fills its model registry only while it is empty: registering "auroram" first would hide
        # its own models ("hf", ...) from a caller in this process unless they are listed now
        import lm_eval.models  # noqa: F401
    except ImportError:
        pass
except ImportError as e:  # the extra is not installed: the adapter cannot exist, everything else still works
    HAVE_LMEVAL = False
    IMPORT_ERROR = str(e)
    LM = object  # type: ignore[assignment,misc]

    def register_model(*_names):  # type: ignore[no-redef]
        return lambda cls: cls

import torch

from auroram.errors import AuroramError
from auroram.eval.bpb import score_documents
from auroram.eval.code import truncate_at_stop
from auroram.eval.mc import loglikelihoods
from auroram.model.build import context_tokens


class LMEvalUnavailable(AuroramError, RuntimeError):
    pass


def _require() -> None:
    if not HAVE_LMEVAL:
        raise LMEvalUnavailable(f"lm-evaluation-harness is not installed ({IMPORT_ERROR}); "
                                "install it with: pip install 'auroram[lmeval]'")


@register_model("auroram")
class AuroramLM(LM):
    """lm-eval's three request types on an in-memory model and tokenizer, or a local HF directory (`pretrained`)."""

    def __init__(self, model: Any = None, tokenizer: Any = None, *, pretrained: str | None = None,
                 batch_size: int | str = 16, max_length: int | None = None, device: str = "cpu", **_ignored: Any):
        _require()
        super().__init__()
        if pretrained is not None:
            from auroram.model.build import load_base

            model, tokenizer = load_base(pretrained)
        if model is None or tokenizer is None:
            raise ValueError("AuroramLM needs a model and a tokenizer, or pretrained=DIR")
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self._device = torch.device(device)
        self.batch_seqs = int(batch_size) if str(batch_size).isdigit() else 16
        self.max_length = int(max_length) if max_length else context_tokens(model)
        eos = getattr(tokenizer, "eos_token_id", None)
        if eos is None:
            raise ValueError("the tokenizer has no EOS token; lm-eval's requests need one as the first context token")
        self.eos_id = int(eos)

    @property
    def tokenizer_name(self) -> str:
        return str(getattr(self.tokenizer, "name_or_path", "auroram")).replace("/", "__")

    def loglikelihood(self, requests: list, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        pairs = [tuple(r.args[:2]) for r in requests]
        return loglikelihoods(self.model, self.tokenizer, pairs, eos_id=self.eos_id, max_len=self.max_length,
                              batch_seqs=self.batch_seqs, device=self._device)

    def loglikelihood_rolling(self, requests: list, disable_tqdm: bool = False) -> list[float]:
        docs = [r.args[0] for r in requests]
        # non-overlapping windows, as lm-eval's own rolling windows
        per_doc = score_documents(self.model, docs, self.tokenizer, eos_id=self.eos_id, seq_len=self.max_length,
                                  stride=self.max_length, batch_seqs=self.batch_seqs, device=self._device)
        return [-d["nll_nats"] for d in per_doc]

    def generate_until(self, requests: list, disable_tqdm: bool = False) -> list[str]:
        from transformers import StoppingCriteria, StoppingCriteriaList

        out = []
        for r in requests:
            context, kwargs = r.args[0], dict(r.args[1] if len(r.args) > 1 else {})
            until = kwargs.pop("until", None) or []
            until = [until] if isinstance(until, str) else list(until)
            max_new = int(kwargs.pop("max_gen_toks", 256))
            ids = self.tokenizer.encode(context, add_special_tokens=False)[-(self.max_length - max_new):] or [self.eos_id]
            n_prompt = len(ids)
            tok = self.tokenizer

            class Stop(StoppingCriteria):
                def __call__(self, input_ids, scores, **kw):
                    text = tok.decode(input_ids[0, n_prompt:], skip_special_tokens=True)
                    return torch.tensor([any(s in text for s in until)], device=input_ids.device)

            temperature = float(kwargs.get("temperature", 0.0) or 0.0)
            sample = bool(kwargs.get("do_sample", False)) and temperature > 0
            extra = {"do_sample": True, "temperature": temperature, "top_p": float(kwargs.get("top_p", 1.0)),
                     "top_k": 0} if sample else {"do_sample": False}
            with torch.inference_mode():
                gen = self.model.generate(input_ids=torch.tensor([ids], device=self._device),
                                          attention_mask=torch.ones(1, n_prompt, dtype=torch.long, device=self._device),
                                          max_new_tokens=max_new, pad_token_id=self.eos_id, eos_token_id=self.eos_id,
                                          stopping_criteria=StoppingCriteriaList([Stop()]), **extra)
            out.append(truncate_at_stop(tok.decode(gen[0, n_prompt:], skip_special_tokens=True), until))
        return out


_MC_YAML = """\
task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {path}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{context}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: gold
target_delimiter: "{delimiter}"
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: acc_norm
    aggregation: mean
    higher_is_better: true
"""


def write_mc_task(task_dir: str | Path, name: str, data_file: str | Path, *, delimiter: str = " ") -> Path:
    """A local lm-eval YAML task over a JSONL file in the auroram MC format ({"context", "choices", "gold"})."""
    from auroram.io import write_text

    if not name.replace("_", "").isalnum():
        raise ValueError(f"task name {name!r} must be letters, digits and underscores")
    path = Path(task_dir) / f"{name}.yaml"
    write_text(path, _MC_YAML.format(name=name, path=str(Path(data_file).resolve()), delimiter=delimiter))
    return path


def write_bpb_task(task_dir: str | Path, name: str, data_file: str | Path, *, field: str = "text") -> Path:
    """A local lm-eval YAML task scoring each document of a JSONL file whole (loglikelihood_rolling, like
    wikitext): bits_per_byte, byte_perplexity, word_perplexity; any lm-eval model, its own `hf` one included."""
    import yaml

    from auroram.io import write_text

    if not name.replace("_", "").isalnum():
        raise ValueError(f"task name {name!r} must be letters, digits and underscores")
    spec = {"task": name, "dataset_path": "json",
            "dataset_kwargs": {"data_files": {"test": str(Path(data_file).resolve())}}, "test_split": "test",
            "output_type": "loglikelihood_rolling", "doc_to_text": "", "doc_to_target": field,
            "metric_list": [{"metric": m} for m in ("word_perplexity", "byte_perplexity", "bits_per_byte")]}
    path = Path(task_dir) / f"{name}.yaml"
    write_text(path, yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
    return path


def run_lmeval(model: Any, tokenizer: Any, tasks: list[str], *, include_path: str | Path | None = None,
               limit: int | None = None, num_fewshot: int | None = None, batch_seqs: int = 16,
               device: str = "cpu", include_defaults: bool | None = None) -> dict:
    """lm-eval's results for `tasks` (names of built-in or local YAML tasks): {task: {metric: value}}."""
    _require()
    from lm_eval import evaluator
    from lm_eval.tasks import TaskManager

    lm = AuroramLM(model, tokenizer, batch_size=batch_seqs, device=device)
    # indexing lm-eval's thousands of built-in task files takes seconds; local tasks alone do not need them
    defaults = include_path is None if include_defaults is None else include_defaults
    manager = TaskManager(include_path=str(include_path) if include_path else None, include_defaults=defaults)
    res = evaluator.simple_evaluate(model=lm, tasks=tasks, task_manager=manager, limit=limit, num_fewshot=num_fewshot,
                                    log_samples=False, bootstrap_iters=0, random_seed=0, numpy_random_seed=0,
                                    torch_random_seed=0, fewshot_random_seed=0)
    if res is None:
        return {}
    return {task: {k.split(",")[0]: v for k, v in metrics.items() if k != "alias" and isinstance(v, (int, float))}
            for task, metrics in res["results"].items()}
