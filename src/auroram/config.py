"""Typed configuration: a recipe is YAML over these dataclasses.

Unknown keys, wrong types and impossible values are errors that name the file and the key, so a typo
in a recipe fails in the first second instead of after hours of training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from auroram.curate.config import CurateConfig
from auroram.curate.config import validate as validate_curate
from auroram.data.virtual import scheme
from auroram.typedconfig import MAX_OVERRIDE_BYTES, ConfigError, build, load_yaml, load_yaml_file, to_plain

__all__ = ["ConfigError", "Recipe", "load_recipe"]


# ----------------------------------------------------------------------------------------------------
# The dataclasses. One "why" comment per knob.


@dataclass
class SourceConfig:
    domain: str  # the eval domain this source's text belongs to (e.g. "fi"); must be one of recipe.domains
    path: str  # "demo:<domain>" for the built-in demo corpus, else a JSONL file or a directory of JSONL/.txt
    text_field: str = "text"  # JSON key holding the document text
    max_docs: int | None = None  # cap on documents read (None: all); for quick experiments
    loss_on: Literal["all", "response"] = "all"  # "response": prompt tokens are masked out of the loss
    # instruction data: records are read as conversations in this format and rendered with the chat
    # template (auroram.data.instruct); "text" reads `text_field` as plain documents
    format: Literal["text", "alpaca", "sharegpt", "messages", "oasst", "xp3", "prompt_response"] = "text"
    # run the recipe's `curate` steps on this source first and tokenize what they keep (format text only);
    # None: demo sources are curated when the recipe has a `curate:` block, other sources are not
    curate: bool | None = None


@dataclass
class TokenizerConfig:
    # "base": the base model's own tokenizer; "extend": the base's own with `add` tokens learnt from
    # train_sources (docs/vocabulary.md)
    kind: Literal["train-bpe", "base", "extend"] = "train-bpe"
    vocab_size: int = 4096  # for train-bpe; StarCoder's is 49,152
    # sources the BPE learns from (StarCoder: en + code); for extend, the new languages
    train_sources: list[str] = field(default_factory=list)
    max_train_bytes: int = 8_000_000  # text fed to the BPE trainer; more barely changes a small vocab
    add: int = 0  # extend: new tokens wanted (a few thousand per new script is typical)
    keep: list[str] = field(default_factory=list)  # extend: sources whose ids must not change (the base's languages)
    min_frequency: int = 2  # extend: a merge seen fewer times is not learnt
    init: Literal["mean_of_pieces", "random", "mean", "scaled_mean"] = "mean_of_pieces"  # extend: the new rows
    init_scale: float = 3.0  # extend, scaled_mean: the new rows are this many times the mean old row
    # extend: train source -> fraction of `add` learnt from it alone (summing to 1); empty: one BPE on all pooled,
    # where the script with the most pairs to merge (Japanese) takes most of the tokens
    shares: dict[str, float] = field(default_factory=dict)
    # extend: a script under this share of the keep texts' characters is foreign to them, and a new token wholly
    # inside its runs there (a Japanese word quoted in English) may change ids; 0: every character is guarded
    keep_foreign_below: float = 0.001


@dataclass
class ModelConfig:
    base: str | None = None  # local HF model directory to continue; None: train the `arch` below from scratch
    arch: str = "gpt_bigcode"  # GPTBigCode is StarCoder's (multi-query attention)
    n_embd: int = 256
    n_layer: int = 4
    n_head: int = 4
    multi_query: bool = True  # one shared K/V head, as StarCoder
    n_positions: int = 2048  # position table size; must be >= train.seq_len
    dropout: float = 0.0  # pretraining at this scale does not overfit; dropout only slows learning
    init_std: float = 0.02
    # dtype of the exported HF weights; auto: the base's on-disk dtype (config.json), float32 from scratch
    export_dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"


@dataclass
class OptimConfig:
    lr: float = 3e-4  # peak learning rate, reached after warmup
    betas: tuple[float, float] = (0.9, 0.95)  # beta2 0.95 is the LLM norm: steadier with large batches
    eps: float = 1e-8
    weight_decay: float = 0.1  # applied to matrices only, not to norms, biases or embeddings
    grad_clip: float = 1.0  # global-norm clipping; 0 disables


@dataclass
class ScheduleConfig:
    kind: Literal["cosine", "wsd", "constant"] = "cosine"  # wsd: warmup-stable-decay
    warmup_steps: int = 0  # linear re-warm from 0 at the start of every stage
    min_lr_ratio: float = 0.1  # final LR as a fraction of the peak
    decay_fraction: float = 0.2  # wsd only: share of the steps spent in the final decay


@dataclass
class StageConfig:
    name: str
    tokens: int  # training-token budget of this stage; steps = ceil(tokens / global batch tokens)
    mixture: dict[str, float] = field(default_factory=dict)  # new data: source name -> weight
    replay: dict[str, float] = field(default_factory=dict)  # data the model saw before, replayed against forgetting
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    eval_every_steps: int = 0  # bits-per-byte curve resolution; 0: only at the stage's start and end
    checkpoint_every_steps: int = 0  # 0: only the final checkpoint
    keep_checkpoints: int = 2  # older step checkpoints are deleted
    # embeddings: only the input embedding and output head train; new_embeddings: only their rows of an
    # extended vocabulary's new tokens (the rest of the model cannot forget while they warm up)
    trainable: Literal["all", "embeddings", "new_embeddings"] = "all"


@dataclass
class WandbConfig:
    mode: Literal["offline", "online"] = "offline"  # offline: kept in the run's wandb/ folder; `wandb sync` uploads it
    project: str = "auroram"
    entity: str | None = None  # your W&B user or team; None: the account's default


@dataclass
class MlflowConfig:
    tracking_uri: str | None = None  # None: a file store in the run's mlruns/ folder; or your server's URI
    experiment: str = "auroram"


@dataclass
class TrainConfig:
    seq_len: int = 256  # tokens per training sequence
    global_batch_tokens: int = 4096  # tokens per optimizer step over all ranks (Aurora-M: 2048 x 2048)
    micro_batch_seqs: int = 8  # sequences per forward pass per rank; gradient accumulation covers the rest
    # auto: bf16 autocast on GPU, fp32 on CPU; bf16 on a CPU with AVX512-BF16 or AMX trains ~1.4x faster
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    device: str = "auto"  # auto: cuda if present, else cpu
    threads: int = 0  # torch CPU threads; 0 leaves torch's default
    parallel: Literal["auto", "none", "ddp", "fsdp2"] = "auto"  # auto: FSDP2 under torchrun, none alone
    activation_checkpointing: bool = False  # recompute each block in backward: less memory, ~30% more compute
    compile: bool = False  # torch.compile each transformer block (GPU; slow to start on CPU)
    log_every_steps: int = 10
    max_epochs_warning: float = 4.0  # warn when a source repeats more often than this in a stage
    # a NaN/inf loss: stop with an error, skip the batch (no optimizer step), or reload the last checkpoint
    # and go on with the LR scaled by rollback_lr_factor; skips and rollbacks are counted in the report
    on_nonfinite: Literal["stop", "skip", "rollback"] = "stop"
    rollback_lr_factor: float = 0.5
    max_rollbacks: int = 3  # per stage; one more non-finite loss after these stops the run
    # where training curves go (rank 0): tensorboard (tb/), wandb and mlflow (the extras of those names)
    loggers: list[Literal["tensorboard", "wandb", "mlflow"]] = field(default_factory=lambda: ["tensorboard"])
    wandb: WandbConfig = field(default_factory=WandbConfig)
    mlflow: MlflowConfig = field(default_factory=MlflowConfig)


@dataclass
class EvalConfig:
    max_docs_per_domain: int = 200  # held-out documents scored per domain
    max_bytes_per_domain: int = 32_000  # and at most this much text, whichever comes first
    batch_seqs: int = 8  # sequences per forward pass when scoring
    stride: int = 0  # sliding-window stride for documents longer than the context; 0: seq_len / 2
    suite: bool = True  # multiple choice per language and code pass@k at every stage end (built-in sets)
    mc_tasks: dict[str, str] = field(default_factory=dict)  # more multiple-choice files (auroram format): name -> path
    code_problems: str | None = None  # HumanEval or MBPP JSONL for pass@1; None: the built-in problems
    tasks: list[str] = field(default_factory=lambda: ["mc", "code"])  # run at stage ends, by name (auroram.eval.tasks)


@dataclass
class SafetyConfig:
    enabled: bool = False  # build/review the red-team set, mix approved items into a stage, evaluate refusal
    demo_auto_approve: bool = False  # demo only: items approved unreviewed, marked "auto-approved (demo)"
    items: str | None = None  # your own set (safety-item JSONL); None: the built-in multilingual template set
    eval_stages: list[str] = field(default_factory=lambda: ["cap", "cat"])  # measured after these stages
    eval_max_per_group: int = 10  # held-out items per (language, category, kind) scored
    eval_max_new_tokens: int = 32  # generation length for the string-match judge
    judge: str | None = None  # local guard-model directory (e.g. Llama Guard 3) for the classifier judge


@dataclass
class DataSlurmConfig:
    partition: str = "cpu"  # CPU nodes: data preparation needs no GPU
    time: str = "24:00:00"  # wall-clock limit of each task
    cpus_per_task: int = 1
    mem_per_cpu_gb: float = 2
    sbatch_args: dict[str, str] = field(default_factory=dict)  # more #SBATCH lines, e.g. {account: my-project}
    dry_run: bool = False  # write the batch scripts and print what would be submitted; submit nothing
    logs_dir: str | None = None  # job scripts and logs; None: <run dir>/jobs


@dataclass
class DataRayConfig:
    address: str | None = None  # a running Ray cluster ("auto", "ray://host:10001"); None: a local one
    cpus_per_task: int = 1


@dataclass
class DataConfig:
    """How the data steps (curation, tokenization) run; the tokens they write do not depend on it."""

    executor: Literal["local", "slurm", "ray"] = "local"  # slurm: `auroram prepare` submits job arrays
    tasks: int = 1  # parts per source: each task tokenizes one byte range of the source's files
    workers: int = 1  # local executor: tasks at once (processes)
    slurm: DataSlurmConfig = field(default_factory=DataSlurmConfig)
    ray: DataRayConfig = field(default_factory=DataRayConfig)


@dataclass
class Recipe:
    name: str
    domains: list[str]  # what the report measures: bits per byte on each domain's held-out text
    sources: dict[str, SourceConfig]
    stages: list[StageConfig]
    heldout: dict[str, str] = field(default_factory=dict)  # domain -> held-out text ("demo:fi": demo val split)
    demo_dir: str | None = None  # where `auroram data demo` keeps the demo corpus; None: the user cache
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    curate: CurateConfig | None = None  # curation of the demo corpus before tokenizing (see docs/curate.md); null: none
    data: DataConfig = field(default_factory=DataConfig)  # executors of the data steps (docs/data-scale.md)
    seed: int = 1234
    use_replay: bool = True  # false drops every stage's replay sources: the forgetting ablation
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    description: str = ""

    def stage(self, name: str) -> StageConfig:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(name)

    def stage_weights(self, stage: StageConfig) -> dict[str, float]:
        """The stage's sampling weights as they will run (replay dropped when use_replay is false)."""
        weights = dict(stage.mixture)
        if self.use_replay:
            for k, v in stage.replay.items():
                weights[k] = weights.get(k, 0.0) + v
        weights = {k: v for k, v in weights.items() if v > 0}
        total = sum(weights.values())
        return {k: v / total for k, v in sorted(weights.items())}

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)


