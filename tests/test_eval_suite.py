"""The stage-end task suite, its report section, and the `eval code` / `eval mc` entry points."""

from __future__ import annotations

import json

import pytest

from auroram.config import ModelConfig
from auroram.eval import code, mc
from auroram.eval.suite import cmd_eval_code, cmd_eval_mc, evaluate_suite, report_section
from auroram.model.build import BaseModelError, build_model
from auroram.tokenize.bpe import train_bpe
from conftest import CODE, WORDS


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    tok = train_bpe([" ".join(w) for w in WORDS.values()] * 4 + CODE * 4, 400, tmp_path_factory.mktemp("tok"))
    model = build_model(ModelConfig(n_embd=32, n_layer=2, n_head=2, n_positions=128), vocab_size=len(tok), eos_id=0, seed=11)
    return model.eval(), tok


def test_suite_runs_builtin_sets_and_report_shows_them(tiny):
    model, tok = tiny
    res = evaluate_suite(model, tok, code_problems=code.load_problems()[:4], max_new_tokens=16)
    assert sorted(res["mc"]) == ["en", "fi", "hi", "ja", "vi"]
    assert all(0.0 <= r["acc"] <= 1.0 and r["items"] == 20 for r in res["mc"].values())
    assert res["code"]["problems"] == 4 and res["code"]["pass@1"] is not None
    assert res["code"]["protections"]["separate_process"] is True
    json.dumps(res)  # goes into report.json as it is
    again = evaluate_suite(model, tok, code_problems=code.load_problems()[:4], max_new_tokens=16)
    assert {k: v["acc"] for k, v in again["mc"].items()} == {k: v["acc"] for k, v in res["mc"].items()}
    sec = report_section([{"name": "base", "suite": res}, {"name": "<cap>", "suite": again}])
    json.dumps(sec)  # report data, rendered (and escaped) only by auroram.report
    assert sec["title"] and "html" not in sec
    kinds = {b["kind"]: b for b in sec["blocks"]}
    mc_table, code_table = [b for b in sec["blocks"] if b["kind"] == "table"]
    assert mc_table["head"] == ["task", "base", "<cap>"]
    fi = next(r for r in mc_table["rows"] if r[0] == "fi")
    assert fi[1] == f"{100 * res['mc']['fi']['acc']:.1f} / {100 * res['mc']['fi']['acc_norm']:.1f}"
    assert "pass@1" in code_table["head"] and [r[0] for r in code_table["rows"]] == ["base", "<cap>"]
    assert any(i.startswith("pid_namespace") for i in kinds["list"]["items"])
    plot = kinds["plot"]
    assert plot["x"] == ["base", "<cap>"] and plot["styles"] == {"code pass@1": "dashed"}
    assert plot["series"]["mc fi"][0] == pytest.approx(100 * res["mc"]["fi"]["acc"])
    assert plot["series"]["code pass@1"][1] == pytest.approx(100 * again["code"]["pass@1"])


def test_report_section_without_results():
    blocks = report_section([{"name": "base"}])["blocks"]
    assert blocks == [{"kind": "text", "text": "No task results.", "note": False}]


def test_cmd_eval_code_scores_a_sample_file_without_a_model(tmp_path, capsys):
    problems = code.load_problems()[:3]
    samples = tmp_path / "samples.jsonl"
    lines = [{"task_id": p.task_id, "completion": p.canonical_solution} for p in problems]
    lines += [{"task_id": p.task_id, "completion": "    while True:\n        pass\n"} for p in problems]
    samples.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    probs = tmp_path / "problems.jsonl"
    probs.write_text("".join(json.dumps({"task_id": p.task_id, "prompt": p.prompt, "test": p.test,
                                         "entry_point": p.entry_point}) + "\n" for p in problems), encoding="utf-8")
    out = tmp_path / "result.json"
    res = cmd_eval_code(str(probs), str(samples), k_values="1,2", timeout_seconds=1.0, out=str(out))
    assert res["pass@1"] == pytest.approx(0.5) and res["pass@2"] == pytest.approx(1.0)
    assert res["outcomes"] == {"passed": 3, "timeout": 3}
    assert json.loads(out.read_text())["pass@2"] == pytest.approx(1.0)
    assert "pass@1 50.00%" in capsys.readouterr().out


def test_cmd_eval_mc_on_a_model_directory(tiny, tmp_path, capsys):
    model, tok = tiny
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    task = tmp_path / "belebele.jsonl"
    docs = [{"link": "l", "question_number": i, "flores_passage": "Malli oppii uusia kieliä.", "question": "Mitä malli oppii?",
             "mc_answer1": "kieliä", "mc_answer2": "autoja", "mc_answer3": "kenkiä", "mc_answer4": "puita",
             "correct_answer_num": "1"} for i in range(3)]
    task.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    res = cmd_eval_mc(str(tmp_path / "m"), str(task), "belebele")
    assert res["items"] == 3 and res["acc"] in (0.0, 1.0)  # the same question three times: all right or all wrong
    assert "acc" in capsys.readouterr().out
    (tmp_path / "bare").mkdir()
    model.save_pretrained(tmp_path / "bare")
    with pytest.raises(BaseModelError, match="has no tokenizer"):
        cmd_eval_mc(str(tmp_path / "bare"), str(task), "belebele")
    with pytest.raises(mc.TaskFileError, match="missing field 'flores_passage'"):
        task.write_text(json.dumps({"question": "q"}) + "\n", encoding="utf-8")
        cmd_eval_mc(str(tmp_path / "m"), str(task), "belebele")
