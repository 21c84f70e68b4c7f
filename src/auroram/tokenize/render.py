"""Conversations to training text: a list of (text, is_target) segments the shard writer masks by.

With a base tokenizer that carries a chat template (`tokenizer.chat_template`), the template renders the
conversation, so the continued model keeps speaking its base's chat format. Without one (the demo's
BPE trained from scratch), the simple format below is used:

    <|system|>
    You are terse.
    <|user|>
    Name a prime.
    <|assistant|>
    7
    <|user|>
    Another?
    <|assistant|>
    11

and the shard writer appends EOS after the last turn. With loss_on "response" only the assistant
turns' text (and the EOS) are targets: the role headers and everything said by system and user are
context. With loss_on "all" every token is a target.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Literal

from auroram.data.instruct import Conversation, Quarantine, Segment, Turn
from auroram.errors import AuroramError

SIMPLE_FORMAT = "auroram-simple"


class RenderError(AuroramError, ValueError):
    """A conversation cannot be rendered (the template refused it); the reason goes to the quarantine."""


def simple_segments(turns: list[Turn]) -> list[Segment]:
    segs: list[Segment] = []
    for role, content in turns:
        if role == "assistant":
            segs.append(("<|assistant|>\n", False))
            segs.append((content + "\n", True))
        else:
            segs.append((f"<|{role}|>\n{content}\n", False))
    return segs


class Renderer:
    """Renders conversations the way one tokenizer expects; `kind` says which format was chosen and why."""

    def __init__(self, tokenizer: Any = None, *, use_template: bool = True):
        self.tokenizer = tokenizer
        self.kind = SIMPLE_FORMAT
        self.note = "the tokenizer has no chat template"
        template = getattr(tokenizer, "chat_template", None) if tokenizer is not None else None
        if use_template and template:
            probe = [("system", "s"), ("user", "u1"), ("assistant", "a1"), ("user", "u2"), ("assistant", "a2")]
            try:
                self._template_segments(probe)
                self.kind, self.note = "tokenizer", "the tokenizer's own chat template"
            except RenderError:
                try:  # many templates refuse a system turn; that alone does not make them unusable
                    self._template_segments(probe[1:])
                    self.kind, self.note = "tokenizer", "the tokenizer's own chat template"
                except RenderError as e:
                    # a template whose render of a prefix is not a prefix of the whole cannot be masked per turn
                    self.note = f"the tokenizer's chat template is unusable for masking ({e})"
        elif not use_template:
            self.note = "chat template disabled"

    def _apply(self, turns: list[Turn], gen: bool) -> str:
        msgs = [{"role": r, "content": c} for r, c in turns]
        try:
            return self.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen)
        except Exception as e:  # jinja raises its own types, and templates call raise_exception()
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise RenderError(f"chat template: {first}") from None

    def _template_segments(self, turns: list[Turn]) -> list[Segment]:
        segs: list[Segment] = []
        prev = ""
        for i, (role, _content) in enumerate(turns):
            if role == "assistant":
                head = self._apply(turns[:i], gen=True) if i else ""
                full = self._apply(turns[: i + 1], gen=False)
                if not head.startswith(prev) or not full.startswith(head):
                    raise RenderError("chat template output is not prefix-stable across turns")
                segs.append((head[len(prev):], False))
                segs.append((full[len(head):], True))
            else:
                full = self._apply(turns[: i + 1], gen=False)
                if not full.startswith(prev):
                    raise RenderError("chat template output is not prefix-stable across turns")
                segs.append((full[len(prev):], False))
            prev = full
        eos = getattr(self.tokenizer, "eos_token", None)
        if eos and segs and segs[-1][0].rstrip().endswith(eos):
            # the shard writer appends EOS itself; the template's own would make it twice
            text = segs[-1][0].rstrip()
            segs[-1] = (text[: -len(eos)], segs[-1][1])
        return [s for s in segs if s[0]]

    def segments(self, turns: list[Turn], loss_on: Literal["all", "response"] = "response") -> list[Segment]:
        segs = self._template_segments(turns) if self.kind == "tokenizer" else simple_segments(turns)
        if loss_on == "all":
            return [(t, True) for t, _ in segs]
        return segs

    def text(self, turns: list[Turn]) -> str:
        return "".join(t for t, _ in self.segments(turns, "all"))


def render_docs(
    docs: Iterable[Any],
    renderer: Renderer,
    loss_on: Literal["all", "response"] = "response",
    quarantine: Quarantine | None = None,
) -> Iterator[Any]:
    """Conversations become segment lists; other documents pass through unchanged."""
    for d in docs:
        if not isinstance(d, Conversation):
            yield d
            continue
        try:
            yield renderer.segments(d.turns, loss_on)
        except RenderError as e:
            if quarantine is None:
                raise RenderError(f"{d.file}: line {d.line}: {e}") from None
            quarantine.reject(d.file, d.line, str(e))
