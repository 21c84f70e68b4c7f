"""Code generation scored by execution: HumanEval and MBPP problem files, generation with stop sequences,
sandboxed tests and pass@k by the unbiased estimator of Chen et al. (2021).

The sandbox's harness runs prompt + completion, then the problem's tests (and `check(entry_point)` for
HumanEval) in the same process, and a sample passes only when the harness reports over its own channel that the
tests returned: printing, exiting 0, exit handlers or trace hooks do not make a pass. In-process testing has
limits (see `auroram.eval.sandbox`): the scores measure models, they do not contain an adversary.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import torch

from auroram.eval.mc import TaskFileError
from auroram.model.build import context_tokens
from auroram.jsonl import read_records
from auroram.eval.sandbox import Sandbox, SandboxConfig

# bigcode-evaluation-harness conventions: a new top-level statement ends a function body
HUMANEVAL_STOP = ("\ndef ", "\nclass ", "\nif ", "\nprint(", "\n#", "\n@", "\n```")
MBPP_STOP = ("\nclass ", "\nassert ", '\n"""', "\nprint(", "\nif ", "\n```")

BUILTIN_PROBLEMS = Path(__file__).with_name("data") / "code_problems.jsonl"


@dataclass(frozen=True)
class CodeProblem:
    task_id: str
    prompt: str
    test: str  # appended after the completion
    entry_point: str | None  # HumanEval's checked function; None for MBPP, whose tests are plain asserts
    canonical_solution: str = ""
    stop: tuple[str, ...] = HUMANEVAL_STOP

    def program(self, completion: str) -> str:
        """The sample's own code; the tests run after it, from a file of their own."""
        return self.prompt + completion


def _humaneval(doc: dict) -> CodeProblem:
    return CodeProblem(str(doc["task_id"]), str(doc["prompt"]), str(doc["test"]), str(doc["entry_point"]),
                       str(doc.get("canonical_solution", "")), HUMANEVAL_STOP)


def _mbpp(doc: dict) -> CodeProblem:
    tests = doc["test_list"]
    if not isinstance(tests, list) or not tests:
        raise ValueError("test_list must be a non-empty list of assert statements")
    # the first test shows the expected name and signature, as the MBPP paper's prompt does
    prompt = f'"""\n{str(doc["text"]).strip()}\n{tests[0]}\n"""\n'
    setup = str(doc.get("test_setup_code") or "")
    test = "\n".join([setup, *map(str, tests)]).strip("\n")
    return CodeProblem(str(doc["task_id"]), prompt, test, None, str(doc.get("code", "")), MBPP_STOP)


def load_problems(path: str | Path | None = None, fmt: str = "auto") -> list[CodeProblem]:
    """HumanEval (task_id, prompt, test, entry_point) or MBPP (task_id, text, test_list) JSONL; None: the built-in set."""
    path = BUILTIN_PROBLEMS if path is None else Path(path)
    if fmt not in ("auto", "humaneval", "mbpp"):
        raise TaskFileError(f"{path}: unknown problem format {fmt!r} (known: auto, humaneval, mbpp)")
    if not path.is_file():
        raise TaskFileError(f"{path}: problem file not found")
    problems: list[CodeProblem] = []
    seen: set[str] = set()
    for lineno, doc in _jsonl(path):
        kind = fmt if fmt != "auto" else ("mbpp" if "test_list" in doc else "humaneval")
        try:
            p = _mbpp(doc) if kind == "mbpp" else _humaneval(doc)
        except KeyError as e:
            raise TaskFileError(f"{path}: line {lineno}: missing field {e.args[0]!r} for format {kind}") from None
        except (ValueError, TypeError) as e:
            raise TaskFileError(f"{path}: line {lineno}: bad {kind} problem ({e})") from None
        if p.task_id in seen:
            raise TaskFileError(f"{path}: line {lineno}: task_id {p.task_id!r} appears twice")
        seen.add(p.task_id)
        problems.append(p)
    if not problems:
        raise TaskFileError(f"{path}: no problems")
    return problems


def _jsonl(path: Path) -> Iterable[tuple[int, dict]]:
    return read_records(path, TaskFileError)


# ----------------------------------------------------------------------------------------------------
# pass@k


