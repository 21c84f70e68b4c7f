"""`auroram prepare`: the data steps as tasks writing shard sets. The token stream does not depend on the
number of tasks, `auroram run` skips what prepare made, a user's source can be curated first, a killed or
damaged task is redone alone, an edited source redoes only its own step, Slurm jobs are written as a chain
that really runs, and bad input is a one-line error naming the file and line."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from auroram.config import load_recipe
from auroram.errors import AuroramError
from auroram.pipeline.prepare import check_prepared, data_steps, prepare_recipe
from auroram.pipeline.rundir import RunError
from auroram.tokenize.shards import ShardError
from auroram.tokenize.shardset import ShardSet, is_complete, part_path

sys.path.insert(0, str(Path(__file__).parent))
from conftest import make_doc  # noqa: E402

DEMO = ("en", "fi", "hi", "ja", "vi", "code")


def micro(corpus: Path, *extra: str):
    return load_recipe("micro", [f"demo_dir={corpus}", *extra])


def _stream(set_dir: Path) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Tokens, loss mask (None: unmasked) and document ends of a shard set's parts read in order."""
    s = ShardSet(set_dir)
    tokens = np.concatenate([np.asarray(p.tokens) for p in s.parts])
    mask = np.concatenate([np.asarray(p.loss_mask) for p in s.parts]) if s.masked else None
    ends = np.cumsum([int(np.diff(np.asarray(p.doc_offsets))[i]) for p in s.parts for i in range(p.n_docs)])
    return tokens, mask, ends


def _same(a: Path, b: Path) -> bool:
    (ta, ma, ea), (tb, mb, eb) = _stream(a), _stream(b)
    return np.array_equal(ta, tb) and np.array_equal(ea, eb) and \
        (ma is None and mb is None or ma is not None and mb is not None and np.array_equal(ma, mb))


@pytest.fixture(scope="module")
def prepared(tiny_corpus, tmp_path_factory) -> dict[int, Path]:
    out = {}
    for tasks in (1, 3):
        run = tmp_path_factory.mktemp(f"prepare{tasks}") / "run"
        prepare_recipe(micro(tiny_corpus, f"data.tasks={tasks}"), run, quiet=True)
        out[tasks] = run
    return out


def test_any_task_count_gives_the_same_tokens_masks_and_records(prepared):
    one, three = prepared[1], prepared[3]
    sources = sorted(p.name for p in (one / "shards").iterdir())
    assert len(sources) == 11
    for src in sources:
        a, b = one / "shards" / src, three / "shards" / src
        assert len(ShardSet(a).parts) == 1 and len(ShardSet(b).parts) == 3
        assert _same(a, b), src
        # only instruction and safety sources store a loss mask; plain text trains on every token
        assert ShardSet(b).masked == (src.startswith("inst_") or src == "safety_redteam"), src
        ra, rb = (json.loads((d / "step.json").read_text()) for d in (a, b))
        for k in ("hash", "documents", "tokens", "bytes", "quarantine", "decontamination"):
            assert ra[k] == rb[k], (src, k)
        assert ra["verified"]["max_token_id"] == rb["verified"]["max_token_id"]  # the checksum covers the parts
        for f in ("quarantine.jsonl", "decontaminated.jsonl"):
            assert (a / f).is_file() == (b / f).is_file() and (not (a / f).is_file() or
                                                               (a / f).read_bytes() == (b / f).read_bytes())
        assert not (b / "work").exists()  # task specs and records only served resuming
    # the planted-free test corpus still overlaps the safety evaluation set: drops are merged across tasks
    assert json.loads((three / "shards" / "safety_redteam" / "step.json").read_text())["decontamination"]["dropped"]


def test_a_local_pool_of_workers_writes_the_same_sets(prepared, tiny_corpus, tmp_path):
    run = tmp_path / "run"
    prepare_recipe(micro(tiny_corpus, "data.tasks=4", "data.workers=2"), run, quiet=True)
    for s in (prepared[1] / "shards").iterdir():
        assert len(ShardSet(run / "shards" / s.name).parts) == 4 and _same(run / "shards" / s.name, s), s.name
        assert not (run / "shards" / s.name / "work").exists()


