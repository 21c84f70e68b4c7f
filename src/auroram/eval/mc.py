"""Multiple-choice tasks scored by log-likelihood, as lm-evaluation-harness scores them.

Each item becomes a context and a few choices; the model scores context + delimiter + choice for every
choice, counting only the choice's tokens. `acc` picks the choice with the highest summed
log-likelihood; `acc_norm` divides each sum by the choice's length in characters first (lm-eval's
definition, which removes the bias towards short answers).

Local JSONL in the formats of Belebele, XCOPA, XStoryCloze, HellaSwag and ARC is read by one loader per
format into the same `MCItem`; "auroram" is the project's own plain format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from auroram.errors import AuroramError
from auroram.jsonl import read_records


class TaskFileError(AuroramError, ValueError):
    """A task file cannot be read; the message names the file, the line and the key."""


@dataclass(frozen=True)
class MCItem:
    id: str
    context: str
    choices: tuple[str, ...]
    gold: int
    delimiter: str = " "  # put between context and choice; "" for languages written without spaces


# ----------------------------------------------------------------------------------------------------
# Loaders: one JSON object in, one MCItem out; a missing or ill-typed field raises KeyError/ValueError/TypeError.


def _need(doc: dict, key: str) -> Any:
    if key not in doc:
        raise KeyError(key)
    return doc[key]


def _from_auroram(doc: dict, i: int) -> MCItem:
    choices = tuple(str(c) for c in _need(doc, "choices"))
    return MCItem(str(doc.get("id", i)), str(_need(doc, "context")), choices, int(_need(doc, "gold")),
                  str(doc.get("delimiter", " ")))


def _from_belebele(doc: dict, i: int) -> MCItem:
    # the answer texts are scored rather than the letters A-D lm-eval scores: small models cannot yet map letters
    context = f"P: {_need(doc, 'flores_passage')}\nQ: {str(_need(doc, 'question')).strip()}\nA:"
    choices = tuple(str(_need(doc, f"mc_answer{k}")) for k in range(1, 5))
    gold = int(str(_need(doc, "correct_answer_num")).strip()) - 1
    return MCItem(f"{doc.get('link', '')}#{doc.get('question_number', i)}", context, choices, gold)


# the words that join premise and answer ("... because" / "... therefore"), per language of the file
XCOPA_CONNECTORS = {
    "en": ("because", "therefore"), "et": ("sest", "seetõttu"), "id": ("karena", "maka"), "it": ("perché", "quindi"),
    "sw": ("kwa sababu", "kwa hiyo"), "tr": ("çünkü", "bu yüzden"), "vi": ("bởi vì", "vì vậy"), "zh": ("因为", "所以"),
    "fi": ("koska", "joten"), "hi": ("क्योंकि", "इसलिए"), "ja": ("なぜなら", "そのため"),
}


def _from_xcopa(doc: dict, i: int, lang: str = "en") -> MCItem:
    cause, effect = XCOPA_CONNECTORS[lang]
    question = _need(doc, "question")
    if question not in ("cause", "effect"):
        raise ValueError(f"question must be 'cause' or 'effect', got {question!r}")
    premise = str(_need(doc, "premise")).strip()
    context = premise[:-1] + " " + (cause if question == "cause" else effect)  # drops the final full stop

    def lower_first(s: str) -> str:
        return s[:1].lower() + s[1:]

    choices = (lower_first(str(_need(doc, "choice1"))), lower_first(str(_need(doc, "choice2"))))
    return MCItem(str(doc.get("idx", i)), context, choices, int(_need(doc, "label")))


def _from_xstorycloze(doc: dict, i: int) -> MCItem:
    context = " ".join(str(_need(doc, f"input_sentence_{k}")).strip() for k in range(1, 5))
    choices = (str(_need(doc, "sentence_quiz1")), str(_need(doc, "sentence_quiz2")))
    return MCItem(str(doc.get("story_id", i)), context, choices, int(_need(doc, "answer_right_ending")) - 1)


def _hellaswag_clean(text: str) -> str:
    # WikiHow items carry markup such as "[title]" and "[header]"; lm-eval rewrites it the same way
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def _from_hellaswag(doc: dict, i: int) -> MCItem:
    ctx = f"{_need(doc, 'ctx_a')} {str(_need(doc, 'ctx_b')).capitalize()}"
    context = _hellaswag_clean(f"{_need(doc, 'activity_label')}: {ctx}")
    choices = tuple(_hellaswag_clean(str(e)) for e in _need(doc, "endings"))
    return MCItem(str(doc.get("ind", i)), context, choices, int(_need(doc, "label")))


def _from_arc(doc: dict, i: int) -> MCItem:
    q = _need(doc, "question")
    if isinstance(q, dict):  # AI2's original JSONL: question.stem and question.choices[{text,label}]
        stem = _need(q, "stem")
        texts = [str(_need(c, "text")) for c in _need(q, "choices")]
        labels = [str(_need(c, "label")) for c in _need(q, "choices")]
    else:  # the Hugging Face copy: question string, choices {text: [...], label: [...]}
        stem = q
        texts = [str(t) for t in _need(_need(doc, "choices"), "text")]
        labels = [str(t) for t in _need(_need(doc, "choices"), "label")]
    key = str(_need(doc, "answerKey"))
    if key not in labels:
        raise ValueError(f"answerKey {key!r} is not one of the labels {labels}")
    return MCItem(str(doc.get("id", i)), f"Question: {stem}\nAnswer:", tuple(texts), labels.index(key))


LOADERS: dict[str, Callable[..., MCItem]] = {
    "auroram": _from_auroram,
    "belebele": _from_belebele,
    "xcopa": _from_xcopa,
    "xstorycloze": _from_xstorycloze,
    "hellaswag": _from_hellaswag,
    "arc": _from_arc,
}


def load_items(path: str | Path, fmt: str, *, lang: str = "en", limit: int | None = None) -> list[MCItem]:
    """Read a JSONL task file; `lang` picks XCOPA's connectors. Any bad line is one error naming file and line."""
    path = Path(path)
    if fmt not in LOADERS:
        raise TaskFileError(f"{path}: unknown task format {fmt!r} (known: {', '.join(LOADERS)})")
    if not path.is_file():
        raise TaskFileError(f"{path}: task file not found")
    if fmt == "xcopa" and lang not in XCOPA_CONNECTORS:
        raise TaskFileError(f"{path}: no XCOPA connectors for language {lang!r} (known: {', '.join(XCOPA_CONNECTORS)})")
    items: list[MCItem] = []
    for lineno, doc in read_records(path, TaskFileError):
        try:
            item = LOADERS[fmt](doc, len(items), lang) if fmt == "xcopa" else LOADERS[fmt](doc, len(items))
        except KeyError as e:
            raise TaskFileError(f"{path}: line {lineno}: missing field {e.args[0]!r} for format {fmt}") from None
        except (ValueError, TypeError) as e:
            raise TaskFileError(f"{path}: line {lineno}: bad {fmt} item ({e})") from None
        if len(item.choices) < 2:
            raise TaskFileError(f"{path}: line {lineno}: needs at least 2 choices, got {len(item.choices)}")
        if not 0 <= item.gold < len(item.choices):
            raise TaskFileError(f"{path}: line {lineno}: gold answer {item.gold} is not a choice index (0..{len(item.choices) - 1})")
        items.append(item)
        if limit is not None and len(items) >= limit:
            break
    if not items:
        raise TaskFileError(f"{path}: no items")
    return items


