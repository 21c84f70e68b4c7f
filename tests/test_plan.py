import json

import pytest
import torch
import torch.nn.functional as F

from auroram.config import ModelConfig, load_recipe
from auroram.model.build import build_model, count_params, flops_per_token
from auroram.plan import (
    PlanError,
    count_params as plan_count_params,
    flops_per_token as plan_flops_per_token,
    head_activation_bytes,
    layer_activation_bytes,
    plan,
    render_plan,
    shape_from_hf_config,
    shape_from_recipe,
)


def test_aurora_m_reproduces_the_papers_arithmetic():
    p = plan(load_recipe("aurora-m"), gpus=128, gpu="mi250x")
    assert p["total"]["tokens"] == 435_000_000_000
    assert p["global_batch_tokens"] == 2048 * 2048 == 4_194_304
    assert [(s["name"], s["steps"]) for s in p["stages"]] == [("cap", 89_884), ("cat", 13_829)]
    assert p["total"]["steps"] == 103_713
    # StarCoderPlus from the known-architecture table, since models/starcoderplus is not downloaded
    assert p["model"]["source"] == "known base starcoderplus"
    assert round(p["model"]["params"]["total"] / 1e9, 1) == 15.5
    # 128 MI250X cards are 256 devices: exactly Aurora-M's TP4 x PP4 x DP16
    assert p["devices"] == 256
    lay = {x["name"]: x for x in p["layouts"]}
    assert "tp4 pp4 dp16" in lay
    # the same FLOPs at 40% MFU take half the paper's 48 days, i.e. Aurora-M ran near 21% MFU
    assert 20 < p["total"]["days"] < 30
    assert p["total"]["device_hours"] == pytest.approx(2 * p["total"]["gpu_hours"])


def test_memory_layouts_shard_what_they_claim():
    p = plan(load_recipe("aurora-m"), gpus=64, gpu="h100")
    lay = {x["name"]: x for x in p["layouts"]}
    n = p["model"]["params"]["total"]
    assert lay["ddp"]["state_bytes"] == 16 * n
    assert lay["fsdp2"]["state_bytes"] == pytest.approx(16 * n / 64, rel=1e-9)
    assert lay["hsdp 8x8"]["state_bytes"] == pytest.approx(16 * n / 8, rel=1e-9)
    # a 15.5B model does not fit on one 80 GB card with plain DDP; FSDP2 over 64 does with checkpointing
    assert lay["ddp"]["fits"]["ckpt"] == "no"
    assert lay["fsdp2"]["fits"]["ckpt"] == "yes"
    # checkpointing keeps one tensor per layer instead of ~14
    assert lay["fsdp2"]["activation_bytes"]["ckpt"] < lay["fsdp2"]["activation_bytes"]["no_ckpt"] / 4
    eager = plan(load_recipe("aurora-m"), gpus=64, gpu="h100", attention="eager")
    assert {x["name"]: x for x in eager["layouts"]}["fsdp2"]["activation_bytes"]["no_ckpt"] > \
        2 * lay["fsdp2"]["activation_bytes"]["no_ckpt"]  # the s^2 scores flash attention never stores


def test_korthikanti_formula_is_the_special_case():
    # MHA, 4h GELU MLP, dropout, bf16, eager attention: 34sbh + 5as^2b bytes per layer
    s, b, h, a = 2048, 1, 4096, 32
    shape = shape_from_hf_config({"model_type": "gpt_bigcode", "n_embd": h, "n_layer": 1, "n_head": a,
                                  "multi_query": False, "vocab_size": 100, "n_positions": s,
                                  "resid_pdrop": 0.1}, "test")
    assert layer_activation_bytes(shape, s, b, 2, "eager") == 34 * s * b * h + 5 * a * s * s * b


@pytest.mark.parametrize("arch,multi_query", [("gpt_bigcode", True), ("gpt_bigcode", False), ("llama", True),
                                              ("llama", False)])