def pass_at_k(n: int, c: int, k: int) -> float:
    """1 - C(n-c, k) / C(n, k), as a product of n-c+1..n terms so no factorial overflows or cancels."""
    if not 0 <= c <= n or k < 1:
        raise ValueError(f"need 0 <= c <= n and k >= 1, got n={n}, c={c}, k={k}")
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples per problem, got {n}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def aggregate(results: dict[str, list[bool]], k_values: Iterable[int]) -> dict[str, float | None]:
    """Mean pass@k over problems; None for a k larger than the fewest samples any problem has."""
    if not results:
        return {f"pass@{k}": None for k in k_values}
    n_min = min(len(v) for v in results.values())
    out: dict[str, float | None] = {}
    for k in k_values:
        if k > n_min:
            out[f"pass@{k}"] = None
            continue
        out[f"pass@{k}"] = sum(pass_at_k(len(v), sum(v), k) for v in results.values()) / len(results)
    return out


# ----------------------------------------------------------------------------------------------------
# Execution


def execute(problems: list[CodeProblem], samples: list[tuple[str, str]], *, k_values: Iterable[int] = (1,),
            sandbox: Sandbox | None = None, workers: int = 2, sandbox_cfg: SandboxConfig | None = None,
            progress=None) -> dict:
    """Run (task_id, completion) samples against their problems; every problem needs at least one sample."""
    by_id = {p.task_id: p for p in problems}
    sandbox = sandbox or Sandbox(sandbox_cfg, workers=workers)
    programs = [by_id[t].program(c) for t, c in samples]
    runs = sandbox.run_many(programs, tests=[by_id[t].test for t, _ in samples],
                            entry_points=[by_id[t].entry_point for t, _ in samples], progress=progress)
    passed: dict[str, list[bool]] = {p.task_id: [] for p in problems}
    per_sample = []
    for (task_id, completion), r in zip(samples, runs):
        passed[task_id].append(r.passed)
        per_sample.append({"task_id": task_id, "completion": completion, "passed": r.passed, "reason": r.reason,
                           "seconds": round(r.seconds, 3)})
    missing = [t for t, v in passed.items() if not v]
    if missing:
        raise ValueError(f"no samples for {len(missing)} problem(s), e.g. {missing[0]!r}")
    reasons = Counter(s["reason"] if not s["reason"].startswith("failed:") else "failed" for s in per_sample)
    return {
        **aggregate(passed, k_values),
        "problems": len(problems),
        "samples": len(samples),
        "passed_samples": sum(s["passed"] for s in per_sample),
        "outcomes": dict(sorted(reasons.items())),
        "protections": runs[0].protections if runs else sandbox.protections(),
        "per_sample": per_sample,
    }


def read_samples(path: str | Path, problems: list[CodeProblem]) -> list[tuple[str, str]]:
    """human-eval's sample file: one {"task_id", "completion"} per line."""
    path = Path(path)
    if not path.is_file():
        raise TaskFileError(f"{path}: samples file not found")
    known = {p.task_id for p in problems}
    out = []
    for lineno, doc in _jsonl(path):
        for key in ("task_id", "completion"):
            if key not in doc:
                raise TaskFileError(f"{path}: line {lineno}: missing field {key!r}")
        if not isinstance(doc["completion"], str):
            raise TaskFileError(f"{path}: line {lineno}: completion must be a string")
        task_id = str(doc["task_id"])
        if task_id not in known:
            raise TaskFileError(f"{path}: line {lineno}: task_id {task_id!r} is not in the problem file")
        out.append((task_id, doc["completion"]))
    if not out:
        raise TaskFileError(f"{path}: no samples")
    return out


def score_samples(problems_file: str | Path | None, samples_file: str | Path, *, k_values: Iterable[int] = (1, 10, 100),
                  workers: int = 2, sandbox_cfg: SandboxConfig | None = None, progress=None) -> dict:
    """Score completions made elsewhere; no model needed. Problems without samples are an error."""
    problems = load_problems(problems_file)
    samples = read_samples(samples_file, problems)
    have = {t for t, _ in samples}
    problems = [p for p in problems if p.task_id in have] if len(have) < len(problems) else problems
    return execute(problems, samples, k_values=k_values, workers=workers, sandbox_cfg=sandbox_cfg, progress=progress)


# ----------------------------------------------------------------------------------------------------
# Generation


def truncate_at_stop(text: str, stop: Iterable[str]) -> str:
    cut = min((i for s in stop if (i := text.find(s)) != -1), default=len(text))
    return text[:cut]