# ----------------------------------------------------------------------------------------------------
# Overrides: --set a.b=c (stages addressed by name or index).


def apply_override(data: dict[str, Any], assignment: str) -> None:
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment!r}: expected KEY=VALUE, e.g. train.seq_len=512")
    key, raw = assignment.split("=", 1)
    key = key.strip()
    try:
        value = load_yaml(raw, f"--set {key}", max_bytes=MAX_OVERRIDE_BYTES) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    parts = key.split(".")
    node: Any = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        here = ".".join(parts[: i + 1])
        if isinstance(node, list):
            idx = _list_index(node, part)
            if idx is None:
                names = ", ".join(str(x.get("name", j)) for j, x in enumerate(node) if isinstance(x, dict))
                raise ConfigError(f"--set {key}: no element '{part}' in '{'.'.join(parts[:i])}' (have: {names})")
            if last:
                node[idx] = value
            else:
                node = node[idx]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                if part not in node or node[part] is None:
                    node[part] = {}
                node = node[part]
        else:
            raise ConfigError(f"--set {key}: '{here}' is not a mapping")


def _list_index(items: list[Any], part: str) -> int | None:
    for j, x in enumerate(items):
        if isinstance(x, dict) and x.get("name") == part:
            return j
    if part.lstrip("-").isdigit() and -len(items) <= int(part) < len(items):
        return int(part) % len(items)
    return None


