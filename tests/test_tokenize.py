import pytest

from auroram.tokenize.bpe import EOS_TOKEN, TokenizerError, eos_id, load_tokenizer, train_bpe

CORPUS = [
    "The quick brown fox jumps over the lazy dog. " * 3,
    "Hyvää huomenta, mitä kuuluu? Kiitos hyvää.",
    "नमस्ते दुनिया, यह एक परीक्षण वाक्य है।",
    "日本語のテキストを学習します。東京は晴れです。",
    "Xin chào thế giới, đây là một câu thử nghiệm.",
    "def add(a, b):\n    return a + b\n\nclass Foo:\n    pass\n",
] * 20

SAMPLES = [
    "Hello, world!",
    "  two leading spaces and a trailing one ",
    "def f(x):\n\treturn {'k': [x ** 2, None]}  # comment\n",
    "नमस्ते दुनिया",
    "こんにちは、世界。カタカナ・ひらがな",
    "emoji 🎉👍🏽 family 👨‍👩‍👧 flags 🇫🇮",
    "Tiếng Việt có dấu: ằ ẵ ặ",
    "never seen: Ωμέγα Ж ℵ \u0000 \u200b end",
    "",
    "a . b , c ? !",  # HF's space cleanup would turn this into "a. b, c?!"
]


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    return train_bpe(iter(CORPUS), 400, tmp_path_factory.mktemp("bpe") / "tok")


def test_round_trip_any_unicode_and_code(tok):
    for text in SAMPLES:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert tok.decode(ids) == text


def test_eos_is_id_zero_and_shared_specials(tok):
    assert tok.convert_tokens_to_ids(EOS_TOKEN) == 0
    assert eos_id(tok) == 0
    assert tok.bos_token_id == tok.pad_token_id == tok.unk_token_id == 0
    assert len(tok) <= 400


def test_learns_merges(tok):
    # the corpus repeats these words; a BPE that learned nothing would spend one token per byte
    assert len(tok("The quick brown fox", add_special_tokens=False)["input_ids"]) < len("The quick brown fox") // 2


def test_deterministic(tmp_path):
    a = train_bpe(CORPUS, 350, tmp_path / "a")
    b = train_bpe(CORPUS, 350, tmp_path / "b")
    assert (tmp_path / "a" / "tokenizer.json").read_bytes() == (tmp_path / "b" / "tokenizer.json").read_bytes()
    assert a(SAMPLES[3])["input_ids"] == b(SAMPLES[3])["input_ids"]


def test_saved_dir_reloads_the_same(tok, tmp_path):
    again = load_tokenizer(tok.name_or_path)
    for text in SAMPLES:
        assert again(text, add_special_tokens=False)["input_ids"] == tok(text, add_special_tokens=False)["input_ids"]


def test_retrain_replaces_whole_dir(tmp_path):
    train_bpe(CORPUS, 300, tmp_path / "t")
    train_bpe(CORPUS, 350, tmp_path / "t")
    assert len(load_tokenizer(tmp_path / "t")) > 300
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t"]  # no temporary or old directories left


def test_missing_tokenizer_dir_errors(tmp_path):
    with pytest.raises(TokenizerError, match="tokenizer directory not found") as e:
        load_tokenizer(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(e.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(TokenizerError, match="no tokenizer files") as e:
        load_tokenizer(tmp_path / "empty")
    assert str(tmp_path / "empty") in str(e.value) and "\n" not in str(e.value)


def test_tiny_vocab_rejected(tmp_path):
    with pytest.raises(TokenizerError, match="at least 257"):
        train_bpe(CORPUS, 100, tmp_path / "t")


def test_eos_missing_is_clear_error(tok):
    class NoEos:
        eos_token_id = None
        name_or_path = "some-model"

    with pytest.raises(TokenizerError, match="no EOS token"):
        eos_id(NoEos())