def test_params_and_flops_from_config_equal_the_built_model(tmp_path, arch, multi_query):
    cfg = ModelConfig(arch=arch, n_embd=48, n_layer=3, n_head=4, n_positions=32, multi_query=multi_query)
    model = build_model(cfg, vocab_size=300, eos_id=0, seed=0)
    model.config.save_pretrained(tmp_path)
    r = load_recipe("micro", [f"model.arch={arch}", "model.n_embd=48", "model.n_layer=3", "model.n_head=4",
                              "model.n_positions=32", f"model.multi_query={str(multi_query).lower()}",
                              "tokenizer.vocab_size=300", "train.seq_len=32", "train.global_batch_tokens=256"])
    from_recipe = plan(r, gpus=1)
    r.model.base = str(tmp_path)
    from_config = plan(r, gpus=1)
    assert from_config["model"]["source"].endswith("config.json")
    for p in (from_recipe, from_config):
        assert p["model"]["params"] == count_params(model)
        assert p["model"]["flops_per_token"] == flops_per_token(model, 32)


def test_base_architecture_fallback_and_errors(tmp_path):
    r = load_recipe("micro", [f"model.base={tmp_path / 'nowhere' / 'my-model'}"])
    with pytest.raises(PlanError, match="model.base.*--base-arch"):
        plan(r, gpus=8)
    p = plan(r, gpus=8, base_arch="StarCoderPlus")
    assert p["model"]["width"] == 6144 and p["model"]["kv_width"] == 128
    with pytest.raises(PlanError, match="--base-arch 'gpt5'"):
        plan(r, gpus=8, base_arch="gpt5")
    with pytest.raises(PlanError, match="--gpu 'tpu'"):
        plan(load_recipe("micro"), gpus=1, gpu="tpu")
    (tmp_path / "config.json").write_text('{"model_type": "t5"}')
    r.model.base = str(tmp_path)
    with pytest.raises(PlanError, match="config.json: key 'model_type'"):
        plan(r, gpus=1)


def test_render_and_json():
    p = plan(load_recipe("aurora-m"), gpus=128, gpu="mi250x")
    text = render_plan(p)
    for needle in ("89,884", "13,829", "103,713", "256 devices", "tp4 pp4 dp16", "fsdp2", "hsdp 32x8"):
        assert needle in text
    assert json.loads(json.dumps(p)) == p


def _storage_bytes(tensors, skip=frozenset()):
    seen = {}
    for t in tensors:
        st = t.untyped_storage()
        if st.data_ptr() not in skip:
            seen[st.data_ptr()] = st.nbytes()
    return sum(seen.values())


