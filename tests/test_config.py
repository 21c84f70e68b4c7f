import pytest

from auroram.config import ConfigError, load_recipe, shipped_recipes


@pytest.mark.parametrize("name", shipped_recipes())
def test_every_shipped_recipe_loads(name):
    r = load_recipe(name)
    assert r.stages and r.domains
    for st in r.stages:
        w = r.stage_weights(st)
        assert abs(sum(w.values()) - 1) < 1e-9


def test_shipped_recipes_are_the_documented_three():
    assert {"tiny", "micro", "aurora-m"} <= set(shipped_recipes())


def test_aurora_m_numbers_match_the_paper():
    r = load_recipe("aurora-m")
    assert r.train.seq_len == 2048
    assert r.train.global_batch_tokens == 2048 * 2048
    assert r.stage("cap").tokens == 377_000_000_000 and r.stage("cat").tokens == 58_000_000_000
    assert r.tokenizer.kind == "base"


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("stages.cap.mixture.xx=1", "key 'stages[1].mixture.xx': unknown source"),
        ("train.seq_len=abc", "key 'train.seq_len': expected an integer"),
        ("stages.cap.mixture.fi=-1", "key 'stages[1].mixture.fi': weight must be >= 0"),
        ("trian.seq_len=3", "unknown key 'trian'"),
        ("stages.cap.optim.lrr=1", "unknown key 'stages[1].optim.lrr'"),
        ("train.precision=fp8", "key 'train.precision'"),
        ("train.global_batch_tokens=100", "must be a multiple of seq_len"),
        ("stages.nosuch.tokens=1", "no element 'nosuch'"),
        ("sources.fi.domain=xx", "key 'sources.fi.domain': 'xx' is not one of domains"),
    ],
)
def test_bad_recipe_values_name_the_key_and_recipe(override, fragment):
    with pytest.raises(ConfigError) as e:
        load_recipe("micro", [override])
    msg = str(e.value)
    assert fragment in msg
    assert "micro" in msg
    assert "\n" not in msg


def test_yaml_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "r.yaml"
    bad.write_text("name: x\ndomains: [en\n")
    with pytest.raises(ConfigError, match=r"r\.yaml.*line"):
        load_recipe(str(bad))
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="nope.yaml: recipe file not found"):
        load_recipe(str(missing))
    with pytest.raises(ConfigError, match="no recipe named 'tinyy'"):
        load_recipe("tinyy")


def test_overrides_reach_stages_by_name_and_numbers_parse():
    r = load_recipe("tiny", ["stages.cap.tokens=2e6", "stages.cat.optim.lr=1e-5", "use_replay=false"])
    assert r.stage("cap").tokens == 2_000_000
    assert r.stage("cat").optim.lr == 1e-5
    assert "en" not in r.stage_weights(r.stage("cap"))  # replay dropped
    assert "en" in load_recipe("tiny").stage_weights(load_recipe("tiny").stage("cap"))


def test_stage_with_only_replay_and_replay_off_is_an_error():
    with pytest.raises(ConfigError, match="no source with a positive weight"):
        load_recipe("micro", ["use_replay=false", "stages.base.mixture={}", "stages.base.replay={en: 1}"])


def test_missing_paths_are_reported_at_run_time(tmp_path):
    from auroram.pipeline.resolve import check_paths

    r = load_recipe("aurora-m")
    with pytest.raises(ConfigError, match="key 'sources.en_refinedweb.path'"):
        check_paths(r)