# ----------------------------------------------------------------------------------------------------
# Loading and validation.


def shipped_recipes() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("auroram.recipes").iterdir() if p.name.endswith(".yaml"))


def recipe_path(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise ConfigError(f"{p}: recipe file not found")
        return p
    f = resources.files("auroram.recipes") / f"{name_or_path}.yaml"
    if not f.is_file():
        raise ConfigError(f"no recipe named '{name_or_path}' (shipped: {', '.join(shipped_recipes())}; or give a .yaml path)")
    return Path(str(f))


def load_recipe(name_or_path: str = "tiny", overrides: list[str] | None = None) -> Recipe:
    path = recipe_path(name_or_path)
    where = str(path) if not str(path).startswith(str(resources.files("auroram"))) else f"recipe '{path.stem}'"
    try:
        data = load_yaml_file(path, where)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{where}:{line}: not valid YAML ({getattr(e, 'problem', e)})") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{where}: byte {e.start}: not valid UTF-8") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a recipe must be a mapping of keys, got {type(data).__name__}")
    for o in overrides or []:
        try:
            apply_override(data, o)
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None
    recipe = build(Recipe, data, "", where)
    validate(recipe, where)
    return recipe


# the mixture tabulates every step of a stage up front; 10M steps is 100x a 15T-token run
MAX_STEPS = 10_000_000
_TINY = 1e-300  # "> 0" for floats, as a closed range


