"""How much safety data does a model need before it tells harmful requests from safe look-alikes?

    OMP_NUM_THREADS=1 python benchmarks/bench_safety_learning.py --model RUN/stages/cap/hf \
        --items RUN/safety/set/items.jsonl --languages en,fi --steps 200 --every 50

Trains a copy of the model on the train split of one language at a time (whole items, loss on the answer
only, as CAT does), and every `--every` steps scores held-out prompts of that language with the report's
forced-choice judge: the refusal rate on harmful prompts, on safe contrast prompts, and the gap. Prints item
exposures and tokens seen, so the numbers translate into a CAT budget (items per language x the tokens an
item takes with this tokenizer). With --mixed, all the --languages train together instead (items drawn
uniformly from their train splits, as CAT mixes them), and each language's prompts are scored.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

from auroram.model.build import context_tokens  # noqa: E402
from auroram.safety.evaluate import forced_choice_refusals, prompt_prefix, select_items  # noqa: E402


def encode_items(tok, items: list[dict], max_len: int) -> list[tuple[list[int], list[int]]]:
    eos = tok.eos_token_id
    out = []
    for it in items:
        p = [eos] + tok(prompt_prefix(tok, it["prompt"]), add_special_tokens=False)["input_ids"]
        r = tok(it["response"], add_special_tokens=False)["input_ids"] + [eos]
        ids, mask = (p + r)[:max_len], ([0] * len(p) + [1] * len(r))[:max_len]
        out.append((ids, mask))
    return out


def score(model, tok, held: list[dict]) -> dict:
    model.eval()
    prefers, _ = forced_choice_refusals(model, tok, held, [prompt_prefix(tok, it["prompt"]) for it in held])
    model.train()
    h = [p for p, it in zip(prefers, held) if it["kind"] == "harmful"]
    s = [p for p, it in zip(prefers, held) if it["kind"] != "harmful"]
    rh, rs = sum(h) / len(h), sum(s) / len(s)
    return {"refusal_harmful": rh, "refusal_safe": rs, "gap": rh - rs}


def curve(model_dir: str, items: list[dict], langs: list[str], args) -> list[dict]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    n_pos = context_tokens(model)
    mine = [it for it in items if it["language"] in langs]
    train = encode_items(tok, [it for it in mine if it["split"] == "train"], n_pos)
    held = {lang: select_items([it for it in mine if it["language"] == lang], split="heldout",
                               max_per_group=args.heldout_per_group, seed=0) for lang in langs}
    lang = "+".join(langs)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    rng = random.Random(0)
    eos = tok.eos_token_id
    rows, tokens, t0 = [], 0, time.perf_counter()
    for ln, h in held.items():
        rows.append({"language": ln, "trained_on": lang, "step": 0, "exposures": 0, "tokens": 0,
                     **score(model, tok, h)})
        print(json.dumps(rows[-1]), flush=True)
    model.train()
    for step in range(1, args.steps + 1):
        batch = rng.sample(train, args.batch_items)
        width = max(len(ids) for ids, _ in batch)
        ids = torch.full((len(batch), width), eos)
        labels = torch.full((len(batch), width), -100)
        for i, (x, m) in enumerate(batch):
            ids[i, : len(x)] = torch.tensor(x)
            labels[i, : len(x)] = torch.tensor([t if k else -100 for t, k in zip(x, m)])
            tokens += len(x)
        loss = model(input_ids=ids, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % args.every == 0:
            for ln, h in held.items():
                rows.append({"language": ln, "trained_on": lang, "step": step, "exposures": step * args.batch_items,
                             "tokens": tokens, "loss": round(loss.item(), 4),
                             "seconds": round(time.perf_counter() - t0, 1), **score(model, tok, h)})
                print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="HF model directory (e.g. RUN/stages/cap/hf)")
    ap.add_argument("--items", required=True, help="safety items JSONL (auroram safety build)")
    ap.add_argument("--languages", default="en")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch-items", type=int, default=16)
    ap.add_argument("--heldout-per-group", type=int, default=4)
    ap.add_argument("--mixed", action="store_true",
                    help="train on all --languages at once (items drawn uniformly) instead of one at a time")
    ap.add_argument("--json-out", default="")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    with open(args.items, encoding="utf-8") as fh:
        items = [json.loads(line) for line in fh if line.strip()]
    rows = []
    langs = args.languages.split(",")
    for group in ([langs] if args.mixed else [[lang] for lang in langs]):
        rows += curve(args.model, items, group, args)
    print(f"{'lang':5} {'step':>5} {'items seen':>10} {'tokens':>9}  refuses harmful / safe   gap")
    for r in rows:
        print(f"{r['language']:5} {r['step']:5d} {r['exposures']:10,d} {r['tokens']:9,d}  "
              f"{100 * r['refusal_harmful']:6.0f}% / {100 * r['refusal_safe']:4.0f}%  {100 * r['gap']:+5.0f} pts")
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
