"""The lm-evaluation-harness adapter: a local YAML task runs offline and agrees with auroram's own scorer."""

from __future__ import annotations

import pytest

pytest.importorskip("lm_eval", reason="lm-evaluation-harness not installed (optional extra: pip install 'auroram[lmeval]')")

from auroram.config import ModelConfig  # noqa: E402
from auroram.eval import mc  # noqa: E402
from auroram.eval.lmeval import AuroramLM, run_lmeval, write_mc_task  # noqa: E402
from auroram.model.build import build_model  # noqa: E402
from auroram.tokenize.bpe import train_bpe  # noqa: E402
from conftest import CODE, WORDS  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    tok = train_bpe([" ".join(w) for w in WORDS.values()] * 4 + CODE * 4, 400, tmp_path_factory.mktemp("tok"))
    model = build_model(ModelConfig(n_embd=32, n_layer=2, n_head=2, n_positions=128), vocab_size=len(tok), eos_id=0, seed=7)
    return model.eval(), tok


def test_local_yaml_task_matches_the_builtin_scorer(tiny, tmp_path):
    model, tok = tiny
    data = mc.builtin_tasks()["en"]
    write_mc_task(tmp_path, "auroram_mc_en", data)
    got = run_lmeval(model, tok, ["auroram_mc_en"], include_path=tmp_path)
    ours = mc.score_items(model, tok, mc.load_items(data, "auroram"), eos_id=0, max_len=128)
    assert got["auroram_mc_en"]["acc"] == pytest.approx(ours["acc"])
    assert got["auroram_mc_en"]["acc_norm"] == pytest.approx(ours["acc_norm"])


def test_generate_until_stops_and_is_bounded(tiny):
    from lm_eval.api.instance import Instance

    model, tok = tiny
    lm = AuroramLM(model, tok)
    reqs = [Instance(request_type="generate_until", doc={}, idx=0,
                     arguments=("def add(a, b):\n", {"until": ["\n"], "max_gen_toks": 6}))]
    (text,) = lm.generate_until(reqs)
    assert "\n" not in text
    rolling = lm.loglikelihood_rolling([Instance(request_type="loglikelihood_rolling", doc={}, idx=0,
                                                 arguments=("malli oppii uusia kieliä",))])
    assert len(rolling) == 1 and rolling[0] < 0


def test_lm_eval_hf_model_reads_an_export_and_agrees_on_bits_per_byte(tiny, tmp_path):
    """lm-eval's own `hf` model (it needs accelerate, in the lmeval extra) on an exported model, offline, over
    a local rolling-loglikelihood task: its bits per byte are auroram's on the same documents."""
    import json
    import random

    from lm_eval import evaluator
    from lm_eval.tasks import TaskManager

    from auroram.eval.bpb import bits_per_byte
    from auroram.eval.lmeval import write_bpb_task
    from auroram.model.export import export_hf, load_exported
    from conftest import make_doc

    _, tok = tiny
    model = build_model(ModelConfig(n_embd=32, n_layer=2, n_head=2, n_positions=512), vocab_size=len(tok), eos_id=0,
                        seed=11)
    hf = export_hf(model, tok, tmp_path / "hf", card={"name": "tiny"})
    rng = random.Random(3)
    # each document inside one context window: lm-eval and auroram then score every token with the same context
    docs = [d for d in (make_doc(lang, rng)[:400] for lang in ("en", "fi", "hi", "ja", "vi", "code") * 2)
            if len(tok.encode(d, add_special_tokens=False)) < 512]
    assert len(docs) >= 10
    data = tmp_path / "docs.jsonl"
    data.write_text("".join(json.dumps({"text": d}, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    write_bpb_task(tmp_path / "tasks", "auroram_bpb_test", data)

    res = evaluator.simple_evaluate(model="hf", model_args=f"pretrained={hf},dtype=float32", tasks=["auroram_bpb_test"],
                                    task_manager=TaskManager(include_path=str(tmp_path / "tasks"), include_defaults=False),
                                    device="cpu", batch_size=1, bootstrap_iters=0, random_seed=0, numpy_random_seed=0,
                                    torch_random_seed=0, fewshot_random_seed=0)
    got = res["results"]["auroram_bpb_test"]["bits_per_byte,none"]
    exported, exported_tok = load_exported(hf)
    ours = bits_per_byte(exported, docs, exported_tok, eos_id=0, seq_len=512, stride=512)["bpb"]
    assert got == pytest.approx(ours, rel=1e-3)