def _ranges(r: Recipe) -> list[tuple[str, int | float, int | float, int | float]]:
    """(key, value, lowest, highest) for every number of a recipe; floats are already finite (typedconfig)."""
    m, t, tk, e, sf = r.model, r.train, r.tokenizer, r.eval, r.safety
    out: list[tuple[str, int | float, int | float, int | float]] = [
        ("seed", r.seed, 0, 2**63 - 1),  # numpy seeds must be >= 0
        # the BPE trainer aborts the process (not an exception) on a vocabulary of ~1e9
        ("tokenizer.vocab_size", tk.vocab_size, 257, 1 << 24),
        ("tokenizer.max_train_bytes", tk.max_train_bytes, 1, 2**63 - 1),
        # upper bounds of the model's shape are its memory, checked against the machine when it is built
        ("model.n_embd", m.n_embd, 1, 2**63 - 1),
        ("model.n_layer", m.n_layer, 1, 2**63 - 1),
        ("model.n_head", m.n_head, 1, 2**63 - 1),
        ("model.n_positions", m.n_positions, 1, 2**63 - 1),
        ("model.dropout", m.dropout, 0.0, 0.99),
        ("model.init_std", m.init_std, _TINY, 10.0),
        ("train.seq_len", t.seq_len, 1, 1 << 24),
        ("train.global_batch_tokens", t.global_batch_tokens, 1, 1 << 34),
        ("train.micro_batch_seqs", t.micro_batch_seqs, 1, 1 << 24),
        ("train.threads", t.threads, 0, 4096),
        ("train.log_every_steps", t.log_every_steps, 1, 2**63 - 1),
        ("train.max_epochs_warning", t.max_epochs_warning, _TINY, 1e12),
        ("eval.max_docs_per_domain", e.max_docs_per_domain, 1, 2**63 - 1),
        ("eval.max_bytes_per_domain", e.max_bytes_per_domain, 1, 2**63 - 1),
        ("eval.batch_seqs", e.batch_seqs, 1, 1 << 24),
        ("eval.stride", e.stride, 0, 1 << 24),
        ("safety.eval_max_per_group", sf.eval_max_per_group, 1, 2**63 - 1),
        ("safety.eval_max_new_tokens", sf.eval_max_new_tokens, 1, 1 << 20),
        # a part per task: a million parts is far past any source that would need them
        ("data.tasks", r.data.tasks, 1, 1_000_000),
        ("data.workers", r.data.workers, 1, 4096),
        ("data.slurm.cpus_per_task", r.data.slurm.cpus_per_task, 1, 4096),
        ("data.slurm.mem_per_cpu_gb", r.data.slurm.mem_per_cpu_gb, _TINY, 1e6),
        ("data.ray.cpus_per_task", r.data.ray.cpus_per_task, 1, 4096),
    ]
    for i, st in enumerate(r.stages):
        k, o, sc = f"stages[{i}]", st.optim, st.schedule
        out += [
            (f"{k}.optim.lr", o.lr, _TINY, 1e3),
            (f"{k}.optim.betas[0]", o.betas[0], 0.0, 0.999999),
            (f"{k}.optim.betas[1]", o.betas[1], 0.0, 0.999999),
            (f"{k}.optim.eps", o.eps, _TINY, 1.0),
            (f"{k}.optim.weight_decay", o.weight_decay, 0.0, 1e3),
            (f"{k}.optim.grad_clip", o.grad_clip, 0.0, 1e12),
            (f"{k}.schedule.decay_fraction", sc.decay_fraction, 0.0, 1.0),
            (f"{k}.eval_every_steps", st.eval_every_steps, 0, 2**63 - 1),
            (f"{k}.checkpoint_every_steps", st.checkpoint_every_steps, 0, 2**63 - 1),
            (f"{k}.keep_checkpoints", st.keep_checkpoints, 0, 2**63 - 1),
        ]
    return out


