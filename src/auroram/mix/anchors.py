"""Anchors of a mixture search: full-size runs of the searched stage, read from their run directories (the
stage's result.json, the stage before it, the exported model's shape). Files only: no recipe object."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import yaml

from auroram.io import read_json
from auroram.mix.calibrate import Anchor
from auroram.mix.search import SearchError


def read_stage(run_dir: Path, stage: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A run's finished stage and the stage before it (their result.json)."""
    stages = Path(run_dir) / "stages"
    if not (stages / stage / "result.json").is_file():
        raise SearchError(f"{run_dir}: stage '{stage}' has not finished there (no stages/{stage}/result.json)")
    res = read_json(stages / stage / "result.json")
    recipe = Path(run_dir) / "recipe.yaml"
    order = [st["name"] for st in (yaml.safe_load(recipe.read_text(encoding="utf-8")) or {}).get("stages", [])] \
        if recipe.is_file() else []
    i = order.index(stage) if stage in order else 0
    prev_dir = stages / order[i - 1] if i > 0 and (stages / order[i - 1] / "result.json").is_file() else stages / "base"
    if not (prev_dir / "result.json").is_file():
        raise SearchError(f"{run_dir}: no finished stage before '{stage}' to measure the change against")
    return res, read_json(prev_dir / "result.json")


# what makes two models forget on different scales, as their exported config.json names it
_SHAPE = ("model_type", "vocab_size", "n_embd", "n_layer", "n_head", "hidden_size", "num_hidden_layers",
          "num_attention_heads", "num_key_value_heads", "intermediate_size", "n_inner")


def model_shape(run_dir: Path, stage: str) -> dict[str, Any] | None:
    f = Path(run_dir) / "stages" / stage / "hf" / "config.json"
    return {k: v for k, v in read_json(f).items() if k in _SHAPE} if f.is_file() else None


def _finished(run: Path, stage: str) -> bool:
    return (run / "stages" / stage / "result.json").is_file()


def collect_anchors(search_dir: Path, stage: str, before: str, from_run: Path | None, named: list[Path],
                    say: Callable[[str], None]) -> list[Anchor]:
    """The search's anchors, in order: the from-run's own stage (when it finished), each --anchor (which must
    have), each run an earlier --check measured (anchors.json; skipped when gone). Every one must be the
    from-run's model (shape and vocabulary): another size forgets on another scale."""
    runs = [(Path(from_run), False)] if from_run and _finished(Path(from_run), stage) else []
    runs += [(Path(a), True) for a in named]
    recorded = Path(search_dir) / "anchors.json"
    runs += [(Path(a), False) for a in (read_json(recorded)["runs"] if recorded.is_file() else [])]
    # the reference shape: the from-run's stage; before it only when the stage has not run (its vocabulary may
    # still grow in the stage, so it is not compared then)
    want, whose, vocab = None, "", True
    if from_run:
        want, whose = model_shape(from_run, stage), str(from_run)
        if want is None:
            want, vocab = model_shape(from_run, before), False
    out, seen = [], set()
    for run, required in runs:
        if run.resolve() in seen:
            continue
        if not required and not _finished(run, stage):
            say(f"anchor {run} (from {recorded.name}) has no finished '{stage}' stage: skipped")
            continue
        res, prev = read_stage(run, stage)
        shape = model_shape(run, stage)
        if shape and want:
            diff = [k for k in want if k in shape and shape[k] != want[k] and (vocab or k != "vocab_size")]
            if diff:
                raise SearchError(f"anchor {run}: its '{stage}' model has {diff[0]}={shape[diff[0]]} where {whose} "
                                  f"has {want[diff[0]]}; an anchor must be the from-run's model")
        elif shape:
            want, whose, vocab = shape, str(run), True
        seen.add(run.resolve())
        out.append(Anchor(str(run), dict(res["weights"]), {d: v["bpb"] for d, v in prev["eval"].items()},
                          {d: v["bpb"] for d, v in res["eval"].items()}))
    if out:
        say(f"{len(out)} full-size anchor run(s) calibrate proxy scale to full scale: {', '.join(a.run for a in out)}")
    return out
