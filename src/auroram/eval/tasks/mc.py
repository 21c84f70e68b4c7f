"""Multiple choice per language, scored by log-likelihood (auroram.eval.mc): the built-in cloze sets plus
the recipe's `eval.mc_tasks` files. Result: {set name: {"acc", "acc_norm", "items"}}."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from auroram.eval.tasks import Task, register
from auroram.report import sections as S

if TYPE_CHECKING:
    from auroram.config import EvalConfig


def eos_id(tok: Any) -> int:
    eos = getattr(tok, "eos_token_id", None)
    if eos is None:
        raise ValueError("the tokenizer has no EOS token (needed as the first context token)")
    return int(eos)


def _spec(name: str, spec: Any) -> tuple[Path, str, str]:
    # a set is a path (the auroram format) or {"path", "format", "lang"}
    if isinstance(spec, (str, Path)):
        return Path(spec), "auroram", name
    if isinstance(spec, dict) and "path" in spec:
        return Path(spec["path"]), str(spec.get("format", "auroram")), str(spec.get("lang", name))
    raise ValueError(f"mc task {name!r}: expected a file path or {{'path', 'format', 'lang'}}, got {spec!r}")


def score_sets(model: Any, tok: Any, sets: dict[str, Any], *, max_len: int | None = None, batch_seqs: int = 16,
               device: str = "cpu", details: bool = False) -> dict[str, dict[str, Any]]:
    """{set name: {"acc", "acc_norm", "items"}} (plus "per_item" with details)."""
    from auroram.eval import mc
    from auroram.model.build import context_tokens

    eos = eos_id(tok)
    max_len = max_len or context_tokens(model)
    out = {}
    for name, spec in sets.items():
        path, fmt, lang = _spec(name, spec)
        res = mc.score_items(model, tok, mc.load_items(path, fmt, lang=lang), eos_id=eos, max_len=max_len,
                             batch_seqs=batch_seqs, device=device)
        if not details:
            res.pop("per_item")
        out[name] = res
    return out


@register
class MultipleChoice(Task):
    name = "mc"

    def sets(self, cfg: EvalConfig) -> dict[str, Any]:
        from auroram.eval import mc

        return {**mc.builtin_tasks(), **cfg.mc_tasks}

    def decontamination_texts(self, cfg: EvalConfig) -> dict[str, list[str]]:
        from auroram.eval import mc

        # the context with its right answer: what a leaked item would look like in a training document
        return {f"mc-{name}": [f"{it.context} {it.choices[it.gold]}" for it in mc.load_items(path, "auroram")]
                for name, path in self.sets(cfg).items()}

    def run(self, model: Any, tok: Any, device: str, cfg: EvalConfig) -> dict[str, Any]:
        return score_sets(model, tok, self.sets(cfg), device=device)

    def headline(self, result: dict[str, Any]) -> dict[str, float | None]:
        return {f"mc {name}": r.get("acc") for name, r in result.items()}

    def card_results(self, result: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"task_type": "multiple-choice", "task_name": "Multiple choice", "dataset_type": f"auroram-mc-{name}",
                 "dataset_name": f"multiple choice ({name})",
                 "metrics": {"acc": r.get("acc"), "acc_norm": r.get("acc_norm")}} for name, r in result.items()]

    def summary(self, result: dict[str, Any]) -> str:
        return ", ".join(f"{name} {100 * r['acc']:.0f}%" for name, r in result.items())

    def report(self, stage_names: list[str], results: list[dict[str, Any] | None]) -> list[dict[str, Any]]:
        names = list(dict.fromkeys(n for r in results for n in (r or {})))
        if not names:
            return []

        def cell(r: dict[str, Any] | None) -> str | None:
            return None if r is None else f"{_pct(r.get('acc'))} / {_pct(r.get('acc_norm'))}"

        rows = [[n, *(cell((r or {}).get(n)) for r in results)] for n in names]
        return [S.heading("Multiple choice: accuracy / length-normalised accuracy (%)"),
                S.table(["task", *stage_names], rows)]


def _pct(x: Any) -> str:
    return "–" if x is None else f"{100 * float(x):.1f}"
