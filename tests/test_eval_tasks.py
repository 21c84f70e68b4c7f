"""The evaluation-task registry: a task registered in one place is decontaminated against, run at stage ends
and reported; unknown names fail naming the key; the built-in tasks give today's numbers."""

from __future__ import annotations

import json

import pytest
import torch

from auroram.config import ConfigError, EvalConfig, ModelConfig, load_recipe
from auroram.eval import code, mc
from auroram.eval import tasks as eval_tasks
from auroram.eval.suite import evaluate_suite, report_section
from auroram.eval.tasks import TASKS, Task, check_names, decontamination_texts, register, run_tasks, summary_line
from auroram.model.build import build_model
from auroram.tokenize.bpe import train_bpe
from conftest import CODE, WORDS

SENTENCE = "the model learns new languages without forgetting what it knew before"


class SentenceLogProb(Task):
    # a user's task: how likely the model finds one fixed sentence, per token
    name = "sentence-logprob"

    def decontamination_texts(self, cfg):
        return {"sentence": [SENTENCE]}

    def run(self, model, tok, device, cfg):
        ids = torch.tensor([[tok.eos_token_id, *tok(SENTENCE)["input_ids"]]], device=device)
        with torch.no_grad():
            logp = torch.log_softmax(model(ids).logits[0, :-1].float(), dim=-1)
        picked = logp.gather(1, ids[0, 1:, None])
        return {"avg_logprob": picked.mean().item(), "tokens": int(picked.numel())}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    tok = train_bpe([" ".join(w) for w in WORDS.values()] * 4 + CODE * 4, 400, tmp_path_factory.mktemp("tok"))
    model = build_model(ModelConfig(n_embd=32, n_layer=2, n_head=2, n_positions=128), vocab_size=len(tok), eos_id=0, seed=11)
    return model.eval(), tok


@pytest.fixture
def sentence_task():
    register(SentenceLogProb)
    yield TASKS[SentenceLogProb.name]
    del TASKS[SentenceLogProb.name]


def test_a_registered_task_is_decontaminated_run_and_reported(tiny, sentence_task):
    model, tok = tiny
    cfg = EvalConfig(tasks=["sentence-logprob"])
    sets = decontamination_texts(cfg)
    assert sets["sentence"] == [SENTENCE]
    assert "mc-en" in sets and "code-problems" in sets  # the built-in sets stay, run or not
    res = run_tasks(model, tok, "cpu", cfg)
    assert set(res) == {"sentence-logprob", "seconds"}
    r = res["sentence-logprob"]
    assert r["avg_logprob"] < 0 and r["tokens"] > 5
    assert r == run_tasks(model, tok, "cpu", cfg)["sentence-logprob"]  # deterministic
    assert "sentence-logprob avg_logprob" in summary_line(res)
    # the report knows nothing of this task: a generic table of its numbers per stage
    sec = report_section([{"name": "base", "suite": res}, {"name": "cap", "suite": res}])
    json.dumps(sec)
    table = next(b for b in sec["blocks"] if b["kind"] == "table")
    assert table["head"] == ["stage", "avg_logprob", "tokens"]
    assert table["rows"] == [["base", r["avg_logprob"], r["tokens"]], ["cap", r["avg_logprob"], r["tokens"]]]


def test_recipe_picks_tasks_and_unknown_names_fail_naming_the_key(sentence_task):
    recipe = load_recipe("micro", overrides=["eval.tasks=[mc, sentence-logprob]"])
    assert recipe.eval.tasks == ["mc", "sentence-logprob"]
    assert load_recipe("micro").eval.tasks == ["mc", "code"]  # the default: the built-in tasks
    with pytest.raises(ConfigError, match=r"key 'eval\.tasks\[1\]': unknown task 'nope' \(registered: code, mc, "):
        load_recipe("micro", overrides=["eval.tasks=[mc, nope]"])
    with pytest.raises(ConfigError, match=r"eval\.tasks\[0\]"):
        check_names(["mcq"])


def test_registering_a_taken_name_fails(sentence_task):
    class Other(Task):
        name = "mc"

    with pytest.raises(ValueError, match="'mc' is taken by auroram.eval.tasks.mc.MultipleChoice"):
        register(Other)
    Other.name = "seconds"
    with pytest.raises(ValueError, match="needs a name"):
        register(Other)
    assert isinstance(TASKS["mc"], eval_tasks.mc.MultipleChoice)


def test_suite_off_runs_and_decontaminates_nothing(tiny):
    model, tok = tiny
    cfg = EvalConfig(suite=False)
    assert run_tasks(model, tok, "cpu", cfg) is None
    assert decontamination_texts(cfg) == {}


def test_builtin_tasks_give_the_old_suite_numbers(tiny, tmp_path):
    model, tok = tiny
    extra = tmp_path / "extra.jsonl"
    items = [{"context": f"Question {i}: the colour of grass is", "choices": ["green", "red"], "gold": 0} for i in range(3)]
    extra.write_text("".join(json.dumps(it) + "\n" for it in items), encoding="utf-8")
    cfg = EvalConfig(mc_tasks={"extra": str(extra)})
    new = run_tasks(model, tok, "cpu", cfg)
    # what the pipeline ran before the registry
    old = evaluate_suite(model, tok, mc_tasks={**mc.builtin_tasks(), **cfg.mc_tasks}, code_problems=cfg.code_problems,
                         device="cpu")
    assert list(new) == list(old) == ["mc", "code", "seconds"]
    del new["seconds"], old["seconds"]
    assert new == old
    assert sorted(new["mc"]) == ["en", "extra", "fi", "hi", "ja", "vi"]
    # and the texts the pipeline kept out of training
    old_sets = {f"mc-{lang}": [f"{it.context} {it.choices[it.gold]}" for it in mc.load_items(path, "auroram")]
                for lang, path in {**mc.builtin_tasks(), **cfg.mc_tasks}.items()}
    old_sets["code-problems"] = [p.prompt for p in code.load_problems(cfg.code_problems)]
    new_sets = decontamination_texts(cfg)
    assert list(new_sets) == list(old_sets) and new_sets == old_sets