BUILTIN_DIR = Path(__file__).with_name("data") / "mc"


def builtin_tasks() -> dict[str, Path]:
    """The project's own small cloze sets, one per language: {"en": path, ...}."""
    return {p.stem: p for p in sorted(BUILTIN_DIR.glob("*.jsonl"))}


# ----------------------------------------------------------------------------------------------------
# Scoring.


def _ids(tokenizer: Any, text: str) -> list[int]:
    if not text:
        return []
    enc = tokenizer.encode(text, add_special_tokens=False)
    return list(enc.ids) if hasattr(enc, "ids") else list(enc)


def encode_pair(tokenizer: Any, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """Context and continuation token ids, split where lm-eval splits them: encode the whole, cut after the context."""
    # trailing spaces of the context belong to the continuation, so a word and its leading space stay one token
    n_spaces = len(context) - len(context.rstrip(" "))
    if n_spaces:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = _ids(tokenizer, context + continuation)
    ctx = _ids(tokenizer, context)
    return whole[: len(ctx)], whole[len(ctx):]


def loglikelihoods(model: Any, tokenizer: Any, requests: list[tuple[str, str]], *, eos_id: int, max_len: int,
                   batch_seqs: int = 16, device: str | torch.device = "cpu") -> list[tuple[float, bool]]:
    """(sum of log p(continuation | context), whether greedy decoding gives the continuation) per request."""
    rows = []
    for r, (context, continuation) in enumerate(requests):
        ctx, cont = encode_pair(tokenizer, context, continuation)
        if not cont:
            raise ValueError(f"request {r}: the continuation {continuation!r} has no tokens")
        seq = [eos_id, *ctx, *cont]  # eos first so the first continuation token always has something before it
        # the model sees at most max_len inputs; the last token is only ever a target
        seq = seq[-(max_len + 1):]
        rows.append((r, seq, min(len(cont), len(seq) - 1)))
    # longest first: each batch pads little and the largest memory need shows up on the first batch
    rows.sort(key=lambda x: len(x[1]), reverse=True)
    out: list[tuple[float, bool]] = [(0.0, False)] * len(requests)
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        with torch.no_grad():  # not inference_mode: FSDP2 reuses buffers that training updates in place
            for b in range(0, len(rows), batch_seqs):
                batch = rows[b: b + batch_seqs]
                width = len(batch[0][1]) - 1
                input_ids = torch.full((len(batch), width), eos_id, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for i, (_r, seq, _n) in enumerate(batch):
                    input_ids[i, : len(seq) - 1] = torch.tensor(seq[:-1])
                    mask[i, : len(seq) - 1] = 1
                logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).logits
                for i, (r, seq, n_cont) in enumerate(batch):
                    end = len(seq) - 1
                    # log-softmax over the continuation positions only: the context's logits are never needed
                    logp = logits[i, end - n_cont: end].float().log_softmax(-1)
                    targets = torch.tensor(seq[-n_cont:], device=logp.device)
                    picked = logp.gather(1, targets[:, None]).squeeze(1)
                    greedy = bool((logp.argmax(-1) == targets).all())
                    out[r] = (picked.double().sum().item(), greedy)
    finally:
        if was_training:
            model.train()
    return out


def score_items(model: Any, tokenizer: Any, items: list[MCItem], *, eos_id: int, max_len: int, batch_seqs: int = 16,
                device: str | torch.device = "cpu") -> dict:
    """{"acc", "acc_norm", "items", "per_item": [{"id", "gold", "pred", "pred_norm", "loglik"}]}."""
    requests = [(it.context, it.delimiter + c) for it in items for c in it.choices]
    scores = loglikelihoods(model, tokenizer, requests, eos_id=eos_id, max_len=max_len, batch_seqs=batch_seqs,
                            device=device)
    per_item, k = [], 0
    correct = correct_norm = 0
    for it in items:
        ll = [scores[k + j][0] for j in range(len(it.choices))]
        k += len(it.choices)
        # lm-eval: acc_norm divides by the choice's length in characters (without the delimiter)
        norm = [x / max(1, len(c)) for x, c in zip(ll, it.choices)]
        pred = max(range(len(ll)), key=lambda j: ll[j])
        pred_norm = max(range(len(norm)), key=lambda j: norm[j])
        correct += pred == it.gold
        correct_norm += pred_norm == it.gold
        per_item.append({"id": it.id, "gold": it.gold, "pred": pred, "pred_norm": pred_norm, "loglik": ll})
    n = len(items)
    return {"acc": correct / n, "acc_norm": correct_norm / n, "items": n, "per_item": per_item}
