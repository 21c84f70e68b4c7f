import numpy as np
import pytest
import torch

from auroram.mix.mixture import IGNORE_INDEX, Mixture, MixtureError
from auroram.tokenize.shards import Shard, write_shard

VOCAB = 1 << 20
BASE = {"a": 0, "b": 100_000, "c": 200_000}  # token value = BASE[source] + position in the source's stream


def _shard(tmp_path, name, n_tokens, mask=None, docs=3):
    toks = BASE.get(name, 300_000) + np.arange(n_tokens)
    if mask is None:
        mask = np.ones(n_tokens, np.uint8)
    cuts = np.linspace(0, n_tokens, docs + 1).astype(int)
    write_shard(tmp_path / name, [(toks[i:j], mask[i:j]) for i, j in zip(cuts[:-1], cuts[1:])], vocab_size=VOCAB)
    return Shard(tmp_path / name)


@pytest.fixture
def shards(tmp_path):
    return {"a": _shard(tmp_path, "a", 1000), "b": _shard(tmp_path, "b", 333), "c": _shard(tmp_path, "c", 80)}


def _mix(shards, seed=7, B=8, weights=None, **kw):
    return Mixture(shards, weights or {"a": 0.5, "b": 0.3, "c": 0.2}, seq_len=8, global_batch_seqs=B, seed=seed, **kw)


def _same(x, y):
    return torch.equal(x.input_ids, y.input_ids) and torch.equal(x.labels, y.labels) and x.sources == y.sources


def test_mixing_windows_are_contiguous_slices_of_their_source(shards):
    # range(8)-style check: every row must be tokens[i*8 : i*8 + 9] of the source it claims to come from
    m = _mix(shards)
    for step in range(20):
        b = m.batch(step)
        assert b.input_ids.shape == b.labels.shape == (8, 8)
        for row, src in enumerate(b.sources):
            w = torch.cat([b.input_ids[row], b.labels[row][-1:]]).numpy() - BASE[src]
            np.testing.assert_array_equal(w, w[0] + np.arange(9))
            assert w[0] % 8 == 0 and w[-1] < shards[src].n_tokens
            assert torch.equal(b.labels[row][:-1], b.input_ids[row][1:])


def test_deterministic_by_seed_and_stage(shards):
    a, b = _mix(shards, seed=1), _mix(shards, seed=1)
    assert all(_same(a.batch(s), b.batch(s)) for s in range(5))
    c = _mix(shards, seed=2)
    assert not all(_same(a.batch(s), c.batch(s)) for s in range(5))
    d = _mix(shards, seed=1, stage_index=1)
    assert not all(_same(a.batch(s), d.batch(s)) for s in range(5))


def test_weights_dict_order_does_not_matter(shards):
    a = _mix(shards, weights={"a": 0.5, "b": 0.3, "c": 0.2})
    b = _mix(shards, weights={"c": 0.2, "b": 0.3, "a": 0.5})
    assert all(_same(a.batch(s), b.batch(s)) for s in range(5))


def test_resume_sees_the_same_batches(shards):
    unbroken = _mix(shards, B=7)  # 7 rows: fractional shares, so leftover slots are drawn at random
    seen = [unbroken.batch(s) for s in range(10)]
    resumed = _mix(shards, B=7)
    for s in range(5, 10):
        assert _same(resumed.batch(s), seen[s])
    backwards = _mix(shards, B=7)
    for s in reversed(range(10)):
        assert _same(backwards.batch(s), seen[s])


@pytest.mark.parametrize("world_size", [1, 2, 4])
def test_rank_slices_concatenate_to_global_batch(shards, world_size):
    m = _mix(shards)
    for step in (0, 3, 17):
        full = m.batch(step)
        parts = [_mix(shards).rank_batch(step, r, world_size) for r in range(world_size)]
        assert torch.equal(torch.cat([p.input_ids for p in parts]), full.input_ids)
        assert torch.equal(torch.cat([p.labels for p in parts]), full.labels)
        assert sum((p.sources for p in parts), []) == full.sources


def test_rank_batch_needs_even_split(shards):
    with pytest.raises(MixtureError, match="does not split evenly over 3"):
        _mix(shards).rank_batch(0, 0, 3)
    with pytest.raises(MixtureError, match="rank 2"):
        _mix(shards).rank_batch(0, 2, 2)


def test_proportions_follow_weights(shards):
    m = _mix(shards, B=7)
    counts = {"a": 0, "b": 0, "c": 0}
    for step in range(400):
        for s in m.batch(step).sources:
            counts[s] += 1
    total = sum(counts.values())
    for s, w in m.weights.items():
        assert abs(counts[s] / total - w) < 0.03
    use = m.usage(400)
    assert {s: u["sequences"] for s, u in use.items()} == counts
    # floor(w * B) guaranteed per step: a gets at least 3 of 7 every step
    assert use["a"]["sequences"] >= 3 * 400


