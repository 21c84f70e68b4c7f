"""The filter registry: a filter added at run time gets its own config key, runs at its position, and its
drops land in rejected/ with its reason; curation's config and command load without datatrove."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from dataclasses import dataclass

import pytest

from auroram.config import ConfigError
from auroram.curate import curate, load_curate_config
from auroram.curate import run as curate_run
from auroram.curate.demo import demo_config
from auroram.curate.filters import FILTERS, Filter, register, unregister

BUILT_IN = ["cat", "code", "toxicity", "gopher_quality", "gopher_repetition", "c4", "fineweb", "quality"]


@dataclass
class MarkerConfig:
    enabled: bool = True
    word: str = "zebra"  # documents containing it are dropped


class MarkerFilter(Filter):
    name = "marker"
    Config = MarkerConfig

    def filter(self, doc, lang, cfg):
        if cfg.word in doc.text:
            return False, "marker_word", cfg.word
        return True


@pytest.fixture
def marker():
    register(MarkerFilter, after="c4")
    try:
        yield MarkerFilter
    finally:
        unregister("marker")
    assert [f.name for f in FILTERS] == BUILT_IN


def _marked_inputs(tiny_corpus, root):
    """A third of the en, fi and code documents carry a marker: `okapi` in en, `zebra` elsewhere."""
    marked, paths = set(), []
    for lang, word in (("en", "okapi"), ("fi", "zebra"), ("code", "zebra")):
        lines = (tiny_corpus / "corpus" / lang / "train.jsonl").read_text(encoding="utf-8").splitlines()[:30]
        out = []
        for i, line in enumerate(lines):
            rec = json.loads(line)
            if i % 3 == 0:
                text = rec["text"]
                rec["text"] = f"# {word}\n{text}" if lang == "code" else text.replace(".", f" {word}.", 1)
                marked.add(rec["id"])
            out.append(json.dumps(rec, ensure_ascii=False))
        p = root / f"{lang}.jsonl"
        p.write_text("\n".join(out) + "\n", encoding="utf-8")
        paths.append(f"{lang}:{p}")
    return paths, marked


def test_registered_filter_runs_at_its_position(marker, tiny_corpus, tmp_path):
    data = demo_config().to_dict()
    data["languages"]["en"]["marker"] = {"word": "okapi"}  # fi keeps the default word
    data["languages"]["code"]["marker"] = {"enabled": False}
    inputs, marked = _marked_inputs(tiny_corpus, tmp_path)
    out = tmp_path / "out"
    stats = curate(inputs, out, config=load_curate_config(data=data))

    order = ["read", "langid", "cat", "code", "toxicity", "gopher_quality", "gopher_repetition", "c4", "marker",
             "fineweb", "quality", "pii", "exact_dedup", "near_dedup"]
    assert stats["steps"] == list(stats["per_step"]) == curate_run.ALL_STEPS == order
    assert curate_run.STAGE1_STEPS == order[:-2]
    assert [f.name for f in dataclasses.fields(load_curate_config().default)] == ["keep", *order[2:-3]]

    rejected = [json.loads(x) for f in sorted((out / "rejected").glob("*.jsonl"))
                for x in f.read_text(encoding="utf-8").splitlines()]
    kept = [json.loads(x) for f in sorted((out / "kept").glob("*.jsonl"))
            for x in f.read_text(encoding="utf-8").splitlines()]
    by_marker = [r for r in rejected if r["step"] == "marker"]
    assert {r["lang"] for r in by_marker} == {"en", "fi"}  # disabled for code
    assert all(r["id"] in marked and r["reason"] == "marker_word" for r in by_marker)
    assert {r["detail"] for r in by_marker if r["lang"] == "en"} == {"okapi"}
    assert {r["detail"] for r in by_marker if r["lang"] == "fi"} == {"zebra"}
    # a marked text document is either dropped by the marker or by a step that runs before it
    earlier = set(order[: order.index("marker")])
    for r in rejected:
        if r["id"] in marked and r["lang"] != "code":
            assert r["step"] == "marker" or r["step"] in earlier, r
    assert not [r for r in kept if r["id"] in marked and r["lang"] != "code"]
    assert any(r["id"] in marked for r in kept if r["lang"] == "code")
    dropped = stats["per_step"]["marker"]
    assert sum(c["dropped"].get("marker_word", {}).get("docs", 0) for c in dropped.values()) == len(by_marker) >= 10
    assert stats["totals"]["balanced"]


def test_registered_filter_config_keys(marker, tmp_path):
    p = tmp_path / "recipe.yaml"
    p.write_text("curate:\n  languages:\n    en:\n      marker:\n        word: okapi\n", encoding="utf-8")
    cfg = load_curate_config(p)
    assert cfg.for_language("en").marker == MarkerConfig(word="okapi")
    assert cfg.default.marker == MarkerConfig()
    bad = tmp_path / "bad.yaml"
    bad.write_text("curate:\n  default:\n    marker:\n      wrod: okapi\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.yaml: unknown key 'default\.marker\.wrod' \(known here: enabled, word\)"):
        load_curate_config(bad)
    with pytest.raises(ConfigError, match=r"key 'languages\.fi\.marker\.enabled': expected true or false"):
        load_curate_config(data={"languages": {"fi": {"marker": {"enabled": "maybe"}}}})


def test_unregistered_filter_key_is_unknown():
    with pytest.raises(ConfigError, match=r"unknown key 'languages\.en\.marker'"):
        load_curate_config(data={"languages": {"en": {"marker": {"word": "okapi"}}}})


def test_register_refuses_clashes_and_unknown_positions():
    class Named(MarkerFilter):
        pass

    for name in ("c4", "pii", "keep", "not a name"):
        Named.name = name
        with pytest.raises(ValueError):
            register(Named)
    with pytest.raises(ValueError, match="no filter named 'c5'"):
        register(MarkerFilter, before="c5")
    assert [f.name for f in FILTERS] == BUILT_IN


def test_config_and_command_load_without_datatrove(tmp_path):
    code = ("import sys; sys.modules['datatrove'] = None\n"
            "import auroram.curate.cli, auroram.curate.config\n"
            "from auroram.cli import main\n"
            f"sys.exit(main(['curate', {str(tmp_path)!r}, '--out', {str(tmp_path / 'out')!r}]))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().splitlines() == [
        "auroram: error: auroram curate needs the 'curate' extra (datatrove is not installed): "
        "pip install 'auroram[curate]'"]