def test_run_after_prepare_skips_the_data_steps_and_trains_the_golden_base(prepared, tiny_corpus):
    from auroram.pipeline import run_recipe

    run = prepared[3]
    before = {p: p.stat().st_mtime_ns for p in run.glob("shards/*/step.json")}
    run_recipe(micro(tiny_corpus, "data.tasks=3"), run, quiet=True, until="base")
    assert {p: p.stat().st_mtime_ns for p in run.glob("shards/*/step.json")} == before
    log = (run / "log.txt").read_text().split("begin    run")[-1]
    for name in ["tokenizer"] + [f"shards:{p.name}" for p in (run / "shards").iterdir()]:
        assert any(line.split()[2:4] == [name, "cached"] for line in log.splitlines()), name
    # the three-part sets train the same base as the recorded golden run (made from one file per source)
    golden = json.loads((Path(__file__).parent / "golden" / "micro.json").read_text())
    ours = json.loads((run / "stages" / "base" / "result.json").read_text())
    exact = golden["machine"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and \
        golden["machine"]["torch"] == torch.__version__
    want, got = golden["stages"]["base"]["result"]["loss"], ours["loss"]
    assert [x["step"] for x in got] == [x["step"] for x in want]
    for w, g in zip(want, got):
        assert g["loss"] == w["loss"] if exact else g["loss"] == pytest.approx(w["loss"], rel=1e-3)


def _user_source(path: Path, n: int = 40, seed: int = 3) -> list[dict]:
    rng = random.Random(seed)
    recs = [{"id": f"u{i}", "text": make_doc("en", rng)} for i in range(n)]
    recs += [{"id": f"dup{i}", "text": recs[i]["text"]} for i in range(5)]  # exact duplicates: removed
    recs += [{"id": f"junk{i}", "text": "%% 1234 ## 5678 $$ 9012 && " * 3} for i in range(3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    return recs


def _curate_overrides(src: Path) -> list[str]:
    import yaml

    block = yaml.safe_dump(load_recipe("tiny").curate.to_dict(), default_flow_style=True).strip()
    return [f"curate={block}", *(f"sources.{d}.curate=false" for d in DEMO),
            f"sources.mine={{domain: en, path: {src}, curate: true}}", "stages.base.mixture.mine=0.2"]


def test_a_users_source_with_curate_true_is_tokenized_from_what_curation_kept(tiny_corpus, tmp_path):
    src = tmp_path / "mine.jsonl"
    recs = _user_source(src)
    run = tmp_path / "run"
    prepare_recipe(micro(tiny_corpus, "data.tasks=2", *_curate_overrides(src)), run, quiet=True)
    cur = run / "curate" / "sources" / "mine"
    stats = json.loads((cur / "stats.json").read_text())
    assert stats["totals"]["balanced"] and stats["totals"]["docs_in"] == len(recs)
    kept = [json.loads(x) for f in sorted((cur / "kept").glob("*.jsonl")) for x in f.read_text().splitlines()]
    rejected = [json.loads(x) for f in sorted((cur / "rejected").glob("*.jsonl")) for x in f.read_text().splitlines()]
    assert len(kept) + len(rejected) == len(recs) and len(kept) <= 40
    assert len({r["text"] for r in kept}) == len(kept)  # the duplicates did not survive
    assert not any(r["text"].startswith("%%") for r in kept)
    rec = json.loads((run / "shards" / "mine" / "step.json").read_text())
    assert rec["documents"] + rec["decontamination"]["dropped"] == len(kept)
    assert ShardSet(run / "shards" / "mine").n_docs == rec["documents"] and len(ShardSet(run / "shards" / "mine").parts) == 2
    assert not (run / "curate" / "by_domain").exists()  # demo sources with curate: false read the corpus as it is


def _prepare_cli(run: Path, corpus: Path, *extra: str, fault: str) -> int:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "AURORAM_FAULT": fault}
    p = subprocess.Popen([sys.executable, "-m", "auroram.cli", "prepare", "micro", "--quiet", "--run-dir", str(run),
                          "--set", f"demo_dir={corpus}", *extra], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        return p.wait(timeout=300)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)


def test_killed_or_deleted_parts_are_redone_alone_and_an_edit_redoes_only_its_step(prepared, tiny_corpus, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(tiny_corpus, corpus)
    run = tmp_path / "run"
    recipe = micro(corpus, "data.tasks=3")
    # killed inside task 1 of en, after its part was written and before its task record
    assert _prepare_cli(run, corpus, "--set", "data.tasks=3", fault="shards:en:part1") == -signal.SIGKILL
    en = run / "shards" / "en"
    assert not is_complete(en) and not (en / "step.json").exists()
    t0 = part_path(en, 0).stat().st_mtime_ns
    t1 = part_path(en, 1).stat().st_mtime_ns
    # killed once every task of fi is done, before its index; then one part is lost
    assert _prepare_cli(run, corpus, "--set", "data.tasks=3", fault="shards:fi:finalize") == -signal.SIGKILL
    fi = run / "shards" / "fi"
    part_path(fi, 1).unlink()
    kept = {r: part_path(fi, r).stat().st_mtime_ns for r in (0, 2)}
    prepare_recipe(recipe, run, quiet=True)
    assert part_path(en, 0).stat().st_mtime_ns == t0 and part_path(en, 1).stat().st_mtime_ns != t1
    assert {r: part_path(fi, r).stat().st_mtime_ns for r in (0, 2)} == kept
    for src in ("en", "fi"):
        assert _same(run / "shards" / src, prepared[3] / "shards" / src), src
    # an edited source: its own step is redone, every other data step is cached
    f = corpus / "instruct" / "cat" / "fi.jsonl"
    f.write_text("".join(f.read_text(encoding="utf-8").splitlines(keepends=True)[1:]), encoding="utf-8")
    before = {p.parent.name: p.stat().st_mtime_ns for p in run.glob("shards/*/step.json")}
    prepare_recipe(recipe, run, quiet=True)
    after = {p.parent.name: p.stat().st_mtime_ns for p in run.glob("shards/*/step.json")}
    assert [s for s in after if after[s] != before[s]] == ["inst_cat_fi"]
    # a part lost after its set was finished: a one-line error naming it, with what to do
    part_path(run / "shards" / "en", 2).unlink()
    with pytest.raises(ShardError, match=r"part-00002\.bin.*delete .*shards/en and run again"):
        prepare_recipe(recipe, run, quiet=True)
    shutil.rmtree(run / "shards" / "en")
    prepare_recipe(recipe, run, quiet=True)
    assert _same(run / "shards" / "en", prepared[3] / "shards" / "en")


def test_a_malformed_line_names_file_and_line_and_nothing_looks_complete(tiny_corpus, tmp_path):
    src = tmp_path / "mine.jsonl"
    lines = [json.dumps({"text": make_doc("en", random.Random(i))}) for i in range(12)]
    lines[6] = '{"text": "cut off'
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = tmp_path / "run"
    recipe = micro(tiny_corpus, "data.tasks=2", f"sources.mine={{domain: en, path: {src}}}",
                   "stages.base.mixture.mine=0.2")
    with pytest.raises(AuroramError) as e:
        prepare_recipe(recipe, run, quiet=True)
    msg = str(e.value)
    assert len(msg.splitlines()) == 1 and f"{src}: line 7: not valid JSON" in msg
    assert "shards:mine: task " in msg and f"{src} lines " in msg
    assert not is_complete(run / "shards" / "mine") and not (run / "shards" / "mine" / "step.json").exists()


def test_a_cluster_run_on_unprepared_data_stops_with_one_line(tiny_corpus, tmp_path):
    recipe = micro(tiny_corpus, "data.executor=slurm")
    with pytest.raises(RunError, match=r"data not prepared \(tokenizer, shards:code, shards:en, \.\.\.\).*auroram "
                                       r"prepare RECIPE --run-dir"):
        check_prepared(recipe, tmp_path / "run", data_steps(recipe))


def _run_job(script: Path) -> None:
    """Do what Slurm would: every task of the job's pickled pipeline, in this process."""
    import dill

    ex = dill.loads((script.parent / "executor.pik").read_bytes())
    for rank in json.loads((script.parent / "ranks_to_run.json").read_text()):
        ex._run_for_rank(rank)


def test_slurm_dry_run_writes_the_chain_and_the_chain_prepares_the_data(prepared, tiny_corpus, tmp_path,
                                                                         monkeypatch):
    import dill

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(f"#!/bin/sh\necho called >> {tmp_path / 'sbatch-called'}\necho Submitted 1\n")
    (bin_dir / "scontrol").write_text("#!/bin/sh\necho localhost\n")  # datatrove asks it for the job's nodes
    for tool in ("sbatch", "scontrol"):
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_NODELIST", "localhost")  # read by datatrove when a job's task starts
    src = tmp_path / "mine.jsonl"
    _user_source(src)
    over = [f"demo_dir={tiny_corpus}", "data.executor=slurm", "data.slurm.dry_run=true", "data.tasks=3",
            "data.slurm.partition=cpu-small", *_curate_overrides(src)]
    run = tmp_path / "run"
    res = prepare_recipe(load_recipe("micro", over), run, recipe_arg="micro", overrides=over, quiet=True)
    assert not (tmp_path / "sbatch-called").exists() and res["dry_run"]
    jobs = {j["name"]: j for j in res["jobs"]}
    arrays = [n for n in jobs if n.startswith("shards:")]
    assert list(jobs)[0] == "curate:mine" and list(jobs)[-1] == "finish" and len(arrays) == 12
    assert jobs["plan"]["after"] == [jobs["curate:mine"]["job_id"]] and res["final_job"] == jobs["finish"]["job_id"]
    assert jobs["finish"]["after"] == [jobs[n]["job_id"] for n in arrays]
    for n in arrays:
        script = Path(jobs[n]["script"]).read_text()
        assert jobs[n]["tasks"] == 3 and "#SBATCH --array=0-2" in script and "#SBATCH --partition=cpu-small" in script
        assert f"#SBATCH --dependency=afterok:{jobs['plan']['job_id']}" in script
        assert "launch_pickled_pipeline" in script
    finish = Path(jobs["finish"]["script"]).read_text()
    assert "#SBATCH --dependency=afterok:" + ":".join(jobs[n]["job_id"] for n in arrays) in finish
    plan = dill.loads((Path(jobs["plan"]["script"]).parent / "executor.pik").read_bytes())
    assert plan.pipeline[0].argv == ["prepare", "micro", "--run-dir", str(run.resolve()), "--quiet", "--log-format",
                                     "text", *(x for o in over for x in ("--set", o)), "--job", "plan"]
    assert not list(run.glob("shards/*/step.json"))  # nothing ran
    # the chain, run in order as Slurm would: curation stages, plan, the arrays, finish
    logs = run / "curate" / "sources" / "mine" / "work" / "logs"
    for stage in sorted(p.name for p in logs.iterdir()):
        _run_job(logs / stage / "launch_script.slurm")
    for name in ["plan", *arrays, "finish"]:
        _run_job(Path(jobs[name]["script"]))
    for s in (run / "shards").iterdir():
        rec = json.loads((s / "step.json").read_text())
        assert is_complete(s) and rec["parts"] == 3 and not (s / "work").exists()
        if s.name != "mine":
            assert _same(s, prepared[3] / "shards" / s.name), s.name
    assert json.loads((run / "curate" / "sources" / "mine" / "stats.json").read_text())["totals"]["balanced"]


@pytest.mark.slow  # ~2 minutes on 2 cores: every Ray task is a new worker process loading the tokenizer and index
def test_ray_executor_writes_the_same_sets(prepared, tiny_corpus, tmp_path):
    ray = pytest.importorskip("ray")
    run = tmp_path / "run"
    try:
        prepare_recipe(micro(tiny_corpus, "data.executor=ray", "data.tasks=2", "data.workers=2"), run, quiet=True)
    finally:
        ray.shutdown()
    for s in (prepared[1] / "shards").iterdir():
        assert len(ShardSet(run / "shards" / s.name).parts) == 2 and _same(run / "shards" / s.name, s), s.name