def _range_text(lo: int | float, hi: int | float) -> str:
    if hi == 2**63 - 1:
        return "must be positive" if lo == 1 else f"must be >= {lo:,}"
    if lo == _TINY:
        return f"must be > 0 and at most {hi:g}"
    return f"must be within [{lo:,}, {hi:,}]" if isinstance(lo, int) else f"must be within [{lo:g}, {hi:g}]"


def validate(r: Recipe, where: str) -> None:
    def err(key: str, msg: str) -> ConfigError:
        return ConfigError(f"{where}: key '{key}': {msg}")

    if not r.domains:
        raise err("domains", "at least one domain is needed")
    for key, value, lo, hi in _ranges(r):
        if not lo <= value <= hi:
            raise err(key, f"{_range_text(lo, hi)}, got {value:,}" if isinstance(value, int)
                      else f"{_range_text(lo, hi)}, got {value:g}")
    from auroram.model.archs import ArchError, get_arch  # here: an architecture's file may import transformers

    try:
        get_arch(r.model.arch)
    except ArchError as e:
        raise err("model.arch", str(e)) from None
    for name, s in r.sources.items():
        if s.domain not in r.domains:
            raise err(f"sources.{name}.domain", f"'{s.domain}' is not one of domains {r.domains}")
        if s.max_docs is not None and s.max_docs <= 0:
            raise err(f"sources.{name}.max_docs", "must be positive")
        if scheme(s.path) == "demo-instruct" and s.format == "text":
            raise err(f"sources.{name}.format", "demo-instruct sets are conversations: use format 'messages'")
        if s.curate and (s.format != "text" or s.loss_on != "all" or scheme(s.path) in ("demo-instruct", "safety")):
            raise err(f"sources.{name}.curate", "curation reads plain text documents: only a source with format "
                                                "'text' and loss_on 'all' can be curated")
    for d in r.domains:
        if d not in r.heldout:
            raise err("heldout", f"domain '{d}' has no held-out text (e.g. heldout: {{{d}: demo:{d}}})")
    for d in r.heldout:
        if d not in r.domains:
            raise err(f"heldout.{d}", f"'{d}' is not one of domains {r.domains}")
    uses_safety = [n for n, src in r.sources.items() if scheme(src.path) == "safety"]
    if uses_safety and not r.safety.enabled:
        raise err(f"sources.{uses_safety[0]}.path", "reads the safety set, but safety.enabled is false")
    if r.data.executor == "slurm" and not r.data.slurm.partition:
        raise err("data.slurm.partition", "name the Slurm partition the data tasks run on")
    if r.curate is not None:
        try:
            validate_curate(r.curate)
        except ConfigError as e:
            raise ConfigError(f"{where}: in 'curate': {str(e).split(': ', 1)[-1]}") from None
    from auroram.eval.tasks import check_names  # here: the registry imports every task file

    try:
        check_names(r.eval.tasks)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    if not 0 < r.train.rollback_lr_factor <= 1:
        raise err("train.rollback_lr_factor", f"must be in (0, 1], got {r.train.rollback_lr_factor}")
    if r.train.max_rollbacks < 0:
        raise err("train.max_rollbacks", "must be 0 or more")
    if not r.stages:
        raise err("stages", "at least one stage is needed")
    seen = set()
    for i, st in enumerate(r.stages):
        k = f"stages[{i}]"
        if st.name in seen:
            raise err(f"{k}.name", f"duplicate stage name '{st.name}'")
        seen.add(st.name)
        if st.tokens <= 0:
            raise err(f"{k}.tokens", "must be positive")
        steps = -(-st.tokens // max(r.train.global_batch_tokens, 1))
        if steps > MAX_STEPS:
            per_step = r.train.global_batch_tokens
            raise err(f"{k}.tokens", f"{st.tokens:,} tokens at train.global_batch_tokens {per_step:,} a step "
                                     f"is {steps:,} steps (at most {MAX_STEPS:,})")
        for part in ("mixture", "replay"):
            for src, w in getattr(st, part).items():
                if src not in r.sources:
                    raise err(f"{k}.{part}.{src}", f"unknown source (sources: {', '.join(sorted(r.sources))})")
                if w < 0:
                    raise err(f"{k}.{part}.{src}", f"weight must be >= 0, got {w}")
        positive = [w for w in st.mixture.values() if w > 0]
        if r.use_replay:
            positive += [w for w in st.replay.values() if w > 0]
        if not positive:
            raise err(f"{k}.mixture", "the stage has no source with a positive weight")
        if st.optim.lr <= 0:
            raise err(f"{k}.optim.lr", "must be positive")
        if not 0 <= st.schedule.min_lr_ratio <= 1:
            raise err(f"{k}.schedule.min_lr_ratio", "must be within [0, 1]")
        if st.schedule.warmup_steps < 0:
            raise err(f"{k}.schedule.warmup_steps", "must be >= 0")
    for i, name in enumerate(r.safety.eval_stages):
        if name not in {s.name for s in r.stages}:
            raise err(f"safety.eval_stages[{i}]", f"no stage named '{name}'")
    t = r.train
    if t.seq_len <= 0 or t.global_batch_tokens <= 0 or t.micro_batch_seqs <= 0:
        raise err("train", "seq_len, global_batch_tokens and micro_batch_seqs must be positive")
    if t.global_batch_tokens % t.seq_len:
        raise err("train.global_batch_tokens", f"must be a multiple of seq_len ({t.seq_len})")
    if r.model.base is None and r.model.n_positions < t.seq_len:
        raise err("model.n_positions", f"must be >= train.seq_len ({t.seq_len})")
    if r.model.base is None and r.model.n_embd % r.model.n_head:
        raise err("model.n_embd", f"must be divisible by model.n_head ({r.model.n_head})")
    if r.tokenizer.kind == "extend":
        _validate_extend(r, err)
    for i, st in enumerate(r.stages):
        if st.trainable == "new_embeddings" and r.tokenizer.kind != "extend":
            raise err(f"stages[{i}].trainable", "'new_embeddings' needs tokenizer.kind 'extend' (new rows to train)")
    if r.tokenizer.kind == "train-bpe":
        if r.model.base is None and not r.tokenizer.train_sources:
            raise err("tokenizer.train_sources", "name the sources the BPE is trained on")
        for s in r.tokenizer.train_sources:
            if s not in r.sources:
                raise err("tokenizer.train_sources", f"unknown source '{s}'")


def _validate_extend(r: Recipe, err: Any) -> None:
    t = r.tokenizer
    if not r.model.base:
        raise err("tokenizer.kind", "'extend' adds tokens to a base's tokenizer: set model.base (or --base)")
    if not 1 <= t.add <= 1 << 24:
        raise err("tokenizer.add", f"the number of new tokens must be within [1, {1 << 24:,}], got {t.add:,}")
    if not t.train_sources:
        raise err("tokenizer.train_sources", "name the sources the new tokens are learnt from")
    if not 1 <= t.min_frequency <= 2**31 - 1:
        raise err("tokenizer.min_frequency", f"must be within [1, {2**31 - 1:,}], got {t.min_frequency:,}")
    for key in ("train_sources", "keep"):
        for s in getattr(t, key):
            if s not in r.sources:
                raise err(f"tokenizer.{key}", f"unknown source '{s}'")
    if not (math.isfinite(t.init_scale) and t.init_scale > 0):
        raise err("tokenizer.init_scale", f"must be a positive number, got {t.init_scale!r}")
    problem = shares_problem(t.shares, t.train_sources) if t.shares else None
    if problem:
        raise err("tokenizer.shares", problem)
    below = t.keep_foreign_below
    if isinstance(below, bool) or not isinstance(below, (int, float)) or not (math.isfinite(below) and 0 <= below < 1):
        raise err("tokenizer.keep_foreign_below", f"must be a fraction within [0, 1), got {below!r}")


def shares_problem(shares: dict[str, float], names: list[str]) -> str | None:
    """What is wrong with per-source shares of an extension's new tokens, or None: each names a source learnt
    from, each source has one, each is positive, and they sum to 1."""
    for name, share in shares.items():
        if name not in names:
            return f"'{name}' is not a source the tokens are learnt from ({', '.join(names)})"
        if not isinstance(share, (int, float)) or isinstance(share, bool) or not math.isfinite(share) or share <= 0:
            return f"the share of '{name}' must be a positive fraction, got {share!r}"
    missing = [n for n in names if n not in shares]
    if missing:
        return f"no share for {', '.join(repr(n) for n in missing)} (give every source learnt from a share)"
    total = math.fsum(shares.values())
    if abs(total - 1) > 1e-6:
        return f"the shares must sum to 1, got {total:.6g}"
    return None
