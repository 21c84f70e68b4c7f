"""Evaluation tasks run at every stage end, as a registry. A task is one file in this package holding a
`Task` subclass decorated with `@register`; every module here whose name does not start with "_" is
imported with the package, so a new file is all it takes. A recipe picks tasks by name (`eval.tasks`).

The pipeline calls two functions: `decontamination_texts(cfg)` (what no training document may overlap)
and `run_tasks(model, tok, device, cfg)` (the stage's `suite` result, one entry per task).
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auroram.report import sections as S
from auroram.typedconfig import ConfigError

if TYPE_CHECKING:
    from auroram.config import EvalConfig

__all__ = ["TASKS", "Task", "card_results", "check_names", "decontamination_texts", "register", "run_tasks",
           "summary_line", "task_for"]


class Task:
    """One evaluation run at every stage end. Only `name` and `run` are required."""

    name = ""  # the key in a recipe's eval.tasks and in the stage's results

    def decontamination_texts(self, cfg: EvalConfig) -> dict[str, list[str]]:
        # set name -> texts; the pipeline drops training documents that share a 13-word n-gram with any
        return {}

    def run(self, model: Any, tok: Any, device: str, cfg: EvalConfig) -> dict[str, Any]:
        raise NotImplementedError(f"task {self.name!r} has no run()")

    def headline(self, result: dict[str, Any]) -> dict[str, float | None]:
        # rates in [0, 1] drawn on the report's task plot, by series name; none unless a task says so
        return {}

    def card_results(self, result: dict[str, Any]) -> list[dict[str, Any]]:
        """Entries of an exported model card's model-index: {task_type, task_name, dataset_type, dataset_name,
        metrics}; by default one per headline series."""
        return [{"task_type": "text-generation", "task_name": self.name, "dataset_type": f"auroram-{self.name}",
                 "dataset_name": series, "metrics": {"score": v}}
                for series, v in self.headline(result).items() if v is not None]

    def summary(self, result: dict[str, Any]) -> str:
        nums = numbers(result)
        return f"{self.name} " + ", ".join(f"{k} {v:.4g}" for k, v in nums.items()) if nums else ""

    def report(self, stage_names: list[str], results: list[dict[str, Any] | None]) -> list[dict[str, Any]]:
        """Report blocks for this task's results per stage (None where a stage did not run it)."""
        rows = [(n, numbers(r)) for n, r in zip(stage_names, results) if r]
        if not rows:
            return []
        keys = list(dict.fromkeys(k for _, nums in rows for k in nums))
        table = [[n, *(nums.get(k) for k in keys)] for n, nums in rows]
        return [S.heading(self.name), S.table(["stage", *keys], table)]


def numbers(result: Any, prefix: str = "") -> dict[str, float]:
    """The numeric leaves of a result, nested keys joined by dots: what a generic table can show."""
    out: dict[str, float] = {}
    if isinstance(result, dict):
        for k, v in result.items():
            out.update(numbers(v, f"{prefix}{k}."))
    elif isinstance(result, (int, float)) and not isinstance(result, bool):
        out[prefix[:-1]] = result
    return out


TASKS: dict[str, Task] = {}
RESERVED = {"seconds"}  # keys of the suite result that are not tasks


def register(cls: type[Task]) -> type[Task]:
    """Class decorator: put one instance of the task in TASKS under its name."""
    task = cls()
    if not task.name or task.name in RESERVED:
        raise ValueError(f"{cls.__qualname__}: a task needs a name other than {sorted(RESERVED)}")
    old = TASKS.get(task.name)
    if old is not None and type(old).__qualname__ != cls.__qualname__:
        raise ValueError(f"task name {task.name!r} is taken by {type(old).__module__}.{type(old).__qualname__}")
    TASKS[task.name] = task
    return cls


def check_names(names: list[str], key: str = "eval.tasks") -> None:
    for i, name in enumerate(names):
        if name not in TASKS:
            raise ConfigError(f"key '{key}[{i}]': unknown task {name!r} (registered: {', '.join(sorted(TASKS))})")


def _ordered(cfg: EvalConfig, everything: bool) -> list[Task]:
    # the recipe's order first, so results and decontamination sets come out in the order the recipe lists
    check_names(cfg.tasks)
    names = list(dict.fromkeys(cfg.tasks))
    if everything:
        names += [n for n in TASKS if n not in names]
    return [TASKS[n] for n in names]


def decontamination_texts(cfg: EvalConfig) -> dict[str, list[str]]:
    """Every registered task's sets, selected or not: a benchmark leaked into training cannot be
    evaluated cleanly later. Empty when the suite is off."""
    if not cfg.suite:
        return {}
    sets: dict[str, list[str]] = {}
    for task in _ordered(cfg, everything=True):
        for set_name, texts in task.decontamination_texts(cfg).items():
            if set_name in sets:
                raise ValueError(f"task {task.name!r}: decontamination set {set_name!r} is also another task's")
            sets[set_name] = list(texts)
    return sets


def run_tasks(model: Any, tok: Any, device: str, cfg: EvalConfig) -> dict[str, Any] | None:
    """{task name: its result, ..., "seconds"} for the recipe's tasks; None when the suite is off. `model`
    may be an HF directory (a sharded run evaluates its export)."""
    if not cfg.suite:
        return None
    tasks = _ordered(cfg, everything=False)
    if isinstance(model, (str, Path)):
        from auroram.model.build import load_base

        model, _ = load_base(str(model))
        model.to(device)
    t0 = time.perf_counter()
    out: dict[str, Any] = {task.name: task.run(model, tok, str(device), cfg) for task in tasks}
    out["seconds"] = time.perf_counter() - t0
    return out


class _Unknown(Task):
    # a result whose task is no longer registered (an old report.json) still gets the generic treatment
    def __init__(self, name: str):
        self.name = name


def task_for(name: str) -> Task:
    return TASKS.get(name) or _Unknown(name)


def card_results(result: dict[str, Any] | None) -> list[dict[str, Any]]:
    """A run_tasks result as model-card entries (see Task.card_results)."""
    return [e for k, v in (result or {}).items() if k not in RESERVED and v for e in task_for(k).card_results(v)]


def summary_line(result: dict[str, Any]) -> str:
    """One console line for a run_tasks result."""
    parts = [task_for(k).summary(v) for k, v in result.items() if k not in RESERVED and v]
    return "; ".join(p for p in parts if p) + f" ({result.get('seconds', 0.0):.0f}s)"


for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if not _mod.startswith("_"):
        importlib.import_module(f"{__name__}.{_mod}")
