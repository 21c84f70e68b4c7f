"""The main job end to end on the micro recipe and a corpus the test writes: every stage, the report,
the exports, skip-on-rerun, redo-on-edit and exact resume after a kill."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from auroram.config import load_recipe
from auroram.pipeline import RunError, run_recipe
from auroram.train.checkpoint import load_weights

pytestmark = pytest.mark.slow


def micro(corpus: Path, *extra: str):
    return load_recipe("micro", [f"demo_dir={corpus}", *extra])


@pytest.fixture(scope="module")
def micro_run(tiny_corpus, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run") / "micro"
    report = run_recipe(micro(tiny_corpus), run_dir, quiet=True)
    return run_dir, report


def test_report_has_every_stage_domain_and_forgetting(micro_run):
    run_dir, report = micro_run
    on_disk = json.loads((run_dir / "report.json").read_text())
    assert [s["name"] for s in on_disk["stages"]] == ["base", "cap", "cat"]
    for s in on_disk["stages"]:
        assert s["tokens"] > 0 and s["steps"] > 0
        assert s["precision"] == "fp32"  # "auto" on CPU, as resolved and recorded
        assert set(s["eval"]) == {"en", "fi", "hi", "ja", "vi", "code"}
        assert all(v["bpb"] > 0 for v in s["eval"].values())
    for d in on_disk["domains"]:
        f = on_disk["forgetting"][d]
        assert set(f["vs_previous"]) == {"cap", "cat"} and set(f["vs_start"]) == {"cap", "cat"}
    assert (run_dir / "report" / "index.html").is_file()
    # the mixture as it ran: the cap stage drew the new languages and replayed English and code
    cap = on_disk["stages"][1]["mixture"]
    assert {"fi", "hi", "ja", "vi", "en", "code", "inst_cap_en", "inst_cap_ja"} == set(cap)
    assert all(u["tokens"] > 0 for u in cap.values())


def test_instruction_data_is_in_cap_and_cat_with_share_and_loss(micro_run):
    _, report = micro_run
    by_name = {s["name"]: s for s in report["stages"]}
    assert "instruction" not in by_name["base"] or by_name["base"]["instruction"]["token_share"] == 0
    for stage in ("cap", "cat"):
        share = by_name[stage]["instruction"]
        assert 0 < share["token_share"] < 0.5
        assert share["loss"] is not None and share["loss"] > 0 and share["target_tokens"] > 0
    # CAT leans on instruction data more than CAP, as in the paper
    assert by_name["cat"]["instruction"]["token_share"] > by_name["cap"]["instruction"]["token_share"]
    shards = report["data"]["shards"]
    assert shards["inst_cap_en"]["format"] == "messages"
    assert shards["inst_cap_en"]["renderer"] == "auroram-simple"
    titles = [sec["title"] for sec in report["sections"]]
    assert "Training data" in titles


def test_stage_ends_run_the_task_suite(micro_run):
    _, report = micro_run
    for s in report["stages"]:
        suite = s["suite"]
        assert set(suite["mc"]) == {"en", "fi", "hi", "ja", "vi"}
        assert all(0 <= r["acc"] <= 1 for r in suite["mc"].values())
        assert suite["code"]["problems"] > 0 and 0 <= suite["code"]["pass@1"] <= 1
        assert list(suite) == ["mc", "code", "seconds"]  # the recipe's tasks, in its order
    assert "Evaluation tasks" in [sec["title"] for sec in report["sections"]]


def test_base_stage_learns(micro_run):
    _, report = micro_run
    base = report["stages"][0]
    first, last = base["curve"][0]["bpb"], base["curve"][-1]["bpb"]
    assert last["en"] < first["en"] and last["code"] < first["code"]
    assert base["loss"][-1]["loss"] < base["loss"][0]["loss"]


def test_every_stage_exports_a_loadable_hf_model(micro_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run_dir, _ = micro_run
    for stage in ("base", "cap", "cat"):
        hf = run_dir / "stages" / stage / "hf"
        model = AutoModelForCausalLM.from_pretrained(hf)
        tok = AutoTokenizer.from_pretrained(hf)
        ids = tok("def add(a, b):", return_tensors="pt").input_ids
        out = model.generate(ids, max_new_tokens=4, do_sample=False, pad_token_id=tok.eos_token_id)
        assert out.shape[1] > ids.shape[1]
        assert (hf / "README.md").read_text().count("bits per byte") >= 1


def test_exported_logits_equal_training_weights(micro_run):
    from transformers import AutoModelForCausalLM

    run_dir, _ = micro_run
    hf = run_dir / "stages" / "cat" / "hf"
    exported = AutoModelForCausalLM.from_pretrained(hf).eval()
    trained = AutoModelForCausalLM.from_pretrained(hf).eval()
    torch.nn.init.zeros_(trained.lm_head.weight)
    load_weights(run_dir / "stages" / "cat" / "final", trained)  # what the next stage would start from
    x = torch.randint(0, exported.config.vocab_size, (2, 16))
    with torch.no_grad():
        assert torch.equal(exported(input_ids=x).logits, trained(input_ids=x).logits)


def test_rerun_skips_everything_and_gives_the_same_report(micro_run, tiny_corpus):
    run_dir, report = micro_run
    before = {p: p.stat().st_mtime_ns for p in (run_dir / "stages").rglob("*.distcp")}
    again = run_recipe(micro(tiny_corpus), run_dir, quiet=True)
    after = {p: p.stat().st_mtime_ns for p in (run_dir / "stages").rglob("*.distcp")}
    assert before and before == after
    assert [s["eval"] for s in again["stages"]] == [s["eval"] for s in report["stages"]]


def test_edited_stage_is_redone_with_what_follows_and_not_before(tiny_corpus, tmp_path):
    run_dir = tmp_path / "r"
    run_recipe(micro(tiny_corpus), run_dir, quiet=True)
    def stamp(stage):
        return (run_dir / "stages" / stage / "final" / "dcp" / ".metadata").stat().st_mtime_ns

    base_w, cap_w = stamp("base"), stamp("cap")
    report = run_recipe(micro(tiny_corpus, "stages.cap.optim.lr=1e-3"), run_dir, quiet=True)
    assert stamp("base") == base_w
    assert stamp("cap") != cap_w
    assert report["stages"][1]["lr"] == 1e-3


def _final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(run_dir / "stages" / "cat" / "hf")
    load_weights(run_dir / "stages" / "cat" / "final", model)
    return model.state_dict()


@pytest.mark.parametrize("point", ["train:cap:step:13", "checkpoint:after-optimizer"])
def test_killed_run_resumes_to_bitwise_identical_weights(micro_run, tiny_corpus, tmp_path, point):
    run_dir, report = micro_run
    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "auroram.cli", "run", "micro", "--quiet", "--run-dir", str(killed),
           "--set", f"demo_dir={tiny_corpus}"]
    env = {**os.environ, "AURORAM_FAULT": point, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == -signal.SIGKILL, p.stderr
    assert not (killed / "report.json").exists()
    env.pop("AURORAM_FAULT")
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    resumed = json.loads((killed / "report.json").read_text())
    a, b = _final_weights(run_dir), _final_weights(killed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [s["loss"] for s in resumed["stages"]] == [s["loss"] for s in report["stages"]]


def test_second_run_on_the_same_directory_refuses(tiny_corpus, tmp_path):
    from auroram.pipeline import run_lock

    with run_lock(tmp_path / "r"):
        with pytest.raises(RunError, match="another auroram run is using"):
            run_recipe(micro(tiny_corpus), tmp_path / "r", quiet=True)


def test_until_stops_after_the_named_stage(tiny_corpus, tmp_path):
    run_recipe(micro(tiny_corpus), tmp_path / "r", quiet=True, until="base")
    assert (tmp_path / "r" / "stages" / "base" / "hf" / "config.json").is_file()
    assert not (tmp_path / "r" / "stages" / "cap").exists()
    assert not (tmp_path / "r" / "report.json").exists()


def test_continuing_a_local_hf_model_skips_base_and_measures_against_it(micro_run, tiny_corpus, tmp_path):
    run_dir, _ = micro_run
    base_hf = run_dir / "stages" / "base" / "hf"
    report = run_recipe(micro(tiny_corpus, f"model.base={base_hf}", "tokenizer.kind=base"), tmp_path / "cont",
                        quiet=True)
    names = [s["name"] for s in report["stages"]]
    assert names == ["base", "cap", "cat"]
    assert report["stages"][0]["imported"] == str(base_hf) and report["stages"][0]["steps"] == 0
    assert not (tmp_path / "cont" / "tokenizer").exists()  # the base model's own tokenizer is used
    # the imported model scores what the run's own base stage scored (same weights, same held-out text)
    ours = micro_run[1]["stages"][0]["eval"]
    for d, v in report["stages"][0]["eval"].items():
        assert v["bpb"] == pytest.approx(ours[d]["bpb"], rel=1e-5)
    assert (tmp_path / "cont" / "stages" / "cat" / "hf" / "config.json").is_file()


def test_curation_runs_before_tokenizing_and_feeds_the_shards(tiny_corpus, tmp_path):
    import yaml

    from auroram.config import load_recipe as _load

    curate = yaml.safe_dump(_load("tiny").curate.to_dict(), default_flow_style=True).strip()
    run_dir = tmp_path / "r"
    run_recipe(micro(tiny_corpus, f"curate={curate}", "sources.code.max_docs=1000"), run_dir, quiet=True,
               until="shards")
    stats = json.loads((run_dir / "curate" / "stats.json").read_text())
    assert stats["totals"]["balanced"]
    assert stats["totals"]["docs_in"] == stats["totals"]["docs_kept"] + stats["totals"]["docs_dropped"]
    # the shards were made from what curation kept, not from the raw corpus
    kept = {d: sum(1 for _ in open(run_dir / "curate" / "by_domain" / f"{d}.jsonl")) for d in ("fi", "code")}
    for d in ("fi", "code"):
        shard = json.loads((run_dir / "shards" / d / "step.json").read_text())
        assert shard["documents"] + shard["decontamination"].get("dropped", 0) == min(kept[d], 200 if d == "fi" else 1000)
    assert kept["code"] < 120  # the test corpus repeats its code snippets: near-duplicates are removed


def test_safety_set_is_mixed_into_cat_and_measured_after_cap_and_cat(micro_run):
    run_dir, report = micro_run
    by_name = {s["name"]: s for s in report["stages"]}
    assert "safety_redteam" in by_name["cat"]["mixture"] and "safety_redteam" not in by_name["cap"]["mixture"]
    for stage in ("cap", "cat"):
        o = by_name[stage]["safety"]["overall"]
        assert 0 <= o["refusal_harmful"] <= 1 and 0 <= o["refusal_safe"] <= 1
        assert set(by_name[stage]["safety"]["by_language"]) == {"en", "fi", "hi", "ja", "vi"}
    assert by_name["base"].get("safety") is None
    export = json.loads((run_dir / "safety" / "export.json").read_text())
    # the demo says its items were not reviewed by people
    assert export["exported"]["by_status"].get("auto-approved (demo)", 0) == export["exported"]["items"] > 0
    assert any(sec["title"].lower().startswith("safety") for sec in report["sections"])


def test_planted_evaluation_text_never_reaches_a_shard(tiny_corpus, tmp_path):
    """Held-out documents copied into every training source (inside other text) are dropped."""
    planted = tmp_path / "planted"
    shutil.copytree(tiny_corpus, planted)
    for d in ("en", "fi", "hi", "ja", "vi", "code"):
        train = planted / "corpus" / d / "train.jsonl"
        val = [json.loads(x) for x in (planted / "corpus" / d / "val.jsonl").read_text().splitlines()]
        extra = [{"id": f"planted-{i}", "text": "Intro line.\n\n" + v["text"] + "\n\nOutro.", "source": "t"}
                 for i, v in enumerate(val[:2])]
        lines = [json.dumps(x, ensure_ascii=False) for x in extra] + train.read_text().splitlines()
        train.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run_dir = tmp_path / "r"
    run_recipe(micro(planted), run_dir, quiet=True, until="shards")
    for d in ("en", "fi", "hi", "ja", "vi", "code"):
        rec = json.loads((run_dir / "shards" / d / "step.json").read_text())
        drops = [json.loads(x) for x in (run_dir / "shards" / d / "decontaminated.jsonl").read_text().splitlines()]
        assert {x["doc"] for x in drops if x["doc"] < 2} == {0, 1}, (d, drops[:3])
        assert rec["decontamination"]["dropped"] >= 2


def test_micro_run_matches_the_recorded_golden_run(micro_run):
    """What the toolkit computes is pinned: every stage's weights and every reported number of the micro
    recipe on the test corpus equal those recorded before the pipeline was restructured (tests/golden).
    Bit for bit on the kind of machine they were recorded on; elsewhere float kernels may round
    differently, so numbers are compared to 1e-3 and weights are not compared."""
    import platform

    from golden.fingerprint import fingerprint

    golden = json.loads((Path(__file__).parent / "golden" / "micro.json").read_text(encoding="utf-8"))
    machine = golden.pop("machine")
    ours = fingerprint(micro_run[0])
    same_machine = machine == {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                               "machine": platform.machine()}
    if same_machine:
        assert ours == golden
        return
    for name, st in golden["stages"].items():
        for d, v in st["result"]["eval"].items():
            assert ours["stages"][name]["result"]["eval"][d]["bpb"] == pytest.approx(v["bpb"], rel=1e-3)
