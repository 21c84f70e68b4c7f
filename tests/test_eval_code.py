"""Code evaluation: pass@k against the exact formula, problem and sample files, scoring, bounded generation."""

from __future__ import annotations

import json
from fractions import Fraction
from math import comb

import pytest

from auroram.config import ModelConfig
from auroram.eval import code
from auroram.eval.mc import TaskFileError
from auroram.model.build import build_model
from auroram.tokenize.bpe import train_bpe
from conftest import CODE, WORDS


def reference_pass_at_k(n: int, c: int, k: int) -> float:
    # the estimator's definition, in exact rational arithmetic
    return float(1 - Fraction(comb(n - c, k), comb(n, k)))


def test_pass_at_k_equals_the_exact_formula():
    for n in (1, 2, 5, 10, 20, 50, 200):
        for c in range(0, n + 1, max(1, n // 10)):
            for k in (1, 2, 5, 10, 100):
                if k <= n:
                    assert abs(code.pass_at_k(n, c, k) - reference_pass_at_k(n, c, k)) <= 1e-9, (n, c, k)


def test_pass_at_k_rejects_impossible_counts():
    with pytest.raises(ValueError):
        code.pass_at_k(5, 6, 1)
    with pytest.raises(ValueError, match="at least 10 samples"):
        code.pass_at_k(5, 1, 10)
    # a k larger than the samples of some problem is reported as missing, not guessed
    assert code.aggregate({"a": [True, False], "b": [False, False]}, [1, 5]) == {"pass@1": 0.25, "pass@5": None}


def test_truncate_at_the_first_stop_sequence():
    text = "    return x + 1\n\ndef other():\n    pass\nprint(3)"
    assert code.truncate_at_stop(text, code.HUMANEVAL_STOP) == "    return x + 1\n"
    assert code.truncate_at_stop("    return 1", code.HUMANEVAL_STOP) == "    return 1"


def _jsonl(path, docs):
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    return path


def test_builtin_problems_pass_with_their_own_solutions_and_fail_with_wrong_ones(tmp_path):
    problems = code.load_problems()
    assert len(problems) >= 15
    samples = [{"task_id": p.task_id, "completion": p.canonical_solution} for p in problems]
    samples += [{"task_id": problems[0].task_id, "completion": "    return None\n"},
                {"task_id": problems[1].task_id, "completion": "    import sys\n    sys.exit(0)\n"}]
    res = code.score_samples(None, _jsonl(tmp_path / "s.jsonl", samples), k_values=(1, 2))
    per = res["per_sample"]
    assert all(s["passed"] for s in per[: len(problems)])
    assert per[-2]["reason"].startswith("failed") and not per[-2]["passed"]
    assert per[-1]["reason"] == "failed: exited before the tests finished"
    # problems 0 and 1 have 1 of 2 samples right, the rest have 1 of 1
    assert res["pass@1"] == pytest.approx((len(problems) - 2 + 0.5 + 0.5) / len(problems))
    assert res["pass@2"] is None
    assert res["protections"]["separate_process"]


def test_mbpp_format_runs_its_asserts(tmp_path):
    probs = _jsonl(tmp_path / "mbpp.jsonl", [{"task_id": 11, "text": "Write a function to triple a number.",
                                              "code": "def triple(x):\n    return 3 * x\n",
                                              "test_list": ["assert triple(2) == 6", "assert triple(0) == 0"],
                                              "test_setup_code": ""}])
    (p,) = code.load_problems(probs)
    assert p.entry_point is None and "assert triple(2) == 6" in p.prompt
    samples = _jsonl(tmp_path / "s.jsonl", [{"task_id": 11, "completion": "def triple(x):\n    return 3 * x\n"},
                                            {"task_id": 11, "completion": "def triple(x):\n    return x\n"}])
    res = code.score_samples(probs, samples, k_values=(1,))
    assert [s["passed"] for s in res["per_sample"]] == [True, False]


def test_bad_files_name_file_line_and_key(tmp_path):
    bad = _jsonl(tmp_path / "p.jsonl", [{"task_id": "a", "prompt": "def f():\n", "test": "", "entry_point": "f"},
                                        {"task_id": "b", "prompt": "def g():\n", "entry_point": "g"}])
    with pytest.raises(TaskFileError, match=r"p\.jsonl: line 2: missing field 'test' for format humaneval"):
        code.load_problems(bad)
    samples = _jsonl(tmp_path / "s.jsonl", [{"task_id": "auroram/0", "completion": "x"}, {"task_id": "nope", "completion": ""}])
    with pytest.raises(TaskFileError, match=r"s\.jsonl: line 2: task_id 'nope' is not in the problem file"):
        code.score_samples(None, samples)
    no_completion = _jsonl(tmp_path / "n.jsonl", [{"task_id": "auroram/0"}])
    with pytest.raises(TaskFileError, match=r"n\.jsonl: line 1: missing field 'completion'"):
        code.score_samples(None, no_completion)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    tok = train_bpe([" ".join(w) for w in WORDS.values()] * 4 + CODE * 4, 400, tmp_path_factory.mktemp("tok"))
    model = build_model(ModelConfig(n_embd=32, n_layer=2, n_head=2, n_positions=128), vocab_size=len(tok), eos_id=0, seed=5)
    return model.eval(), tok


def test_generation_that_never_stops_ends_at_max_new_tokens(tiny):
    model, tok = tiny
    p = code.CodeProblem("t", "def f(x):\n", "", None, stop=())
    calls = []
    hook = model.register_forward_hook(lambda *_: calls.append(1))
    try:
        ((_, completion),) = code.generate_completions(model, tok, [p], max_new_tokens=7)
    finally:
        hook.remove()
    assert 1 <= len(calls) <= 7  # one forward pass per new token (the first one reads the prompt)
    assert completion


def test_greedy_and_seeded_sampling_repeat_exactly(tiny):
    model, tok = tiny
    problems = code.load_problems()[:2]
    greedy = code.generate_completions(model, tok, problems, n_samples=2, max_new_tokens=12)
    assert greedy == code.generate_completions(model, tok, problems, n_samples=2, max_new_tokens=12)
    assert [t for t, _ in greedy] == [problems[0].task_id] * 2 + [problems[1].task_id] * 2
    sampled = code.generate_completions(model, tok, problems, n_samples=3, temperature=1.0, top_p=0.95,
                                        max_new_tokens=12, seed=1)
    assert sampled == code.generate_completions(model, tok, problems, n_samples=3, temperature=1.0, top_p=0.95,
                                                max_new_tokens=12, seed=1)
    assert len(sampled) == 6 and len({c for _, c in sampled[:3]}) > 1  # an untrained model samples differently each time


def test_batched_greedy_equals_one_prompt_at_a_time(tiny):
    model, tok = tiny
    problems = code.load_problems()[:6]
    assert code.generate_completions(model, tok, problems, max_new_tokens=16) == \
        code.generate_completions(model, tok, problems, max_new_tokens=16, batch_prompts=1)