def test_tiny_source_repeats_in_fresh_orders_and_reports_epochs(tmp_path):
    shards = {"a": _shard(tmp_path, "a", 1000), "c": _shard(tmp_path, "c", 25)}  # c: 3 windows of 8
    m = Mixture(shards, {"a": 0.5, "c": 0.5}, seq_len=8, global_batch_seqs=6, seed=0)
    per_step = []
    for step in range(4):
        b = m.batch(step)
        starts = [int(b.input_ids[r, 0]) - BASE["c"] for r, s in enumerate(b.sources) if s == "c"]
        per_step.append(starts)
        assert sorted(starts) == [0, 8, 16]  # 3 draws a step = one full epoch: every window exactly once
    use = m.usage(4)
    assert use["c"] == {"weight": 0.5, "sequences": 12, "tokens": 96, "epochs": 4.0, "windows": 3}
    assert use["a"]["windows"] == 124 and use["a"]["epochs"] == pytest.approx(12 / 124)


def test_each_epoch_is_a_fresh_permutation(tmp_path):
    shards = {"c": _shard(tmp_path, "c", 8 * 6 + 1)}  # 6 windows
    m = Mixture(shards, {"c": 1.0}, seq_len=8, global_batch_seqs=1, seed=0)  # one row: draw order is visible
    drawn = [int(m.batch(step).input_ids[0, 0] - BASE["c"]) // 8 for step in range(18)]
    epochs = [drawn[i : i + 6] for i in range(0, 18, 6)]
    assert all(sorted(e) == list(range(6)) for e in epochs)
    assert len({tuple(e) for e in epochs}) > 1


def test_masked_targets_get_ignore_index(tmp_path):
    rng = np.random.default_rng(3)
    mask = rng.integers(0, 2, 500).astype(np.uint8)
    shards = {"a": _shard(tmp_path, "a", 500, mask=mask)}
    m = Mixture(shards, {"a": 1.0}, seq_len=16, global_batch_seqs=4, seed=0)
    checked = 0
    for step in range(10):
        b = m.batch(step)
        target_pos = b.input_ids.numpy() + 1  # tokens encode their position, so the target's is input's + 1
        expect = np.where(mask[target_pos] == 1, target_pos, IGNORE_INDEX)
        np.testing.assert_array_equal(b.labels.numpy(), expect)
        checked += int((expect == IGNORE_INDEX).sum())
    assert checked > 0


def test_source_too_small_is_named(tmp_path):
    shards = {"a": _shard(tmp_path, "a", 1000), "tiny": _shard(tmp_path, "tiny", 8, docs=1)}
    with pytest.raises(MixtureError, match="source 'tiny' has 8 tokens"):
        Mixture(shards, {"a": 0.5, "tiny": 0.5}, seq_len=8, global_batch_seqs=4, seed=0)


def test_weight_without_shard_is_named(shards):
    with pytest.raises(MixtureError, match="source 'zz' has a weight but no shard"):
        Mixture(shards, {"a": 1.0, "zz": 0.5}, seq_len=8, global_batch_seqs=4, seed=0)


def test_zero_weight_sources_are_left_out(shards):
    m = Mixture(shards, {"a": 2.0, "b": 0.0, "c": 2.0}, seq_len=8, global_batch_seqs=4, seed=0)
    assert m.sources == ["a", "c"] and m.weights == {"a": 0.5, "c": 0.5}
    assert set(m.batch(0).sources) == {"a", "c"}


def test_unmasked_source_counts_every_target(tmp_path):
    toks = np.arange(600)
    cuts = [0, 100, 350, 600]
    docs = [(toks[i:j], None) for i, j in zip(cuts[:-1], cuts[1:])]
    write_shard(tmp_path / "m", docs, vocab_size=VOCAB)  # an all-ones mask channel
    write_shard(tmp_path / "u", docs, vocab_size=VOCAB, masked=False)  # no channel at all
    masked, unmasked = Shard(tmp_path / "m"), Shard(tmp_path / "u")
    assert unmasked.loss_mask is None
    a = Mixture({"a": masked}, {"a": 1.0}, seq_len=16, global_batch_seqs=4, seed=0)
    b = Mixture({"a": unmasked}, {"a": 1.0}, seq_len=16, global_batch_seqs=4, seed=0)
    for step in range(10):
        x, y = a.batch(step), b.batch(step)
        assert _same(x, y)
        assert not (y.labels == IGNORE_INDEX).any()


def test_batches_pinned_bit_for_bit(tmp_path):
    """The batches of a fixed mixture, as recorded from the mixture before it read through windows()."""
    import hashlib

    rng = np.random.default_rng(11)
    shards = {}
    for name, n in (("a", 3000), ("b", 700), ("c", 120)):
        toks = rng.integers(0, 50000, n)
        mask = (rng.random(n) < 0.8).astype(np.uint8)
        cuts = [0, *np.sort(rng.choice(np.arange(1, n), 9, replace=False)).tolist(), n]
        write_shard(tmp_path / name, [(toks[i:j], mask[i:j]) for i, j in zip(cuts[:-1], cuts[1:])], 50000)
        shards[name] = Shard(tmp_path / name)
    m = Mixture(shards, {"a": 0.5, "b": 0.3, "c": 0.2}, seq_len=16, global_batch_seqs=7, seed=5, stage_index=1)
    h = hashlib.sha256()
    for step in range(40):
        b = m.batch(step)
        h.update(b.input_ids.numpy().tobytes())
        h.update(b.labels.numpy().tobytes())
        h.update(",".join(b.sources).encode())
    assert h.hexdigest()[:16] == "36507804cec03f66"
