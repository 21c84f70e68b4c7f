"""Sharded load, hand-off and streaming export: a base in bf16 safetensors goes into an FSDP2 model with no
full copy on any rank, and comes out as an HF export that loads with the same logits.

The multi-process cases run this file itself under torchrun (2 processes, gloo); the bad-input cases run
in one process.
"""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))

from test_model import make_tokenizer  # noqa: E402

BASES = ("llama_gqa", "bigcode_tied", "bigcode_untied", "qwen2_gqa")


def make_base(root: Path, kind: str, tokenizer, *, shard_bytes: str | None = None) -> Path:
    """A tiny random model of `kind`, saved by transformers in bfloat16 (sharded with an index when asked)."""
    from transformers import AutoModelForCausalLM, GPTBigCodeConfig, LlamaConfig, Qwen2Config

    # an odd vocabulary for one of them: FSDP2's row chunks are then uneven (ceil(n / ranks) and the rest)
    v, eos = len(tokenizer) + (1 if kind == "bigcode_untied" else 0), tokenizer.eos_token_id
    common = dict(vocab_size=v, bos_token_id=eos, eos_token_id=eos)
    if kind == "llama_gqa":
        cfg = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                          num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=False, **common)
    elif kind == "qwen2_gqa":
        cfg = Qwen2Config(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                          num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=True, **common)
    else:
        cfg = GPTBigCodeConfig(n_embd=32, n_layer=2, n_head=4, n_positions=64, multi_query=True,
                               tie_word_embeddings=kind == "bigcode_tied", **common)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(BASES.index(kind))
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
        with torch.no_grad():  # random norms and biases too, so a tensor left unloaded shows in the logits
            for p in model.parameters():
                p.normal_(0, 0.5)
    out = root / kind
    model.save_pretrained(out, **({"max_shard_size": shard_bytes} if shard_bytes else {}))
    tokenizer.save_pretrained(out)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(nproc: int, *args: str) -> None:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc), "--master-addr",
           "127.0.0.1", "--master-port", str(_free_port()), str(HERE), *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                       env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert p.returncode == 0, p.stderr[-4000:]


def read_ranks(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(out.glob("rank*.json"))]


# ----------------------------------------------------------------------------------------------------
# Two processes.


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    root = tmp_path_factory.mktemp("sharded")
    tok = make_tokenizer()
    bases = {k: make_base(root / "bases", k, tok, shard_bytes="20KB" if k in ("llama_gqa", "qwen2_gqa") else None)
             for k in BASES}
    out = root / "two"
    torchrun(2, "load", str(out), *[str(bases[k]) for k in BASES])
    return root, bases, out


@pytest.mark.slow
@pytest.mark.parametrize("kind", BASES)
def test_sharded_load_gives_from_pretrained_logits(sharded, kind):
    _, _, out = sharded
    ranks = read_ranks(out / kind)
    assert len(ranks) == 2
    assert ranks[0]["logits_equal"], "sharded-loaded logits differ from from_pretrained(dtype=float32)"
    assert ranks[0]["tied"] == (kind in ("bigcode_tied", "qwen2_gqa"))


@pytest.mark.slow
@pytest.mark.parametrize("kind", BASES)
def test_each_rank_reads_only_its_rows(sharded, kind):
    _, bases, out = sharded
    ranks = read_ranks(out / kind)
    total = ranks[0]["bytes_total"]
    # every tensor byte is read by exactly one rank, and each reads about half (row chunks of ceil(n/2))
    assert sum(r["bytes_read"] for r in ranks) == total
    assert all(0.3 * total < r["bytes_read"] < 0.7 * total for r in ranks)
    assert sum(r["local_numel"] for r in ranks) == ranks[0]["global_numel"]
    on_disk = sum(p.stat().st_size for p in bases[kind].glob("*.safetensors"))
    assert total <= on_disk < total + 8 * 1024  # the file holds these tensors (bf16) and a small header


