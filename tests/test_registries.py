"""Each extension point is one registration away from a whole run: a toy curation filter and a toy
evaluation task, registered here, run inside `auroram run micro` (the third architecture does too, in
tests/test_archs.py) and show up where a user looks: rejected/ with the filter's reason, every stage's
results and the report."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch

from auroram.config import load_recipe
from auroram.curate.filters import Filter, register as register_filter, unregister as unregister_filter
from auroram.eval.tasks import TASKS, Task, register as register_task
from auroram.pipeline import run_recipe

pytestmark = pytest.mark.slow


@dataclass
class TitleConfig:
    enabled: bool = True
    first_word: str = "the"  # documents whose title starts with this word are dropped


class TitleFilter(Filter):
    name = "toy_title"
    Config = TitleConfig

    def filter(self, doc, lang, cfg):
        if doc.text.split(" ", 1)[0] == cfg.first_word:
            return False, "title_word"
        return True


class EndOfTextTask(Task):
    """Log-probability of the end-of-text token after a fixed English sentence."""

    name = "toy-eot"

    def decontamination_texts(self, cfg):
        return {"toy-eot": ["the model learns new languages without forgetting what it knew before"]}

    def run(self, model, tok, device, cfg):
        ids = tok("the model keeps its code.")["input_ids"] + [tok.eos_token_id]
        with torch.inference_mode():
            logits = model(torch.tensor([ids], device=device)).logits.float()
        return {"eot_logprob": float(torch.log_softmax(logits[0, -2], -1)[ids[-1]])}


@pytest.fixture
def toys():
    register_filter(TitleFilter, after="cat")
    register_task(EndOfTextTask)
    try:
        yield
    finally:
        unregister_filter("toy_title")
        TASKS.pop("toy-eot", None)


def test_a_registered_filter_and_task_run_through_the_micro_recipe(toys, tiny_corpus, tmp_path):
    curate = json.dumps(load_recipe("tiny").curate.to_dict())  # the demo's curation settings, as YAML flow
    recipe = load_recipe("micro", [f"demo_dir={tiny_corpus}", f"curate={curate}", "curate.default.toy_title.first_word=the",
                                   "curate.dedup.exact=false", "curate.dedup.near=false",  # its code repeats
                                   "eval.tasks=[mc, code, toy-eot]"])
    run_dir = tmp_path / "run"
    report = run_recipe(recipe, run_dir, quiet=True)

    stats = json.loads((run_dir / "curate" / "stats.json").read_text())
    assert stats["steps"].index("toy_title") == stats["steps"].index("cat") + 1
    rejected = [json.loads(line) for f in (run_dir / "curate" / "rejected").glob("*.jsonl") for line in open(f)]
    by_toy = [r for r in rejected if r.get("step") == "toy_title"]
    assert by_toy and all(r["text"].startswith("the ") and r.get("reason") == "title_word" for r in by_toy)

    for stage in report["stages"]:
        assert list(stage["suite"]) == ["mc", "code", "toy-eot", "seconds"]
        assert stage["suite"]["toy-eot"]["eot_logprob"] < 0
    tasks = next(s for s in report["sections"] if s["title"] == "Evaluation tasks")
    assert any(b.get("kind") == "heading" and b.get("text") == "toy-eot" for b in tasks["blocks"])
