"""Code pass@1: greedy completions of HumanEval/MBPP-style problems run against their tests in the sandbox
(auroram.eval.code). The built-in problems, or the recipe's `eval.code_problems` file."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from auroram.eval.tasks import Task, register
from auroram.report import sections as S

if TYPE_CHECKING:
    from auroram.config import EvalConfig

MAX_NEW_TOKENS = 96  # a function body of the built-in problems fits; longer only slows every stage end


@register
class CodePassAt1(Task):
    name = "code"

    def decontamination_texts(self, cfg: EvalConfig) -> dict[str, list[str]]:
        from auroram.eval import code as code_eval

        return {"code-problems": [p.prompt for p in code_eval.load_problems(cfg.code_problems)]}

    def run(self, model: Any, tok: Any, device: str, cfg: EvalConfig) -> dict[str, Any]:
        from auroram.eval import code as code_eval

        res = code_eval.evaluate_code(model, tok, code_eval.load_problems(cfg.code_problems),
                                      max_new_tokens=MAX_NEW_TOKENS, device=device)
        res.pop("per_sample")
        return res

    def headline(self, result: dict[str, Any]) -> dict[str, float | None]:
        return {"code pass@1": result.get("pass@1")}

    def card_results(self, result: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"task_type": "text-generation", "task_name": "Code generation", "dataset_type": "auroram-code",
                 "dataset_name": "code problems (eval.code_problems)",
                 "metrics": {"pass@1": result.get("pass@1")}}]

    def summary(self, result: dict[str, Any]) -> str:
        return f"code pass@1 {100 * (result.get('pass@1') or 0):.1f}%"

    def report(self, stage_names: list[str], results: list[dict[str, Any] | None]) -> list[dict[str, Any]]:
        ran = [(n, r) for n, r in zip(stage_names, results) if r]
        if not ran:
            return []
        ks = sorted({k for _, r in ran for k in r if k.startswith("pass@")}, key=lambda k: int(k[5:]))
        rows = [[n, *(_pct(r.get(k)) for k in ks), r.get("problems"), r.get("samples"),
                 ", ".join(f"{k} {v}" for k, v in (r.get("outcomes") or {}).items())] for n, r in ran]
        protections = ran[-1][1].get("protections") or {}
        return [S.heading("Code: pass@k (%)"), S.table(["stage", *ks, "problems", "samples", "outcomes"], rows),
                S.heading("Sandbox protections in force"), S.bullets([f"{k}: {v}" for k, v in protections.items()])]


def _pct(x: Any) -> str | None:
    return None if x is None else f"{100 * float(x):.1f}"