@pytest.mark.slow
@pytest.mark.parametrize("kind", BASES)
def test_streaming_export_writes_bounded_files_that_load_with_equal_logits(sharded, kind):
    from transformers import AutoModelForCausalLM

    _, _, out = sharded
    ranks = read_ranks(out / kind)
    assert ranks[0]["export_logits_equal"], "export logits differ from the trained weights in bfloat16"
    hf = out / kind / "hf"
    files = sorted(p.name for p in hf.glob("*.safetensors"))
    assert len(files) >= 3 and files[0] == f"model-00001-of-{len(files):05d}.safetensors"
    index = json.loads((hf / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"].values()) == set(files)
    assert index["metadata"]["total_size"] == ranks[0]["export_bytes"]
    for f in files:  # a file holds at most max_file_bytes of tensors, unless one tensor alone is larger
        n = struct.unpack("<Q", (hf / f).read_bytes()[:8])[0]
        data = (hf / f).stat().st_size - 8 - n
        assert data <= 8000 or len([k for k, v in index["weight_map"].items() if v == f]) == 1
    assert json.loads((hf / "config.json").read_text())["dtype"] == "bfloat16"
    assert {"generation_config.json", "README.md", "auroram-manifest.json", "tokenizer.json"} <= {
        p.name for p in hf.iterdir()}
    assert "bfloat16" in (hf / "README.md").read_text()
    assert next(AutoModelForCausalLM.from_pretrained(hf).parameters()).dtype == torch.bfloat16


@pytest.mark.slow
def test_hand_off_reshards_two_to_one_and_one_to_two(sharded):
    root, bases, out = sharded
    for kind in ("llama_gqa", "bigcode_tied"):
        one, two = root / f"one-{kind}", root / f"back-{kind}"
        torchrun(1, "handoff", str(bases[kind]), str(out / kind), str(one))
        torchrun(2, "handoff", str(bases[kind]), str(one), str(two))
        for d, n in ((one, 1), (two, 2)):
            ranks = read_ranks(d)
            assert len(ranks) == n and ranks[0]["world_size"] == n
            assert ranks[0]["logits_equal"], f"{kind}: weights changed in the hand-off to {n} processes"
            assert sum(r["local_numel"] for r in ranks) == ranks[0]["global_numel"]
        assert len(list((two / "final" / "dcp").glob("*.distcp"))) == 2


# ----------------------------------------------------------------------------------------------------
# Bad input: one line naming the file and the tensor, before anything is read into the model.


@pytest.fixture
def plain(tmp_path):
    from auroram.model.build import base_on_meta
    from auroram.model.load import materialize

    tok = make_tokenizer()
    base = make_base(tmp_path, "llama_gqa", tok, shard_bytes="20KB")

    def fresh():
        model, _ = base_on_meta(base)
        materialize(model, torch.device("cpu"))
        return model

    return base, fresh


def _one_line(e: BaseException) -> str:
    text = str(e)
    assert "\n" not in text
    return text


def test_unsharded_meta_path_equals_from_pretrained(plain):
    from transformers import AutoModelForCausalLM

    from auroram.model.load import load_sharded_safetensors

    base, fresh = plain
    model = fresh()
    stats = load_sharded_safetensors(base, model)
    assert stats.bytes_read == stats.bytes_total
    ref = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32).eval()
    x = torch.randint(0, ref.config.vocab_size, (2, 12))
    with torch.no_grad():
        assert torch.equal(model.eval()(x).logits, ref(x).logits)


def test_checkpoint_of_the_bare_model_loads_as_from_pretrained_does(tmp_path):
    # GPT-2's own checkpoints hold the bare `transformer` (keys without the prefix): the names are matched
    # the way from_pretrained matches them
    from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

    from auroram.model.build import base_on_meta
    from auroram.model.load import load_sharded_safetensors, materialize

    tok = make_tokenizer()
    cfg = GPT2Config(n_layer=2, n_embd=32, n_head=4, n_positions=64, vocab_size=len(tok),
                     bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id)
    full = GPT2LMHeadModel(cfg).to(torch.bfloat16)
    full.transformer.save_pretrained(tmp_path / "gpt2")
    tok.save_pretrained(tmp_path / "gpt2")
    model, _ = base_on_meta(tmp_path / "gpt2")
    materialize(model, torch.device("cpu"))
    load_sharded_safetensors(tmp_path / "gpt2", model)
    ref = AutoModelForCausalLM.from_pretrained(tmp_path / "gpt2", dtype=torch.float32).eval()
    x = torch.randint(0, len(tok), (2, 12))
    with torch.no_grad():
        assert torch.equal(model.eval()(x).logits, ref(x).logits)


def test_index_naming_a_missing_file(plain):
    from auroram.model.load import WeightsError, load_sharded_safetensors

    base, fresh = plain
    victim = sorted(base.glob("model-*.safetensors"))[1]
    victim.unlink()
    model = fresh()
    with pytest.raises(WeightsError) as e:
        load_sharded_safetensors(base, model)
    msg = _one_line(e.value)
    assert "model.safetensors.index.json" in msg and victim.name in msg and "tensor '" in msg


def test_truncated_file(plain):
    from auroram.model.load import WeightsError, load_sharded_safetensors

    base, fresh = plain
    victim = sorted(base.glob("model-*.safetensors"))[0]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) - 100])
    model = fresh()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(7.0)
    with pytest.raises(WeightsError) as e:
        load_sharded_safetensors(base, model)
    assert victim.name in _one_line(e.value) and "truncated" in str(e.value)
    assert all(bool((p == 7.0).all()) for p in model.parameters())  # nothing was read in


