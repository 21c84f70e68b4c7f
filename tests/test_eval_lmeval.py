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
