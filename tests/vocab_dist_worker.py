"""Run by tests/test_vocab_extend.py under torchrun (two ranks, gloo): a stage with trainable new_embeddings on a
model wrapped for FSDP2 or DDP changes only the new rows; prints OK or the names of the tensors that moved."""
import sys
from pathlib import Path

import numpy as np
import torch

from auroram.config import ModelConfig, OptimConfig, ScheduleConfig, StageConfig, TrainConfig
from auroram.mix.mixture import Mixture
from auroram.model.build import build_model
from auroram.model.embeddings import FIRST_NEW_ROW
from auroram.tokenize.shards import Shard, write_shard
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from auroram.train.loop import train_stage
from auroram.train.parallel import init_distributed, parallelize

out, mode, arch = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
info = init_distributed("cpu")
torch.manual_seed(0)
vocab = 97
if info.is_main:
    rng = np.random.default_rng(0)
    docs = [(np.append(rng.integers(1, vocab, 40), 0).astype(np.int64), np.ones(41, dtype=np.uint8))
            for _ in range(40)]
    write_shard(out / "s.bin", docs, vocab_size=vocab)
torch.distributed.barrier()
mix = Mixture({"s": Shard(out / "s.bin")}, {"s": 1.0}, seq_len=16, global_batch_seqs=8, seed=3)
model = build_model(ModelConfig(arch=arch, n_embd=32, n_layer=2, n_head=4, n_positions=64), vocab_size=vocab, eos_id=0,
                    seed=1)
setattr(model.get_input_embeddings(), FIRST_NEW_ROW, 60)
before = {k: v.detach().clone() for k, v in model.state_dict().items()}
model = parallelize(model, mode=mode, info=info, device=torch.device("cpu"), bf16=False, activation_checkpointing=False,
                    compile=False)
stage = StageConfig(name="s", tokens=3 * 128, optim=OptimConfig(lr=1e-2), trainable="new_embeddings",
                    schedule=ScheduleConfig(kind="constant"))
train = TrainConfig(seq_len=16, global_batch_tokens=128, micro_batch_seqs=4, parallel=mode)
train_stage(model=model, mixture=mix, stage=stage, stage_index=0, train=train, total_steps=3, out_dir=out / "run",
            info=info)
after = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
if info.is_main:
    bad = []
    for k, v in before.items():
        a = after[k]
        if any(n in k for n in ("wte", "embed_tokens", "lm_head")):
            if not torch.equal(a[:60], v[:60]) or torch.equal(a[60:], v[60:]):
                bad.append(k)
        elif not torch.equal(a, v):
            bad.append(k)
    print("OK" if not bad else f"MOVED {bad}")
torch.distributed.destroy_process_group()