def _rewrite(path: Path, fn) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(path))
    save_file(fn(tensors), str(path), metadata={"format": "pt"})


def test_wrong_shape_and_missing_tensor(plain):
    from auroram.model.load import WeightsError, load_sharded_safetensors

    base, fresh = plain
    index = json.loads((base / "model.safetensors.index.json").read_text())
    name = "model.layers.0.self_attn.k_proj.weight"
    f = base / index["weight_map"][name]
    _rewrite(f, lambda t: {**t, name: t[name][:4].contiguous()})
    with pytest.raises(WeightsError) as e:
        load_sharded_safetensors(base, fresh())
    msg = _one_line(e.value)
    assert f.name in msg and name in msg and "shape" in msg

    _rewrite(f, lambda t: {k: v for k, v in t.items() if k != name})
    index["weight_map"].pop(name)
    (base / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(WeightsError) as e:
        load_sharded_safetensors(base, fresh())
    assert name in _one_line(e.value) and "model.safetensors.index.json" in str(e.value)


def test_previous_stage_of_another_vocabulary_or_architecture(tmp_path):
    from auroram.config import ModelConfig
    from auroram.model.build import build_model
    from auroram.train.checkpoint import CheckpointError, load_weights, save_weights

    cfg = ModelConfig(arch="gpt_bigcode", n_embd=32, n_layer=2, n_head=4, n_positions=64)
    save_weights(tmp_path / "final", build_model(cfg, vocab_size=300, eos_id=0, seed=0))
    other_vocab = build_model(cfg, vocab_size=320, eos_id=0, seed=0, meta=True)
    with pytest.raises(CheckpointError) as e:
        load_weights(tmp_path / "final", other_vocab)
    msg = _one_line(e.value)
    assert ".metadata" in msg and "wte.weight" in msg and "[300, 32]" in msg
    llama = build_model(ModelConfig(arch="llama", n_embd=32, n_layer=2, n_head=4, n_positions=64),
                        vocab_size=300, eos_id=0, seed=0, meta=True)
    with pytest.raises(CheckpointError) as e:
        load_weights(tmp_path / "final", llama)
    assert "model.embed_tokens.weight" in _one_line(e.value)


def test_memory_estimate_is_a_fraction_of_a_full_copy():
    from auroram.model.load import memory_estimate

    p = 15_500_000_000  # StarCoderPlus-sized
    est = memory_estimate(p, 8, train_dtype="float32", disk_dtype="bfloat16", export_dtype="bfloat16",
                          largest_tensor_params=49152 * 6144)
    assert est["load_peak_per_rank"] < est["full_copy_fp32"] / 6
    # one 5 GB file and one gathered tensor (fp32 + its bf16 copy), not a 62 GB fp32 state dict
    assert est["export_extra_rank0"] == 5 * 10**9 + 49152 * 6144 * 6 < est["full_copy_fp32"] / 8
    assert memory_estimate(p, 16, largest_tensor_params=1)["load_peak_per_rank"] == -(-p // 16) * 4 + 6


# ----------------------------------------------------------------------------------------------------
# What each torchrun process does.


def _worker(argv: list[str]) -> None:
    import torch.distributed as dist
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from auroram.model.build import base_on_meta
    from auroram.model.export import export_hf
    from auroram.model.load import load_sharded_safetensors, materialize
    from auroram.train.checkpoint import load_weights, save_weights
    from auroram.train.parallel import init_distributed, parallelize

    torch.set_num_threads(1)
    info = init_distributed("cpu")
    cpu = torch.device("cpu")

    def sharded_meta(base: Path):
        model, _ = base_on_meta(base)
        model = parallelize(model, mode="fsdp2", info=info, device=cpu, bf16=False, activation_checkpointing=False,
                            compile=False)
        materialize(model, cpu)
        return model

    def ids(model) -> torch.Tensor:
        return torch.randint(0, model.config.vocab_size, (2, 12), generator=torch.Generator().manual_seed(1))

    def numels(model) -> tuple[int, int]:
        for m in model.modules():  # FSDP2 keeps the root's parameters gathered after a forward
            if hasattr(m, "reshard"):
                m.reshard()
        params = {id(p): p for p in model.parameters()}.values()
        return (sum(p.to_local().numel() for p in params), sum(p.numel() for p in params))

    def report(out: Path, rec: dict) -> None:
        out.mkdir(parents=True, exist_ok=True)
        (out / f"rank{info.rank}.json").write_text(json.dumps({**rec, "world_size": info.world_size}))

    cmd, *args = argv
    if cmd == "load":
        out, bases = Path(args[0]), [Path(a) for a in args[1:]]
        for base in bases:
            model = sharded_meta(base).eval()
            stats = load_sharded_safetensors(base, model)
            tied = model.get_output_embeddings().weight is model.get_input_embeddings().weight
            x = ids(model)
            with torch.no_grad():
                logits = model(x).logits
            rec = {"bytes_read": stats.bytes_read, "bytes_total": stats.bytes_total}
            rec["local_numel"], rec["global_numel"] = numels(model)
            rec["tied"] = tied
            if info.is_main:
                ref = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32).eval()
                with torch.no_grad():
                    rec["logits_equal"] = torch.equal(ref(x).logits, logits)
            # one step, so the weights are no longer bf16 values, then the streaming export
            model.train()  # numels() resharded: the optimizer gets the sharded parameters
            opt = torch.optim.SGD(model.parameters(), lr=0.05)
            model(x).logits.logsumexp(-1).mean().backward()
            opt.step()
            model.eval()
            tok = AutoTokenizer.from_pretrained(base)
            export_hf(model, tok, out / base.name / "hf", card={"name": base.name}, dtype="bfloat16",
                      max_file_bytes=8000, is_main=info.is_main)
            full = {k: v.detach().full_tensor() for k, v in model.state_dict().items()}
            with torch.no_grad():
                trained = model(x).logits
            save_weights(out / base.name / "final", model, info)
            if info.is_main:
                torch.save(trained, out / base.name / "logits.pt")
                ref = AutoModelForCausalLM.from_config(model.config, dtype=torch.bfloat16).eval()
                ref.load_state_dict({k: v.to(torch.bfloat16) for k, v in full.items()})
                exported = AutoModelForCausalLM.from_pretrained(out / base.name / "hf").eval()
                with torch.no_grad():
                    rec["export_logits_equal"] = torch.equal(ref(x).logits, exported(x).logits)
                rec["export_bytes"] = sum(t.numel() * 2 for t in {id(p): p for p in ref.parameters()}.values())
            report(out / base.name, rec)
    elif cmd == "handoff":
        base, prev, out = Path(args[0]), Path(args[1]), Path(args[2])
        model = sharded_meta(base).eval()
        load_weights(prev / "final", model)
        with torch.no_grad():
            logits = model(ids(model)).logits
        rec = {}
        rec["local_numel"], rec["global_numel"] = numels(model)
        save_weights(out / "final", model, info)
        if info.is_main:
            expect = torch.load(prev / "logits.pt")
            rec["logits_equal"] = torch.equal(expect, logits)
            out.mkdir(parents=True, exist_ok=True)
            torch.save(logits, out / "logits.pt")
        report(out, rec)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    _worker(sys.argv[1:])
