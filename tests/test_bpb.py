import math

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPTBigCodeConfig, GPTBigCodeForCausalLM, PreTrainedTokenizerFast

from auroram.eval.bpb import bits_per_byte, fertility, score_documents

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Kissa istuu ikkunalla ja katsoo lintuja.",
    "def add(a, b):\n    return a + b\n",
    "Tôi thích đọc sách vào buổi tối.",
    "猫は窓辺に座って鳥を見ている。",
]
EOS = "<|endoftext|>"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # a model this small gains nothing from threads, and they stall badly on a busy machine
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tokenizer():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=[EOS], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(SENTENCES * 20, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS)


@pytest.fixture(scope="module")
def model(tokenizer):
    torch.manual_seed(0)
    cfg = GPTBigCodeConfig(vocab_size=len(tokenizer), n_positions=64, n_embd=32, n_layer=2, n_head=2)
    return GPTBigCodeForCausalLM(cfg).eval()


def reference_nll(model, ids, eos_id, seq_len, stride):
    """Token by token: token i is predicted from the tokens since the start of the first window reaching it."""
    seq = [eos_id, *ids]
    n = len(ids)
    starts = range(0, max(n, 1), stride)
    total = 0.0
    for i in range(1, n + 1):
        begin = next(b for b in starts if min(b + seq_len, n) >= i)
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([seq[begin:i]])).logits[0, -1]
        total -= torch.log_softmax(logits.double(), -1)[seq[i]].item()
    return total


def docs_of(tokenizer):
    long_doc = " ".join(SENTENCES * 3)
    return ["short one.", long_doc, SENTENCES[4], SENTENCES[2] * 2, "x"]


def test_bpb_equals_reference(model, tokenizer):
    eos = tokenizer.eos_token_id
    docs = docs_of(tokenizer)
    per_doc = score_documents(model, docs, tokenizer, eos_id=eos, seq_len=64, batch_seqs=3)
    for doc, got in zip(docs, per_doc):
        ids = tokenizer.encode(doc, add_special_tokens=False)
        assert got["tokens"] == len(ids)
        assert got["bytes"] == len(doc.encode("utf-8"))
        assert got["nll_nats"] == pytest.approx(reference_nll(model, ids, eos, 64, 32), rel=1e-5)

    total = bits_per_byte(model, docs, tokenizer, eos_id=eos, seq_len=64, batch_seqs=3)
    nll = sum(r["nll_nats"] for r in per_doc)
    n_bytes = sum(len(d.encode("utf-8")) for d in docs)
    assert total["bpb"] == pytest.approx(nll / math.log(2) / n_bytes, rel=1e-9)
    assert total["docs"] == len(docs)
    assert total["token_ppl"] == pytest.approx(math.exp(nll / total["tokens"]))


def test_unchanged_by_batch_size(model, tokenizer):
    eos = tokenizer.eos_token_id
    docs = docs_of(tokenizer)
    results = [
        score_documents(model, docs, tokenizer, eos_id=eos, seq_len=16, stride=5, batch_seqs=b) for b in (1, 2, 7, 64)
    ]
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert a["tokens"] == b["tokens"]
            assert b["nll_nats"] == pytest.approx(a["nll_nats"], rel=1e-5)


@pytest.mark.parametrize("stride", [16, 8, 5, 1])
def test_strided_windows_score_every_token_once(model, tokenizer, stride):
    eos = tokenizer.eos_token_id
    long_doc = " ".join(SENTENCES * 3)
    ids = tokenizer.encode(long_doc, add_special_tokens=False)
    assert len(ids) > 3 * 16  # several windows
    [got] = score_documents(model, [long_doc], tokenizer, eos_id=eos, seq_len=16, stride=stride, batch_seqs=4)
    assert got["tokens"] == len(ids)
    assert got["nll_nats"] == pytest.approx(reference_nll(model, ids, eos, 16, stride), rel=1e-5)


def test_overlap_gives_more_context(model, tokenizer):
    # a token scored with a longer context differs from one scored right after a window boundary
    eos = tokenizer.eos_token_id
    long_doc = " ".join(SENTENCES * 3)
    [a] = score_documents(model, [long_doc], tokenizer, eos_id=eos, seq_len=16, stride=16)
    [b] = score_documents(model, [long_doc], tokenizer, eos_id=eos, seq_len=16, stride=4)
    assert a["tokens"] == b["tokens"]
    assert a["nll_nats"] != pytest.approx(b["nll_nats"], rel=1e-6)


def test_empty_doc_skipped(model, tokenizer):
    eos = tokenizer.eos_token_id
    docs = ["", "hello world", ""]
    per_doc = score_documents(model, docs, tokenizer, eos_id=eos, seq_len=16)
    assert per_doc[0] == {"nll_nats": 0.0, "tokens": 0, "bytes": 0}
    assert per_doc[2]["tokens"] == 0
    total = bits_per_byte(model, docs, tokenizer, eos_id=eos, seq_len=16)
    alone = bits_per_byte(model, ["hello world"], tokenizer, eos_id=eos, seq_len=16)
    assert total["docs"] == 1
    assert total["bpb"] == pytest.approx(alone["bpb"])
    with pytest.raises(ValueError, match="no non-empty"):
        bits_per_byte(model, [""], tokenizer, eos_id=eos, seq_len=16)


def test_bad_stride_rejected(model, tokenizer):
    with pytest.raises(ValueError, match="stride"):
        score_documents(model, ["abc"], tokenizer, eos_id=0, seq_len=8, stride=9)


def test_fertility(tokenizer):
    en = fertility(tokenizer, ["The quick brown fox jumps over the lazy dog."])
    assert en["tokens_per_word"] is not None and en["tokens_per_word"] > 0
    assert en["tokens_per_byte"] == pytest.approx(en["tokens"] / en["bytes"])
    ja = fertility(tokenizer, ["猫は窓辺に座って鳥を見ている。猫は窓辺に座って鳥を見ている。"])
    assert ja["tokens_per_word"] is None
    assert ja["tokens_per_byte"] > 0
