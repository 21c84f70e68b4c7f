"""Byte-level BPE training for a from-scratch base, and loading any HF tokenizer.

The trained tokenizer follows StarCoder's conventions: byte-level BPE, no prefix space, and one
special token `<|endoftext|>` at id 0 that separates documents and doubles as bos/unk/pad.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from auroram.errors import AuroramError
from auroram.io import atomic_dir, read_json, write_json

EOS_TOKEN = "<|endoftext|>"

# files that mean "a tokenizer lives here"; checked before AutoTokenizer so a bad path never reaches the Hub
_TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model", "spiece.model", "vocab.txt"
)


class TokenizerError(AuroramError, ValueError):
    """A tokenizer is missing or unusable; the message names the directory."""


class RemoteCodeError(AuroramError, ValueError):
    """A model or tokenizer directory asks to run its own Python code (auto_map); auroram never does."""


def refuse_remote_code(path: str | os.PathLike) -> None:
    """Raise RemoteCodeError when the directory's config.json or tokenizer_config.json maps a class to custom
    code; checked before transformers, which would otherwise ask [y/N] on a terminal or import the code."""
    d = Path(path)
    for name in ("config.json", "tokenizer_config.json"):
        try:
            cfg = json.loads((d / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):  # missing or unreadable: the loader reports it in its own words
            continue
        auto_map = cfg.get("auto_map") if isinstance(cfg, dict) else None
        if auto_map:
            refs = auto_map.values() if isinstance(auto_map, dict) else [auto_map]
            code = sorted({str(r).split("--")[-1].split(".")[0] + ".py" for ref in refs
                           for r in (ref if isinstance(ref, list) else [ref]) if r})
            raise RemoteCodeError(
                f"{d}: {name} has auto_map, which runs the directory's own code ({', '.join(code) or 'custom code'}); "
                f"auroram loads only architectures transformers ships (trust_remote_code=False); "
                f"remove auto_map to use transformers' own class"
            )


def train_bpe(texts: Iterable[str], vocab_size: int, out_dir: str | os.PathLike) -> PreTrainedTokenizerFast:
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    if vocab_size < len(alphabet) + 1:
        need = len(alphabet) + 1
        raise TokenizerError(f"BPE vocab_size must be at least {need} (256 bytes + {EOS_TOKEN}), got {vocab_size}")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS_TOKEN],  # first special token gets id 0, as in StarCoder
        initial_alphabet=alphabet,  # all 256 bytes, so text never seen in training still encodes
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=EOS_TOKEN,
        bos_token=EOS_TOKEN,
        unk_token=EOS_TOKEN,
        pad_token=EOS_TOKEN,
        clean_up_tokenization_spaces=False,  # the cleanup rewrites " ." to "." and breaks round trips of code
    )
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        hf.save_pretrained(tmp)
        cfg_path = tmp / "tokenizer_config.json"
        cfg = read_json(cfg_path)
        # transformers 5 writes its internal class name, which transformers 4 cannot load; this name loads in both
        cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
        write_json(cfg_path, cfg)
    return load_tokenizer(out_dir)


def load_tokenizer(path: str | os.PathLike) -> PreTrainedTokenizerFast:
    path = Path(path)
    if not path.is_dir():
        raise TokenizerError(f"{path}: tokenizer directory not found")
    if not any((path / f).is_file() for f in _TOKENIZER_FILES):
        raise TokenizerError(f"{path}: no tokenizer files here (expected tokenizer.json or tokenizer_config.json)")
    refuse_remote_code(path)
    try:
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError, KeyError, ImportError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TokenizerError(f"{path}: cannot load the tokenizer ({first})") from None


def eos_id(tokenizer: PreTrainedTokenizerFast) -> int:
    tid = getattr(tokenizer, "eos_token_id", None)
    if tid is None:
        name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
        raise TokenizerError(f"{name}: the tokenizer has no EOS token, so documents cannot be separated in a shard")
    return int(tid)