@pytest.mark.parametrize("overrides", [[], ["model.arch=llama", "model.n_embd=96", "model.n_head=4"]])
def test_memory_estimate_against_a_measured_training_run(overrides):
    # the micro recipe's model trained in fp32 on CPU, AdamW, two micro-batches a step
    r = load_recipe("micro", ["train.precision=fp32", *overrides])
    est = plan(r, gpus=1)
    model = build_model(r.model, vocab_size=r.tokenizer.vocab_size, eos_id=0, seed=0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    seq, micro, vocab = r.train.seq_len, r.train.micro_batch_seqs, r.tokenizer.vocab_size
    params = list(model.parameters())
    param_ptrs = {p.untyped_storage().data_ptr() for p in params}
    gen = torch.Generator().manual_seed(0)
    saved_bytes, saved = [], []

    def pack(t):
        saved.append(t)
        return t

    for _step in range(3):
        for _ in range(r.train.global_batch_tokens // seq // micro):
            x = torch.randint(0, vocab, (micro, seq), generator=gen)
            saved.clear()
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                logits = model(input_ids=x).logits
                loss = F.cross_entropy(logits.float().reshape(-1, vocab)[:-1], x.reshape(-1)[1:])
            # what autograd keeps for backward, parameters excluded: the activation memory
            saved_bytes.append(_storage_bytes(saved, skip=param_ptrs))
            saved.clear()
            loss.backward()
        opt.step()
        # the state's peak: parameters, gradients and AdamW moments all live before zero_grad
        state_tensors = params + [p.grad for p in params]
        state_tensors += [v for s in opt.state.values() for v in s.values() if torch.is_tensor(v)]
        measured_state = _storage_bytes(state_tensors)
        opt.zero_grad(set_to_none=True)

    single = est["layouts"][0]
    assert single["name"] == "single"
    print(f"\nstate bytes: estimate {single['state_bytes']:,}  measured {measured_state:,}")
    assert single["state_bytes"] == pytest.approx(measured_state, rel=0.10)

    shape = shape_from_recipe(r)
    act_est = shape.layers * layer_activation_bytes(shape, seq, micro, 4, "flash") + \
        head_activation_bytes(shape, seq, micro, 4)["saved"]
    act_measured = max(saved_bytes)
    print(f"activation bytes saved for backward: estimate {act_est:,.0f}  measured {act_measured:,}")
    assert act_est == pytest.approx(act_measured, rel=0.20)


def test_plan_command_extra_layouts_and_json():
    from auroram.plan import plan_command

    text = plan_command("aurora-m", gpus=64, gpu="h100", layouts=["tp2-pp8"])
    assert "tp2 pp8 dp4" in text and "tp4 pp4 dp4" in text
    p = json.loads(plan_command("aurora-m", gpus=64, as_json=True))
    assert p["total"]["steps"] == 103_713
    with pytest.raises(PlanError, match="--layout 'pp4'"):
        plan_command("aurora-m", gpus=64, layouts=["pp4"])


def test_phase_memory_of_aurora_m_on_one_h100_node_by_hand():
    # StarCoderPlus: width 6144, 40 layers, multi-query (K/V width 128), MLP 4 x 6144, 49,152 tokens, 8,192
    # learned positions, tied head, biases everywhere, LayerNorm (weight + bias)
    h, layers, kv, vocab, positions = 6144, 40, 128, 49152, 8192
    block = (h * (h + 2 * kv) + h + 2 * kv) + (h * h + h) + (h * 4 * h + 4 * h) + (4 * h * h + h) + 2 * 2 * h
    n = vocab * h + positions * h + layers * block + 2 * h
    largest = vocab * h  # the embedding (and tied head) is the largest tensor
    p = plan(load_recipe("aurora-m"), gpus=8, gpu="h100")
    assert p["model"]["params"]["total"] == n
    ph = {x["layout"]: x for x in p["phases"]}["fsdp2"]
    assert ph["shard"] == 8 and ph["ranks_per_node"] == 8 and ph["largest_tensor_params"] == largest
    proc, gb = 440 * 10**6, 10**9
    load, full, train, export = (ph["phases"][k] for k in ("load", "load_full_copy", "train", "export"))
    # each rank: the process and one eighth of the embedding read in bf16 and converted to fp32 (the shard
    # itself is on the GPU; the files are read, not mapped); a node: eight of those
    assert load["host_per_rank"] == proc + (largest // 8) * (2 + 4)
    assert load["host_per_node"] == 8 * load["host_per_rank"]
    # each GPU: its fp32 shard (slices are read and converted on the host, then copied into it)
    assert load["device_per_gpu"] == -(-n // 8) * 4
    # before: a whole fp32 copy per rank on the host (~62 GB, ~500 GB a node) with the whole base's pages
    # mapped (31 GB, once a node), then the copy on the device
    assert full["host_per_rank"] == proc + 4 * n + 2 * n and 62 * gb < 4 * n < 63 * gb
    assert full["host_per_node"] == 8 * (proc + 4 * n) + 2 * n and 525 * gb < full["host_per_node"] < 535 * gb
    assert full["device_per_gpu"] == 4 * n + -(-n // 8) * 4 and full["device_per_gpu"] < 80 * gb
    assert full["host_per_node"] > 90 * load["host_per_node"]
    # training: the state lives on the GPUs; the device peak is the layout's (no activation checkpointing)
    fsdp2 = {x["name"]: x for x in p["layouts"]}["fsdp2"]
    assert train["device_per_gpu"] == fsdp2["total_bytes"]["no_ckpt"] and train["host_per_node"] == 8 * proc
    # export, rank 0: one 5 GB file and one gathered tensor copied to the host in bf16; the GPU holds its
    # shard and the gathered fp32 tensor
    assert export["host_per_rank"] == proc + 5 * gb + 2 * largest
    assert export["host_per_node"] == export["host_per_rank"] + 7 * proc
    assert export["device_per_gpu"] == -(-n // 8) * 4 + 4 * largest
    assert ph["peak_host_per_node"] == export["host_per_node"]  # rank 0's output file buffer
    assert ph["peak_device_per_gpu"] == train["device_per_gpu"] and ph["fits"] == "no"
    # with checkpointing the training peak is the checkpointed total, and a 1 GB file bound lowers the export
    q = plan(load_recipe("aurora-m", ["train.activation_checkpointing=true"]), gpus=8, gpu="h100", export_file_gb=1)
    qh = {x["layout"]: x for x in q["phases"]}["fsdp2"]
    assert qh["phases"]["train"]["device_per_gpu"] == fsdp2["total_bytes"]["ckpt"] and qh["fits"] == "yes"
    assert qh["phases"]["export"]["host_per_rank"] == proc + 1 * gb + 2 * largest
    text = render_plan(q)
    assert "memory by phase" in text and "full fp32 copy per rank" in text and "files of 1.0 GB" in text
    from auroram.plan import plan_command

    cli = json.loads(plan_command("aurora-m", gpus=8, as_json=True, export_file_gb=1))
    assert cli["phases"] == plan(load_recipe("aurora-m"), gpus=8, export_file_gb=1)["phases"]
    assert cli["phases"][0]["phases"]["export"]["host_per_rank"] == proc + gb + 2 * largest
    with pytest.raises(PlanError, match="--export-file-gb"):
        plan(load_recipe("aurora-m"), gpus=8, export_file_gb=0)


def test_phase_memory_hsdp_shards_within_a_node():
    p = plan(load_recipe("aurora-m"), gpus=32, gpu="h100")
    ph = {x["layout"]: x for x in p["phases"]}
    assert set(ph) == {"fsdp2", "hsdp 4x8"}
    n = p["model"]["params"]["total"]
    # FSDP2 over 32 ranks reads a quarter of what HSDP (8 a node) reads per rank; the full copy does not shard
    assert ph["hsdp 4x8"]["phases"]["load"]["device_per_gpu"] == pytest.approx(
        4 * ph["fsdp2"]["phases"]["load"]["device_per_gpu"], rel=1e-9)
    for x in ph.values():
        assert x["phases"]["load_full_copy"]["host_per_rank"] == 440 * 10**6 + 6 * n


def test_host_memory_agrees_with_the_loaders_own_estimate():
    from auroram.model.load import memory_estimate
    from auroram.plan import GATHER_HOST_FACTOR, PROCESS_HOST_BYTES, host_memory

    for n, largest, ranks, file_bytes in ((15_517_000_000, 301_989_888, 8, 5 * 10**9),
                                          (1_100_048_384, 65_536_000, 2, 2 * 10**8), (1000, 10**4, 3, 10**9)):
        mine = host_memory(n, largest, ranks, export_file_bytes=file_bytes, on_gpu=False)
        theirs = memory_estimate(n, ranks, export_file_bytes=file_bytes, largest_tensor_params=largest)
        shard = -(-n // ranks) * 4
        # the same terms, plus the measured ones: the process, the gather's staging copy (the larger of the
        # gather and the gathered tensor with its bf16 copy)
        staged = round(GATHER_HOST_FACTOR * largest * 4)
        assert mine["load_per_rank"] - PROCESS_HOST_BYTES == theirs["load_peak_per_rank"]
        assert mine["export_rank0"] - PROCESS_HOST_BYTES - shard - max(staged - 6 * largest, 0) == \
            theirs["export_extra_rank0"]
        assert mine["export_other_ranks"] - PROCESS_HOST_BYTES - shard - (staged - 4 * largest) == \
            theirs["export_extra_other_ranks"]
        assert mine["load_full_per_rank"] - PROCESS_HOST_BYTES - 2 * n == theirs["full_copy_fp32"]


def test_phase_memory_only_for_a_base_and_in_its_files_dtype(tmp_path):
    assert plan(load_recipe("micro"), gpus=8)["phases"] == []  # trained from scratch: no base to load
    assert plan(load_recipe("micro"), gpus=8, base_arch="starcoderplus")["phases"][0]["disk_bytes"] == 2
    cfg = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 176, "num_hidden_layers": 2,
           "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1000, "dtype": "float32"}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    r = load_recipe("micro", [f"model.base={tmp_path}", "train.seq_len=64"])
    p = plan(r, gpus=4)
    ph = {x["layout"]: x for x in p["phases"]}["fsdp2"]
    n = p["model"]["params"]["total"]
    # embeddings and untied head, 2 layers of attention (q, k, v of 32, o) + SwiGLU + 2 RMSNorms, final norm
    assert n == 2 * 1000 * 64 + 2 * (64 * 64 * 2 + 2 * 64 * 32 + 3 * 64 * 176 + 2 * 64) + 64
    assert ph["disk_bytes"] == 4 and ph["ranks_per_node"] == 4
    # a float32 base: 4 bytes a parameter of the slice as read (and 4 converted)
    assert ph["phases"]["load"]["host_per_rank"] == 440 * 10**6 + (1000 * 64 // 4) * (4 + 4)


# ----------------------------------------------------------------------------------------------------
# The data side (auroram prepare on CPU nodes).

def _hours(text_bytes, cpu_s_per_mb):
    return text_bytes / 1e6 * cpu_s_per_mb / 3600


def test_data_plan_of_aurora_m_by_hand():
    from auroram.plan import (BYTES_PER_DOCUMENT, BYTES_PER_TOKEN, CURATE_CPU_S_PER_MB, CURATE_KEEP,
                              DECONTAM_CPU_S_PER_MB, TOKENIZE_CPU_S_PER_MB)

    assert BYTES_PER_TOKEN == 3.9  # ~1.7 TB of text for 435B tokens
    r = load_recipe("aurora-m", ["data.tasks=256"])
    d = plan(r, gpus=128, gpu="mi250x", cpu_nodes=4, cores_per_node=32)["data"]
    src = {s["name"]: s for s in d["sources"]}
    assert len(src) == 20 and d["vocab_size"] == 49152 and d["token_bytes"] == 2
    # CAP's weights and CAT's each add up to 1: a source draws weight x stage tokens
    assert src["fi_web"]["tokens_drawn"] == round(0.13 * 377e9)
    assert src["code_stack"]["tokens_drawn"] == round(0.20 * 377e9 + 0.10 * 58e9) == 81_200_000_000
    fi_text = 0.13 * 377e9 * 3.9
    assert src["fi_web"]["text_bytes"] == round(fi_text) == src["fi_web"]["kept_bytes"]  # not curated: all kept
    assert src["fi_web"]["text_bytes_from"] == "tokens x bytes/token"  # data/aurora-m/ is not downloaded here
    # plain text: 2 bytes a token (vocab 49,152 fits uint16) and 8 bytes of offset a document;
    # loss_on response: 1 byte of mask more
    fi_docs = round(fi_text / BYTES_PER_DOCUMENT)
    assert src["fi_web"]["documents"] == fi_docs
    assert src["fi_web"]["shard_bytes"] == round(0.13 * 377e9) * 2 + (fi_docs + 1) * 8
    inst_docs = round(0.15 * 58e9 * 3.9 / BYTES_PER_DOCUMENT)
    assert src["instruct_hq"]["masked"] and src["instruct_hq"]["shard_bytes"] == round(0.15 * 58e9) * 3 + (inst_docs + 1) * 8
    assert not src["fi_web"]["masked"]
    t = d["total"]
    assert t["tokens_drawn"] == pytest.approx(435e9, abs=20)
    assert t["text_bytes"] == pytest.approx(435e9 * 3.9, rel=1e-9)  # 1.7 TB
    masked_tokens = 0.15 * 58e9 + 0.01 * 58e9
    offsets = 8 * 435e9 * 3.9 / BYTES_PER_DOCUMENT
    assert t["shard_bytes"] == pytest.approx(2 * 435e9 + masked_tokens + offsets, rel=1e-6)
    assert offsets / t["shard_bytes"] < 0.01  # the offsets are under 1% of the sets
    # the recipe's sources are curated already (no curate: block): decontamination and tokenization only
    shards_h = _hours(435e9 * 3.9, DECONTAM_CPU_S_PER_MB + TOKENIZE_CPU_S_PER_MB)
    assert shards_h > 100  # 1.7 TB at more than 0.2 CPU-s a MB
    assert t["core_hours"]["curate"] == 0
    assert t["dedup_peak_bytes"] == 0  # nothing curated, nothing clustered
    # curating them: a near-duplicate bucket task of the largest, code_stack, holds its input documents' band
    # rows over 256 buckets (data.tasks), 60 bytes a row
    assert (t["dedup_bands"], t["dedup_buckets"]) == (24, 256)
    assert t["dedup_peak_bytes_if_curated"] == src["code_stack"]["dedup_bytes_if_curated"] == \
        round(round(81.2e9 * 3.9 / CURATE_KEEP / BYTES_PER_DOCUMENT) * 24 / 256 * 60)
    assert t["core_hours_total"] == pytest.approx(shards_h, rel=1e-9)
    # curating them would read the input that keeps the drawn tokens: 1 / CURATE_KEEP times the text
    assert t["curate_core_hours_if_curated"] == pytest.approx(
        _hours((435e9 - masked_tokens) * 3.9 / CURATE_KEEP, CURATE_CPU_S_PER_MB), rel=1e-9)
    # 256 tasks a source on 128 cores: every core busy, wall = core-hours / 128
    assert d["cores"] == 128 and t["wall_hours"] == pytest.approx(shards_h / 128, rel=1e-9)
    # one task a source (the default): the largest source, code_stack, runs on one core
    one = plan(load_recipe("aurora-m"), gpus=128, gpu="mi250x", cpu_nodes=4, cores_per_node=32)["data"]
    assert one["total"]["wall_hours"] == pytest.approx(
        _hours(81.2e9 * 3.9, DECONTAM_CPU_S_PER_MB + TOKENIZE_CPU_S_PER_MB), rel=1e-9)


def test_data_plan_reads_sizes_from_files_and_counts_curation(tmp_path):
    from auroram.plan import (BYTES_PER_DOCUMENT, CURATE_CPU_S_PER_MB, DECONTAM_CPU_S_PER_MB, DEDUP_BYTES_PER_ROW,
                              TOKENIZE_CPU_S_PER_MB)

    f = tmp_path / "fi.jsonl"
    f.write_text('{"text": "hyvää huomenta"}\n' * 1000, encoding="utf-8")
    r = load_recipe("micro", [f"sources.fi.path={f}", "sources.fi.curate=true"])
    d = plan(r, gpus=1, bytes_per_token=4.0, curate_keep=0.5)["data"]
    fi = {s["name"]: s for s in d["sources"]}["fi"]
    size = f.stat().st_size
    # curation reads the whole file; the shard set is made of the half it keeps
    assert fi["text_bytes_from"] == "files" and fi["text_bytes"] == size and fi["kept_bytes"] == round(size / 2)
    docs = round(size / 2 / BYTES_PER_DOCUMENT)
    assert fi["tokens"] == round(size / 2 / 4.0) and fi["shard_bytes"] == round(size / 2 / 4.0) * 2 + (docs + 1) * 8
    assert fi["curate"] and fi["core_hours"]["curate"] == pytest.approx(_hours(size, CURATE_CPU_S_PER_MB))
    assert fi["core_hours_total"] == pytest.approx(
        _hours(size, CURATE_CPU_S_PER_MB) + _hours(size / 2, DECONTAM_CPU_S_PER_MB + TOKENIZE_CPU_S_PER_MB))
    # a near-duplicate bucket task holds its share of the band rows: 24 bands in 24 buckets (data.tasks 1)
    assert (d["total"]["dedup_bands"], d["total"]["dedup_buckets"]) == (24, 24)
    assert fi["dedup_bytes"] == round(round(size / BYTES_PER_DOCUMENT) * DEDUP_BYTES_PER_ROW)
    assert d["total"]["dedup_peak_bytes"] == max(s["dedup_bytes"] for s in d["sources"]) == fi["dedup_bytes"]
    # an instruction source is masked: 3 bytes a token
    inst = {s["name"]: s for s in d["sources"]}["inst_cap_en"]
    assert inst["masked"] and inst["shard_bytes"] == round(inst["tokens"] * 3) + (inst["documents"] + 1) * 8
    # a curated source sized from the tokens drawn: those tokens are what curation kept
    r2 = load_recipe("micro", ["sources.fi.curate=true"])
    fi2 = {s["name"]: s for s in plan(r2, gpus=1, curate_keep=0.5)["data"]["sources"]}["fi"]
    assert fi2["text_bytes_from"] == "tokens x bytes/token"  # demo:fi is not a file
    assert fi2["kept_bytes"] == pytest.approx(fi2["tokens_drawn"] * 3.9, abs=4)  # tokens_drawn is rounded
    assert fi2["text_bytes"] == pytest.approx(2 * fi2["kept_bytes"], abs=1)
    for bad in ({"curate_keep": 0.0}, {"curate_keep": 1.5}, {"bytes_per_document": 0}):
        with pytest.raises(PlanError, match="curate-keep|bytes-per-document"):
            plan(r, gpus=1, **bad)


def test_plan_cli_cpu_nodes(capsys):
    from auroram.cli import main

    assert main(["plan", "aurora-m", "--gpus", "8", "--json", "--cpu-nodes", "2", "--cores-per-node", "16",
                 "--bytes-per-token", "4", "--set", "data.tasks=64"]) == 0
    d = json.loads(capsys.readouterr().out)["data"]
    assert (d["cpu_nodes"], d["cores_per_node"], d["cores"], d["tasks"]) == (2, 16, 32, 64)
    assert d["total"]["text_bytes"] == pytest.approx(435e9 * 4, rel=1e-9)
    assert d["total"]["wall_hours"] == pytest.approx(d["total"]["core_hours_total"] / 32, rel=1e-9)
    assert main(["plan", "aurora-m", "--gpus", "8", "--cores-per-node", "16"]) == 0
    out = capsys.readouterr().out
    assert "data preparation (auroram prepare)" in out and "on 1 x 16 cores with data.tasks 1" in out
    assert main(["plan", "aurora-m", "--gpus", "8", "--cpu-nodes", "0"]) != 0
    assert "--cpu-nodes 0" in capsys.readouterr().err
