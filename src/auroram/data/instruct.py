"""Instruction and chat data in the common formats, read into one shape: a list of (role, content) turns.

Formats (one JSON record a line; a `.json` file holding one JSON array works too):

    alpaca           {"instruction": "Name a prime.", "input": "", "output": "7"}
    sharegpt         {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]}
    messages         {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
    oasst            an OpenAssistant message tree: {"message_tree_id": ..., "prompt": {"role": "prompter",
                     "text": ..., "replies": [{"role": "assistant", "text": ..., "rank": 0, "replies": [...]}]}}
                     read along the best-ranked path (rank 0 is best; deleted or review-failed replies skipped)
    xp3              {"inputs": "Translate to Finnish: cat", "targets": "kissa"}
    prompt_response  {"prompt": "Name a prime.", "response": "7"}

Roles are normalised to system / user / assistant. A record that cannot be read (missing fields, an
empty conversation, a role the format does not know, no assistant turn) is quarantined with its file,
line and reason, never dropped silently: `Quarantine` keeps the exact counts.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from auroram.io import write_text

FORMATS = ("alpaca", "sharegpt", "messages", "oasst", "xp3", "prompt_response")
ROLES = ("system", "user", "assistant")

# ShareGPT dumps name their speakers in many ways; these are the ones seen in the widely shared sets
_SHAREGPT_ROLES = {
    "system": "system",
    "human": "user", "user": "user", "prompter": "user",
    "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant", "bard": "assistant",
    "bing": "assistant", "model": "assistant",
}
_MESSAGES_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
_OASST_ROLES = {"prompter": "user", "assistant": "assistant"}

Turn = tuple[str, str]  # (role, content)
_REASON_PREFIX = re.compile(r"^(turn \d+|message at depth \d+): ")
Segment = tuple[str, bool]  # (text, is_target)


class RecordError(ValueError):
    """One record is unusable; the message is the reason recorded in the quarantine."""


@dataclass
class Conversation:
    """One instruction record after reading: its turns and where it came from (for quarantine and origin)."""

    turns: list[Turn]
    file: str = ""
    line: int = 0

    def plain_text(self) -> str:
        return "\n".join(content for _, content in self.turns)


@dataclass
class Quarantine:
    """Exact accounting of one source's records: records == kept + quarantined, every reject with a reason."""

    records: int = 0  # records read (blank lines are not records)
    rejects: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, file: str | Path, line: int, reason: str) -> None:
        self.rejects.append({"file": str(file), "line": line, "reason": reason})

    @property
    def quarantined(self) -> int:
        return len(self.rejects)

    @property
    def kept(self) -> int:
        return self.records - len(self.rejects)

    def summary(self) -> dict[str, Any]:
        # "turn 3: unknown role 'bot'" counts as "unknown role 'bot'": the table stays short, the file has the rest
        reasons = Counter(_REASON_PREFIX.sub("", r["reason"]) for r in self.rejects)
        return {"records": self.records, "kept": self.kept, "quarantined": self.quarantined,
                "reasons": dict(reasons.most_common())}

    def write(self, path: str | Path) -> None:
        write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.rejects))


# ----------------------------------------------------------------------------------------------------
# One reader per format: a decoded JSON record in, a list of turns out, RecordError with the reason.


def _need_str(rec: dict, key: str, *, allow_empty: bool = False) -> str:
    if key not in rec:
        raise RecordError(f"missing field '{key}'")
    v = rec[key]
    if not isinstance(v, str):
        raise RecordError(f"field '{key}' is not a string")
    if not allow_empty and not v.strip():
        raise RecordError(f"field '{key}' is empty")
    return v


def read_alpaca(rec: dict) -> list[Turn]:
    instruction = _need_str(rec, "instruction")
    output = _need_str(rec, "output")
    extra = rec.get("input", "")
    if extra is None:
        extra = ""
    if not isinstance(extra, str):
        raise RecordError("field 'input' is not a string")
    # Alpaca's own prompt puts the input after the instruction; we keep that order without its preamble
    prompt = f"{instruction}\n\n{extra}" if extra.strip() else instruction
    return [("user", prompt), ("assistant", output)]


def _turn_list(rec: dict, key: str) -> list:
    if key not in rec:
        raise RecordError(f"missing field '{key}'")
    turns = rec[key]
    if not isinstance(turns, list):
        raise RecordError(f"field '{key}' is not a list")
    if not turns:
        raise RecordError("empty conversation")
    return turns


