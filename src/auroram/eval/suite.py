"""The task suite in one call with every generation knob (`evaluate_suite`), the report section of the
stage-end tasks, and the `auroram eval mc` / `auroram eval code` entry points. The pipeline runs tasks
through the registry, auroram.eval.tasks.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterable

from auroram.eval import code as code_eval
from auroram.eval import mc
from auroram.eval.sandbox import SandboxConfig
from auroram.eval.tasks import task_for
from auroram.eval.tasks.mc import eos_id, score_sets
from auroram.model.build import context_tokens
from auroram.report import sections as S


def evaluate_suite(model: Any, tokenizer: Any, *, mc_tasks: dict[str, Any] | None = None,
                   code_problems: str | Path | list | bool | None = None, samples_per_problem: int = 1,
                   k_values: Iterable[int] = (1,), temperature: float = 0.0, top_p: float = 0.95,
                   max_new_tokens: int = 96, workers: int = 2, sandbox_cfg: SandboxConfig | None = None,
                   max_len: int | None = None, batch_seqs: int = 16, seed: int = 0,
                   device: str = "cpu", details: bool = False) -> dict:
    """{"mc": {task: {"acc", "acc_norm", "items"}}, "code": {"pass@k"..., "outcomes", "protections"}, "seconds"}.

    mc_tasks None runs the built-in sets (en, fi, hi, ja, vi); {} runs none. code_problems None runs the built-in
    problems, False runs none, else a HumanEval/MBPP file or a list of CodeProblem.
    """
    t0 = time.perf_counter()
    eos_id(tokenizer)  # fail before any work
    out: dict[str, Any] = {"mc": score_sets(model, tokenizer, mc.builtin_tasks() if mc_tasks is None else mc_tasks,
                                            max_len=max_len or context_tokens(model), batch_seqs=batch_seqs,
                                            device=device, details=details), "code": None}
    if code_problems is not False:
        if code_problems is None or isinstance(code_problems, (str, Path)):
            problems = code_eval.load_problems(code_problems)
        else:
            problems = list(code_problems)
        res = code_eval.evaluate_code(model, tokenizer, problems, n_samples=samples_per_problem, k_values=k_values,
                                      temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed,
                                      workers=workers, sandbox_cfg=sandbox_cfg, device=device)
        if not details:
            res.pop("per_sample")
        out["code"] = res
    out["seconds"] = time.perf_counter() - t0
    return out


# ----------------------------------------------------------------------------------------------------
# Report section


def _suite(stage: dict) -> dict:
    return stage.get("suite") or stage.get("tasks") or {}


def report_section(stages: list[dict]) -> dict[str, Any]:
    """The report section (auroram.report.sections data) of the stage-end tasks: each task's own blocks
    (a generic table of numbers for a task it does not know), then one plot of every task's headline
    rates across stages. Each stage is {"name", "suite": run_tasks(...)}."""
    names = [str(s.get("name", f"stage {i}")) for i, s in enumerate(stages)]
    suites = [_suite(s) for s in stages]
    task_names = list(dict.fromkeys(k for suite in suites for k, v in suite.items() if k != "seconds" and v))
    blocks: list[dict[str, Any]] = []
    series: dict[str, list[float | None]] = {}
    dashed: dict[str, str] = {}
    for name in task_names:
        task = task_for(name)
        results = [suite.get(name) or None for suite in suites]
        blocks += task.report(names, results)
        first = not series
        for i, r in enumerate(results):
            for label, y in (task.headline(r) if r else {}).items():
                series.setdefault(label, [None] * len(stages))[i] = None if y is None else 100 * y
                if not first:  # the first task's lines solid, every later task's dashed: tasks tell apart
                    dashed[label] = "dashed"
    if series:
        blocks.append(S.line_plot("Task accuracy per stage", names, series, ylabel="%", ylim=(0, 100), styles=dashed))
    if not blocks:
        blocks.append(S.text("No task results."))
    return S.section("Evaluation tasks", *blocks)


# ----------------------------------------------------------------------------------------------------
# CLI entry points (wired as `auroram eval code` and `auroram eval mc`)


def _parse_ks(k_values: str | Iterable[int]) -> list[int]:
    if isinstance(k_values, str):
        try:
            ks = [int(k) for k in k_values.split(",") if k.strip()]
        except ValueError:
            raise ValueError(f"--k must be comma-separated integers, got {k_values!r}") from None
    else:
        ks = [int(k) for k in k_values]
    if not ks or min(ks) < 1:
        raise ValueError(f"--k needs integers >= 1, got {k_values!r}")
    return ks


def cmd_eval_code(problems: str | None, samples: str, *, k_values: str | Iterable[int] = "1,10,100", workers: int = 2,
                  timeout_seconds: float = 10.0, memory_mb: int = 1024, out: str | None = None,
                  quiet: bool = False) -> dict:
    """Score a human-eval sample file against a problem file (None: the built-in problems); print a summary."""
    from rich.console import Console
    from rich.progress import Progress

    cfg = SandboxConfig(timeout_seconds=timeout_seconds, memory_bytes=memory_mb << 20)
    ks = _parse_ks(k_values)
    console = Console(stderr=True, quiet=quiet)
    with Progress(console=console, transient=True) as prog:
        task = prog.add_task("running samples", total=None)
        res = code_eval.score_samples(problems, samples, k_values=ks, workers=workers, sandbox_cfg=cfg,
                                      progress=lambda n: prog.advance(task, n))
    if not quiet:
        line = "  ".join(f"{k} {'n/a' if res[k] is None else f'{100 * res[k]:.2f}%'}" for k in (f"pass@{k}" for k in ks))
        print(f"{res['problems']} problems, {res['samples']} samples: {line}")
        print("outcomes: " + ", ".join(f"{k} {v}" for k, v in res["outcomes"].items()))
        active = [k for k, v in res["protections"].items() if v is True]
        print("sandbox: " + ", ".join(active) + f"; network: {res['protections'].get('network')}")
    if out:
        from auroram.io import write_json

        write_json(out, res)
    return res


def cmd_eval_mc(model_dir: str, task_file: str, fmt: str = "auroram", *, lang: str = "en", limit: int | None = None,
                batch_seqs: int = 16, device: str = "cpu", out: str | None = None, quiet: bool = False) -> dict:
    """Accuracy of a local HF model directory on one multiple-choice task file."""
    from auroram.model.build import load_base

    items = mc.load_items(task_file, fmt, lang=lang, limit=limit)  # bad task files fail before the model loads
    model, tok = load_base(model_dir)
    model.to(device)
    eos = getattr(tok, "eos_token_id", None)
    res = mc.score_items(model, tok, items, eos_id=int(eos), max_len=context_tokens(model),
                         batch_seqs=batch_seqs, device=device)
    if not quiet:
        print(f"{task_file} ({fmt}, {res['items']} items): acc {100 * res['acc']:.2f}%  acc_norm {100 * res['acc_norm']:.2f}%")
    if out:
        from auroram.io import write_json

        write_json(out, res)
    return res
