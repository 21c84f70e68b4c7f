"""Multiple-choice scoring: the five file formats, bad input, and scores equal to a one-sequence-at-a-time reference."""

from __future__ import annotations

import json

import pytest
import torch

from auroram.config import ModelConfig
from auroram.eval import mc
from auroram.model.build import build_model
from auroram.tokenize.bpe import train_bpe
from conftest import CODE, WORDS


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    texts = [" ".join(w) for w in WORDS.values()] * 4 + CODE * 4
    tok = train_bpe(texts, 400, tmp_path_factory.mktemp("tok"))
    model = build_model(ModelConfig(n_embd=32, n_layer=2, n_head=2, n_positions=128), vocab_size=len(tok), eos_id=0, seed=3)
    return model.eval(), tok


def _write(path, docs):
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    return path


# one line per format, in each dataset's own field names (content written for these tests)
FORMATS = {
    "belebele": ({"link": "x", "question_number": 2, "flores_passage": "The ferry leaves at noon.", "question": "When does it leave? ",
                  "mc_answer1": "At dawn", "mc_answer2": "At noon", "mc_answer3": "At night", "mc_answer4": "Never",
                  "correct_answer_num": "2"},
                 "P: The ferry leaves at noon.\nQ: When does it leave?\nA:", ("At dawn", "At noon", "At night", "Never"), 1),
    "xcopa": ({"idx": 7, "premise": "The ice melted.", "choice1": "The sun came out.", "choice2": "It snowed.",
               "question": "cause", "label": 0},
              "The ice melted because", ("the sun came out.", "it snowed."), 0),
    "xstorycloze": ({"story_id": "s1", "input_sentence_1": "Ana planted seeds.", "input_sentence_2": "She watered them.",
                     "input_sentence_3": "Weeks passed.", "input_sentence_4": "Green shoots appeared.",
                     "sentence_quiz1": "Ana was pleased.", "sentence_quiz2": "Ana sold her car.", "answer_right_ending": 1},
                    "Ana planted seeds. She watered them. Weeks passed. Green shoots appeared.",
                    ("Ana was pleased.", "Ana sold her car."), 0),
    "hellaswag": ({"ind": 4, "activity_label": "Baking", "ctx_a": "A man mixes flour and water.", "ctx_b": "he",
                   "endings": ["kneads the dough [title] well.", "flies away.", "paints the oven.", "sings."], "label": "0"},
                  "Baking: A man mixes flour and water. He", ("kneads the dough. well.", "flies away.", "paints the oven.", "sings."), 0),
    "arc": ({"id": "q1", "question": "Which is a liquid at room temperature?",
             "choices": {"text": ["iron", "water", "salt"], "label": ["A", "B", "C"]}, "answerKey": "B"},
            "Question: Which is a liquid at room temperature?\nAnswer:", ("iron", "water", "salt"), 1),
}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_each_format_maps_to_one_item(tmp_path, fmt):
    doc, context, choices, gold = FORMATS[fmt]
    (item,) = mc.load_items(_write(tmp_path / "t.jsonl", [doc]), fmt)
    assert (item.context, item.choices, item.gold) == (context, choices, gold)


def test_arc_original_nested_layout(tmp_path):
    doc = {"id": "q2", "question": {"stem": "What melts ice?", "choices": [{"text": "heat", "label": "1"},
                                                                        {"text": "cold", "label": "2"}]}, "answerKey": "1"}
    (item,) = mc.load_items(_write(tmp_path / "arc.jsonl", [doc]), "arc")
    assert item.choices == ("heat", "cold") and item.gold == 0


def test_missing_field_names_file_line_and_key(tmp_path):
    good = FORMATS["xstorycloze"][0]
    bad = {k: v for k, v in good.items() if k != "sentence_quiz2"}
    path = _write(tmp_path / "x.jsonl", [good, bad])
    with pytest.raises(mc.TaskFileError, match=r"x\.jsonl: line 2: missing field 'sentence_quiz2' for format xstorycloze"):
        mc.load_items(path, "xstorycloze")


def test_bad_json_and_bad_gold_are_one_line_errors(tmp_path):
    p = tmp_path / "b.jsonl"
    p.write_text('{"context": "a", "choices": ["x", "y"], "gold": 0}\n{not json\n', encoding="utf-8")
    with pytest.raises(mc.TaskFileError, match=r"b\.jsonl: line 2: not valid JSON"):
        mc.load_items(p, "auroram")
    _write(p, [{"context": "a", "choices": ["x", "y"], "gold": 5}])
    with pytest.raises(mc.TaskFileError, match=r"b\.jsonl: line 1: gold answer 5"):
        mc.load_items(p, "auroram")
    with pytest.raises(mc.TaskFileError, match="unknown task format"):
        mc.load_items(p, "squad")


def test_builtin_sets_cover_the_five_languages():
    tasks = mc.builtin_tasks()
    assert sorted(tasks) == ["en", "fi", "hi", "ja", "vi"]
    for lang, path in tasks.items():
        items = mc.load_items(path, "auroram")
        assert len(items) >= 20
        assert len({it.gold for it in items}) > 1, f"{lang}: the right answer is always in the same place"


def test_trailing_context_space_moves_to_the_continuation(tiny):
    _model, tok = tiny
    ctx, cont = mc.encode_pair(tok, "the model ", "learns")
    assert tok.decode(cont) == " learns" and tok.decode(ctx) == "the model"


def _reference_loglik(model, tok, context, continuation):
    ctx, cont = mc.encode_pair(tok, context, continuation)
    seq = torch.tensor([[0, *ctx, *cont]])
    with torch.no_grad():
        logp = model(input_ids=seq[:, :-1]).logits[0].log_softmax(-1)
    targets = seq[0, 1:]
    return sum(logp[i, targets[i]].item() for i in range(len(targets) - len(cont), len(targets)))


def test_scores_equal_reference_and_do_not_depend_on_batch_size(tiny):
    model, tok = tiny
    items = mc.load_items(mc.builtin_tasks()["fi"], "auroram")[:6] + mc.load_items(mc.builtin_tasks()["ja"], "auroram")[:6]
    one = mc.score_items(model, tok, items, eos_id=0, max_len=128, batch_seqs=1)
    many = mc.score_items(model, tok, items, eos_id=0, max_len=128, batch_seqs=16)
    correct = correct_norm = 0
    for it, a, b in zip(items, one["per_item"], many["per_item"]):
        ref = [_reference_loglik(model, tok, it.context, it.delimiter + c) for c in it.choices]
        assert a["loglik"] == pytest.approx(ref, abs=1e-4)
        assert b["loglik"] == pytest.approx(ref, abs=1e-4)
        correct += max(range(len(ref)), key=ref.__getitem__) == it.gold
        correct_norm += max(range(len(ref)), key=lambda j: ref[j] / len(it.choices[j])) == it.gold
    assert one["acc"] == many["acc"] == correct / len(items)
    assert one["acc_norm"] == many["acc_norm"] == correct_norm / len(items)


def test_long_context_is_cut_from_the_left_not_rejected(tiny):
    model, tok = tiny
    item = mc.MCItem("long", "malli oppii " * 200, ("uusia", "kieliä"), 0)
    res = mc.score_items(model, tok, [item], eos_id=0, max_len=128)
    assert res["items"] == 1 and all(x < 0 for x in res["per_item"][0]["loglik"])