def read_sharegpt(rec: dict) -> list[Turn]:
    out = []
    for i, t in enumerate(_turn_list(rec, "conversations")):
        if not isinstance(t, dict) or "from" not in t or "value" not in t:
            raise RecordError(f"turn {i}: needs 'from' and 'value'")
        who = t["from"]
        role = _SHAREGPT_ROLES.get(who.lower() if isinstance(who, str) else who)
        if role is None:
            raise RecordError(f"turn {i}: unknown role {who!r}")
        if not isinstance(t["value"], str):
            raise RecordError(f"turn {i}: 'value' is not a string")
        out.append((role, t["value"]))
    return out


def _content_text(content: Any, i: int) -> str:
    if isinstance(content, str):
        return content
    # the newer OpenAI shape: a list of typed parts; only text parts carry training text
    if isinstance(content, list) and all(isinstance(p, dict) for p in content):
        texts = [p.get("text") for p in content if p.get("type") == "text"]
        if len(texts) == len(content) and all(isinstance(t, str) for t in texts):
            return "".join(texts)
        raise RecordError(f"turn {i}: 'content' has non-text parts")
    raise RecordError(f"turn {i}: 'content' is not a string")


def read_messages(rec: dict) -> list[Turn]:
    out = []
    for i, t in enumerate(_turn_list(rec, "messages")):
        if not isinstance(t, dict) or "role" not in t or "content" not in t:
            raise RecordError(f"turn {i}: needs 'role' and 'content'")
        role = _MESSAGES_ROLES.get(t["role"]) if isinstance(t["role"], str) else None
        if role is None:
            raise RecordError(f"turn {i}: unknown role {t['role']!r}")
        out.append((role, _content_text(t["content"], i)))
    return out


def _oasst_usable(node: Any) -> bool:
    return isinstance(node, dict) and not node.get("deleted") and node.get("review_result") is not False


def read_oasst(rec: dict) -> list[Turn]:
    if "prompt" not in rec:
        raise RecordError("missing field 'prompt' (expected an OpenAssistant message tree)")
    node = rec["prompt"]
    if not isinstance(node, dict):
        raise RecordError("field 'prompt' is not a message")
    out: list[Turn] = []
    depth = 0
    while node is not None:
        if "role" not in node or "text" not in node:
            raise RecordError(f"message at depth {depth}: needs 'role' and 'text'")
        role = _OASST_ROLES.get(node["role"])
        if role is None:
            raise RecordError(f"message at depth {depth}: unknown role {node['role']!r}")
        if not isinstance(node["text"], str):
            raise RecordError(f"message at depth {depth}: 'text' is not a string")
        out.append((role, node["text"]))
        replies = node.get("replies") or []
        if not isinstance(replies, list):
            raise RecordError(f"message at depth {depth}: 'replies' is not a list")
        usable = [r for r in replies if _oasst_usable(r)]
        # the best-ranked reply: rank 0 is best; unranked replies come after ranked ones, in file order
        node = min(usable, key=lambda r: (r.get("rank") is None, r.get("rank") or 0), default=None)
        depth += 1
    while out and out[-1][0] != "assistant":  # a prompt nobody answered teaches nothing
        out.pop()
    if not out:
        raise RecordError("empty conversation (the tree has no assistant reply)")
    return out


def read_xp3(rec: dict) -> list[Turn]:
    return [("user", _need_str(rec, "inputs")), ("assistant", _need_str(rec, "targets"))]


def read_prompt_response(rec: dict) -> list[Turn]:
    return [("user", _need_str(rec, "prompt")), ("assistant", _need_str(rec, "response"))]


READERS: dict[str, Callable[[dict], list[Turn]]] = {
    "alpaca": read_alpaca,
    "sharegpt": read_sharegpt,
    "messages": read_messages,
    "oasst": read_oasst,
    "xp3": read_xp3,
    "prompt_response": read_prompt_response,
}


def check_turns(turns: list[Turn]) -> list[Turn]:
    if not turns:
        raise RecordError("empty conversation")
    for i, (role, content) in enumerate(turns):
        if role not in ROLES:
            raise RecordError(f"turn {i}: unknown role {role!r}")
        if not content.strip():
            raise RecordError(f"turn {i}: empty {role} turn")
    first = next((role for role, _ in turns if role != "system"), None)
    if first is None or not any(role == "assistant" for role, _ in turns):
        raise RecordError("no assistant turn")
    if first != "user":
        raise RecordError("no user turn before the first assistant turn")
    return turns


def parse_record(fmt: str, rec: Any) -> list[Turn]:
    """Turns of one decoded record in `fmt`, or RecordError with the reason."""
    if fmt not in READERS:
        raise ValueError(f"unknown instruction format {fmt!r} (known: {', '.join(FORMATS)})")
    if not isinstance(rec, dict):
        raise RecordError(f"record is a JSON {type(rec).__name__}, not an object")
    return check_turns(READERS[fmt](rec))