def _generate(model: Any, tokenizer: Any, prompts: list[list[int]], stops: list[tuple[str, ...]], *, n_return: int,
              max_new_tokens: int, sample_kwargs: dict, device: str | torch.device) -> list[str]:
    """Completions of left-padded prompts, n_return per prompt, each cut at its first stop sequence."""
    from transformers import StoppingCriteria, StoppingCriteriaList

    eos = tokenizer.eos_token_id
    width = max(len(p) for p in prompts)
    input_ids = torch.full((len(prompts), width), eos, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, ids in enumerate(prompts):
        input_ids[i, width - len(ids):] = torch.tensor(ids)
        mask[i, width - len(ids):] = 1
    row_stops = [st for st in stops for _ in range(n_return)]

    class Stop(StoppingCriteria):
        def __call__(self, ids, scores, **kwargs):
            texts = tokenizer.batch_decode(ids[:, width:], skip_special_tokens=True)
            return torch.tensor([any(s in t for s in st) for t, st in zip(texts, row_stops)], device=ids.device)

    with torch.no_grad():  # not inference_mode: FSDP2 reuses buffers that training updates in place
        gen = model.generate(input_ids=input_ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new_tokens,
                             num_return_sequences=n_return, pad_token_id=eos, eos_token_id=eos,
                             stopping_criteria=StoppingCriteriaList([Stop()]), **sample_kwargs)
    texts = tokenizer.batch_decode(gen[:, width:], skip_special_tokens=True)
    return [truncate_at_stop(t, st) for t, st in zip(texts, row_stops)]


def generate_completions(model: Any, tokenizer: Any, problems: list[CodeProblem], *, n_samples: int = 1,
                         temperature: float = 0.0, top_p: float = 1.0, max_new_tokens: int = 128, seed: int = 0,
                         batch_prompts: int = 16, device: str | torch.device = "cpu") -> list[tuple[str, str]]:
    """(task_id, completion) pairs, n_samples per problem. Temperature 0 is greedy: one generation per problem,
    repeated, with problems batched; sampling draws a problem's n samples together from a seed of its own."""
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if getattr(tokenizer, "eos_token_id", None) is None:
        raise ValueError("the tokenizer has no EOS token, needed to pad prompts and end generations")
    ctx = context_tokens(model)
    new_tokens = min(max_new_tokens, max(1, ctx // 2))
    # the prompt's end matters most: keep it, drop the start
    prompts = [tokenizer.encode(p.prompt, add_special_tokens=False)[-(ctx - new_tokens):] or [tokenizer.eos_token_id]
               for p in problems]
    model.eval()
    out: list[tuple[str, str]] = []
    if temperature <= 0:
        for b in range(0, len(problems), batch_prompts):
            chunk = problems[b: b + batch_prompts]
            texts = _generate(model, tokenizer, prompts[b: b + batch_prompts], [p.stop for p in chunk], n_return=1,
                              max_new_tokens=new_tokens, sample_kwargs={"do_sample": False}, device=device)
            out.extend((p.task_id, t) for p, t in zip(chunk, texts) for _ in range(n_samples))
        return out
    kwargs = {"do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": 0}
    for index, p in enumerate(problems):
        # one seed per problem: its samples do not change when other problems are added or removed
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed * 1_000_003 + index)
            texts = _generate(model, tokenizer, [prompts[index]], [p.stop], n_return=n_samples,
                              max_new_tokens=new_tokens, sample_kwargs=kwargs, device=device)
        out.extend((p.task_id, t) for t in texts)
    return out


def evaluate_code(model: Any, tokenizer: Any, problems: list[CodeProblem] | None = None, *, n_samples: int = 1,
                  k_values: Iterable[int] = (1,), temperature: float = 0.0, top_p: float = 0.95,
                  max_new_tokens: int = 128, seed: int = 0, workers: int = 2, sandbox_cfg: SandboxConfig | None = None,
                  device: str | torch.device = "cpu") -> dict:
    problems = problems if problems is not None else load_problems()
    samples = generate_completions(model, tokenizer, problems, n_samples=n_samples, temperature=temperature,
                                   top_p=top_p, max_new_tokens=max_new_tokens, seed=seed, device=device)
    res = execute(problems, samples, k_values=k_values, workers=workers, sandbox_cfg=sandbox_cfg)
    res["generation"] = {"n_samples": n_samples, "temperature": temperature, "top_p": top_p if temperature > 0 else None,
                         "max_new_tokens": max_new_tokens, "seed": seed}
    return res
