"""The training loop: gradient accumulation is exact, checkpoints resume exactly, bf16 autocast runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from auroram.config import ModelConfig, ScheduleConfig, StageConfig, TrainConfig, OptimConfig
from auroram.mix.mixture import Mixture
from auroram.model.build import build_model
from auroram.tokenize.shards import Shard, write_shard
from auroram.train.loop import train_stage

VOCAB = 97


def _shard(tmp_path, seed=0) -> Shard:
    rng = np.random.default_rng(seed)
    docs = []
    for _ in range(60):
        n = int(rng.integers(10, 60))
        toks = rng.integers(1, VOCAB, n).astype(np.int64)
        # varying numbers of target tokens per sequence: a per-micro-batch mean would weigh them wrongly
        mask = (np.arange(n) >= rng.integers(0, n)).astype(np.uint8)
        docs.append((np.append(toks, 0), np.append(mask, 1)))
    write_shard(tmp_path / "s.bin", docs, vocab_size=VOCAB)
    return Shard(tmp_path / "s.bin")


def _run(tmp_path, out, micro, steps=4, ckpt_every=0, precision="fp32"):
    shard = _shard(tmp_path)
    mix = Mixture({"s": shard}, {"s": 1.0}, seq_len=16, global_batch_seqs=8, seed=3)
    model = build_model(ModelConfig(n_embd=32, n_layer=2, n_head=2, n_positions=16), vocab_size=VOCAB, eos_id=0, seed=1)
    stage = StageConfig(name="s", tokens=steps * 128, optim=OptimConfig(lr=1e-2),
                        schedule=ScheduleConfig(kind="cosine", warmup_steps=1), checkpoint_every_steps=ckpt_every)
    train = TrainConfig(seq_len=16, global_batch_tokens=128, micro_batch_seqs=micro, precision=precision)
    res = train_stage(model=model, mixture=mix, stage=stage, stage_index=0, train=train, total_steps=steps,
                      out_dir=tmp_path / out)
    return model, res


def test_gradient_accumulation_matches_one_big_batch(tmp_path):
    big, r1 = _run(tmp_path, "a", micro=8)
    small, r2 = _run(tmp_path, "b", micro=2)
    for (k, a), (_, b) in zip(big.state_dict().items(), small.state_dict().items()):
        assert torch.allclose(a, b, atol=2e-5), k
    assert [x["loss"] for x in r1.loss] == pytest.approx([x["loss"] for x in r2.loss], abs=1e-5)


def test_loss_falls_and_final_weights_are_written(tmp_path):
    model, res = _run(tmp_path, "a", micro=8, steps=8)
    assert res.loss[-1]["loss"] < res.loss[0]["loss"]
    from auroram.train.checkpoint import load_weights

    fresh = build_model(ModelConfig(n_embd=32, n_layer=2, n_head=2, n_positions=16), vocab_size=VOCAB, eos_id=0,
                        seed=99)
    load_weights(tmp_path / "a" / "final", fresh)
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in model.state_dict().items())


def test_resume_from_checkpoint_is_exact(tmp_path):
    ref, r_ref = _run(tmp_path, "ref", micro=4, steps=6)
    # an interrupted run: train to step 3 with a checkpoint there, then a fresh process-like restart
    _run(tmp_path, "cut", micro=4, steps=6, ckpt_every=3)
    import shutil

    shutil.rmtree(tmp_path / "cut" / "final")
    ckpts = sorted((tmp_path / "cut" / "ckpt").iterdir())
    assert [p.name for p in ckpts] == ["step-00000003"]
    resumed, r_res = _run(tmp_path, "cut", micro=4, steps=6, ckpt_every=3)
    assert r_res.resumed_from == 3
    assert all(torch.equal(a, b) for a, b in zip(ref.state_dict().values(), resumed.state_dict().values()))
    assert [x["loss"] for x in r_res.loss] == [x["loss"] for x in r_ref.loss]


def test_bf16_autocast_trains_close_to_fp32(tmp_path):
    ref, r32 = _run(tmp_path, "a", micro=8, steps=6)
    model, r16 = _run(tmp_path, "b", micro=8, steps=6, precision="bf16")
    assert all(p.dtype == torch.float32 for p in model.parameters())  # fp32 master weights
    l32, l16 = [x["loss"] for x in r32.loss], [x["loss"] for x in r16.loss]
    assert l16 != l32  # bf16 matmuls really ran
    assert l16 == pytest.approx(l32, rel=0.02)  # and the run follows the fp32 one


def test_auto_precision_is_bf16_on_gpu_and_fp32_on_cpu():
    from auroram.train.loop import autocast_dtype

    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert autocast_dtype(TrainConfig(precision="auto"), cpu) is None
    assert autocast_dtype(TrainConfig(precision="auto"), gpu) == torch.bfloat16
    assert autocast_dtype(TrainConfig(precision="fp32"), gpu) is None
    assert autocast_dtype(TrainConfig(precision="bf16"), cpu) == torch.bfloat16
