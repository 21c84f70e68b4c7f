"""One training stage (base, CAP, CAT, ...): the model from the stage before, the stage's mixture, LR
re-warmed, resumable checkpoints, then the HF export and the stage-end evaluation."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

from auroram.config import StageConfig
from auroram.faults import fault_point
from auroram.io import hash_obj, read_json, write_json
from auroram.pipeline.context import RunContext, Step
from auroram.pipeline.evaluate import eval_key, heldout, make_evaluator, run_safety, run_suite
from auroram.train.parallel import unwrap
from auroram.typedconfig import to_plain

# fields that change how a stage runs, not what it computes: editing them resumes instead of redoing
# (the non-finite policy too: it changes nothing while losses are finite, and what it did is reported)
EXECUTION_ONLY = ("threads", "device", "parallel", "compile", "activation_checkpointing", "log_every_steps",
                  "max_epochs_warning", "on_nonfinite", "rollback_lr_factor", "max_rollbacks", "loggers", "wandb",
                  "mlflow")


# the safety evaluation's overall numbers each tracker gets at a stage's end
SAFETY_SCALARS = ("gap", "fc_gap", "refusal_harmful", "refusal_safe")


def new_model(ctx: RunContext, meta: bool = False) -> Any:
    """The first stage's model, unwrapped: the base (`meta`: its parameters on the meta device, to be sharded
    then filled) or a fresh one from the seed."""
    from auroram.model.build import base_on_meta, build_model, load_base
    from auroram.tokenize.bpe import eos_id
    from auroram.train.parallel import resolve_mode

    recipe = ctx.recipe
    if recipe.model.base:
        model, _ = (base_on_meta if meta else load_base)(recipe.model.base)
        if recipe.tokenizer.kind == "extend":  # new rows for the tokens the tokenizer step added (on meta: the shape)
            from auroram.model.embeddings import apply_extension

            apply_extension(model, ctx.run_dir / "tokenizer" / "hf")
        return model
    # FSDP2 splits the training state over the ranks; the fit check before building counts on that
    shards = ctx.info.world_size if resolve_mode(recipe.train.parallel, ctx.info) == "fsdp2" else 1
    return build_model(recipe.model, vocab_size=len(ctx.tokenizer), eos_id=eos_id(ctx.tokenizer), seed=recipe.seed,
                       device=ctx.device, shards=shards, meta=meta)


def start_model(ctx: RunContext, *, bf16: bool, activation_checkpointing: bool, compile: bool) -> Any:
    """The model a stage starts from, parallelised. Sharded (FSDP2) from a base or a previous stage, no rank
    ever holds a full copy: built on meta, sharded, materialised, then each rank reads its own rows (the
    base's safetensors, or the previous stage's DCP weights, resharded to this number of processes). A fresh
    first stage is still built whole from the seed, and a single process loads as it always has."""
    from auroram.train.checkpoint import load_weights
    from auroram.train.parallel import parallelize, resolve_mode

    t, info = ctx.recipe.train, ctx.info

    def wrap(model: Any) -> Any:
        return parallelize(model, mode=t.parallel, info=info, device=ctx.device, bf16=bf16,
                           activation_checkpointing=activation_checkpointing, compile=compile)

    # an extended vocabulary's new rows are computed from the whole base's rows, so the first stage after an
    # extension loads the base on each process and shards it after; later stages read the sharded checkpoint
    from_base = bool(ctx.recipe.model.base) and ctx.recipe.tokenizer.kind != "extend"
    if resolve_mode(t.parallel, info) == "fsdp2" and (from_base or ctx.model_final is not None):
        from auroram.model.load import load_sharded_safetensors, materialize

        model = wrap(new_model(ctx, meta=True))
        materialize(model, ctx.device)
        if ctx.model_final is not None:
            load_weights(ctx.model_final, model)
        else:
            load_sharded_safetensors(ctx.recipe.model.base, model)
        return model
    model = new_model(ctx)
    if ctx.model_final is not None:
        load_weights(ctx.model_final, model)
    return wrap(model.to(ctx.device))


def evaluator(ctx: RunContext) -> Any:
    return ctx.once("evaluator", lambda: make_evaluator(ctx.recipe, ctx.tokenizer, heldout(ctx)))


def first_model_key(ctx: RunContext) -> str:
    """Key of the weights the first stage starts from: a fresh model (its config and seed) or the base."""
    r = ctx.recipe
    return hash_obj({"base": r.model.base and str(Path(r.model.base).resolve()),
                     "model": without_defaults(to_plain(r.model), NEW_DEFAULTS_MODEL), "tok": ctx.tokenizer_key,
                     "seed": r.seed})


# settings added after runs existed, left out of the keys while at their default so those runs still resume
NEW_DEFAULTS_MODEL = {"export_dtype": "auto"}
NEW_DEFAULTS_STAGE = {"trainable": "all"}


def without_defaults(plain: dict, defaults: dict) -> dict:
    return {k: v for k, v in plain.items() if not (k in defaults and v == defaults[k])}


class StageStep(Step):
    every_rank = True

    def __init__(self, stage: StageConfig, index: int):
        self.stage, self.index = stage, index
        self.name = stage.name
        self.record = f"stage:{stage.name}"

    @property
    def fault(self) -> str:
        return f"stage:{self.stage.name}"

    def out_dir(self, ctx: RunContext) -> Path:
        return ctx.run_dir / "stages" / self.stage.name

    def key(self, ctx: RunContext) -> str:
        r, st = ctx.recipe, self.stage
        weights = r.stage_weights(st)
        train = {k: v for k, v in to_plain(r.train).items() if k not in EXECUTION_ONLY}
        return hash_obj({"prev": ctx.model_key or first_model_key(ctx),
                         "stage": without_defaults(to_plain(st), NEW_DEFAULTS_STAGE), "weights": weights,
                         "train": train, "safety": to_plain(r.safety),
                         "shards": {s: ctx.shard_keys[s] for s in weights}, "eval": eval_key(ctx),
                         "index": self.index})

    def run(self, ctx: RunContext) -> None:
        from auroram.mix.mixture import Mixture
        from auroram.model.export import export_dtype, export_hf, update_card
        from auroram.pipeline.steps.tokenizer import extension_summary
        from auroram.train.loop import text_bytes, train_stage, work_done
        from auroram.train.parallel import is_wrapped, resolve_mode

        r, t, st, info, out = ctx.recipe, ctx.recipe.train, self.stage, ctx.info, self.out_dir(ctx)
        weights = r.stage_weights(st)
        steps = math.ceil(st.tokens / t.global_batch_tokens)
        model = start_model(ctx, bf16=ctx.precision == "bf16", activation_checkpointing=t.activation_checkpointing,
                            compile=t.compile)
        rows = unwrap(model).get_input_embeddings().num_embeddings
        mixture = Mixture({s: ctx.shards[s] for s in weights}, weights, seq_len=t.seq_len,
                          global_batch_seqs=t.global_batch_tokens // t.seq_len, seed=r.seed, stage_index=self.index,
                          vocab_size=rows)
        usage = mixture.usage(steps)
        warnings = []
        for s, u in usage.items():
            u["domain"] = r.sources[s].domain
            u.update(text_bytes(u["tokens"], ctx.shard_stats.get(s)))
            if u["epochs"] > t.max_epochs_warning:
                warnings.append(f"source '{s}' repeats {u['epochs']:.1f} times in stage {st.name}: "
                                f"add data or lower its weight")
        for w in warnings:
            ctx.console.warn(w)
        ctx.console.step(f"stage {st.name}", f"{steps} steps x {t.global_batch_tokens:,} tokens, peak LR "
                                             f"{st.optim.lr:g} ({st.schedule.kind}, warmup {st.schedule.warmup_steps}), "
                                             f"{ctx.precision}" + (f", {info.world_size} processes" if info.distributed else ""))
        loggers = open_run_loggers(ctx)
        token_offset = sum(s["tokens"] for s in ctx.stages)
        with ctx.console.progress() as prog:
            res = train_stage(model=model, mixture=mixture, stage=st, stage_index=self.index, train=t,
                              total_steps=steps, out_dir=out, evaluate=evaluator(ctx), progress=prog, loggers=loggers,
                              token_offset=token_offset, info=info)
        model.eval()
        fault_point(f"stage:{st.name}:trained")
        train_seconds = max(res.seconds - res.eval_seconds, 1e-9)
        result = {
            "name": st.name, "tokens": res.tokens, "steps": res.steps, "seconds": round(res.seconds, 2),
            "train_seconds": round(train_seconds, 2), "tokens_per_s": round(res.tokens / train_seconds, 1),
            "processes": info.world_size, "parallel": resolve_mode(t.parallel, info), "precision": ctx.precision,
            "resumed_from": res.resumed_from, "eval": res.final_eval,
            "curve": res.curve, "loss": res.loss, "mixture": usage, "weights": weights, "warnings": warnings,
            "lr": st.optim.lr, "schedule": to_plain(st.schedule), "nonfinite": res.nonfinite,
        }
        result.update(work_done(unwrap(model), t.seq_len, res.tokens, usage, train_seconds))
        if res.nonfinite and (res.nonfinite["skipped"] or res.nonfinite["rollbacks"]):
            nf = res.nonfinite
            ctx.console.warn(f"stage {st.name}: non-finite loss: {nf['skipped']} batches skipped, "
                             f"{nf['rollbacks']} rollbacks (LR scaled by {nf['lr_scale']:g})")
        dtype = result["export_dtype"] = export_dtype(r.model.export_dtype, r.model.base)
        wrapped, mode = is_wrapped(t.parallel, info), resolve_mode(t.parallel, info)
        held = {"fsdp2": "sharded model (FSDP2)", "ddp": "replicated model (DDP)"}.get(mode, "training model")
        result["eval_on"] = {"bpb": f"{held}, {info.world_size} process{'es' if info.world_size > 1 else ''}",
                             "suite": f"export ({dtype}), one device" if wrapped else "training model (float32), one device"}
        # streamed tensor by tensor under FSDP2: every rank takes part in each gather, rank 0 writes
        export_hf(unwrap(model), ctx.tokenizer, out / "hf", dtype=dtype, is_main=info.is_main,
                  card=model_card(ctx.recipe, st, result, ctx.stages, ctx.data_manifest, extension_summary(ctx)))
        if info.is_main:
            fault_point(f"stage:{st.name}:exported")
            # FSDP2/DDP: the task suite and safety read the export on one device, not the wrapped module
            on_one = unwrap(model)
            if wrapped:
                from auroram.model.export import load_exported

                on_one = load_exported(out / "hf", dtype)[0].to(ctx.device)
            result["suite"] = run_suite(ctx, on_one)
            result["safety"] = run_safety(ctx, st.name, on_one)
            update_card(out / "hf", model_card(ctx.recipe, st, result, ctx.stages, ctx.data_manifest,
                                               extension_summary(ctx)))
            if result["safety"] and loggers is not None:
                o = result["safety"]["overall"]
                loggers.log({f"safety/{k}": o.get(k) for k in SAFETY_SCALARS}, token_offset + res.tokens)
            if loggers is not None:
                loggers.flush()  # a stage's curves are on disk when it ends, whatever happens to the run after
            fault_point(f"stage:{st.name}:evaluated")
            write_json(out / "result.json", result)

    def finish(self, ctx: RunContext) -> None:
        # step checkpoints are only for resuming this stage; the final weights and export remain
        shutil.rmtree(self.out_dir(ctx) / "ckpt", ignore_errors=True)

    def load(self, ctx: RunContext) -> None:
        out = self.out_dir(ctx)
        ctx.stages.append(read_json(out / "result.json"))
        ctx.model_key = self.current_key or ""
        ctx.model_final = out / "final"


def model_card(recipe: Any, st: StageConfig, result: dict, before: list[dict], manifest: dict | None,
               vocabulary: dict | None = None) -> dict:
    from auroram.model.export import hub_id

    base = before[-1]["name"] if before else None
    if before and before[-1].get("imported"):
        base = before[-1]["imported"]
    return {
        "name": f"{recipe.name}-{st.name}",
        "base": base or "trained from scratch",
        "stage": st.name,
        "recipe": recipe.name,
        "languages": list(recipe.domains),  # "code" becomes a tag, the others language codes
        "training": {"tokens": result["tokens"], "steps": result["steps"], "seq_len": recipe.train.seq_len,
                     "global_batch_tokens": recipe.train.global_batch_tokens, "peak_lr": st.optim.lr,
                     "schedule": st.schedule.kind, "warmup_steps": st.schedule.warmup_steps,
                     "weight_decay": st.optim.weight_decay},
        "mixture": result["mixture"],
        "eval": {d: {"bpb": v["bpb"]} for d, v in result["eval"].items()},
        "license": "apache-2.0",
        "data_sources": (manifest or {}).get("sources", []),
        "base_model": hub_id(recipe.model.base, "models") if recipe.model.base else None,
        "datasets": card_datasets(recipe, manifest),
        "task_results": task_results(result),
        "vocabulary": vocabulary,  # the extension's record when the base's vocabulary was extended
    }


def card_datasets(recipe: Any, manifest: dict | None) -> list[str]:
    """The card's `datasets`: the data manifest's sources by name, and any source read from a Hub cache."""
    from auroram.model.export import hub_id

    names = [s.get("dataset") or s.get("package") or s.get("name") for s in (manifest or {}).get("sources", [])
             if isinstance(s, dict)]
    names += [hub_id(src.path, "datasets") for src in recipe.sources.values()]
    return list(dict.fromkeys(str(n) for n in names if n))


def task_results(result: dict) -> list[dict]:
    """The stage-end tasks and the safety evaluation as model-card entries (empty before they have run)."""
    from auroram.eval.tasks import card_results

    out = card_results(result.get("suite"))
    if result.get("safety"):
        o = result["safety"]["overall"]
        out.append({"task_type": "text-generation", "task_name": "Refusal of harmful requests",
                    "dataset_type": "auroram-redteam", "dataset_name": "red-team held-out prompts",
                    "metrics": {k: o.get(k) for k in ("refusal_harmful", "refusal_safe", "gap")}})
    return out


def open_run_loggers(ctx: RunContext) -> Any:
    """The recipe's trackers, opened once per process by the first stage that trains (rank 0; None elsewhere)."""
    if ctx.loggers is None and ctx.info.is_main:
        from auroram.train.loggers import open_loggers

        ctx.loggers = open_loggers(ctx.recipe.train, ctx.run_dir, ctx.recipe.to_dict(),
                                   f"{ctx.recipe.name}-{ctx.run_dir.name}")
    return ctx.loggers
