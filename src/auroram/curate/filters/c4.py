"""C4's line filters, with each script's terminal punctuation (。 and । end sentences too) and its words.

datatrove's C4QualityFilter splits words on spaces and knows only Latin full stops, which would drop every
Japanese and Hindi line; the rules here are the same otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from auroram.curate.filters.base import Filter


@dataclass
class C4Config:
    enabled: bool = True
    # line filters drop lines, not documents; the document goes when too few sentences are left
    filter_no_terminal_punct: bool = True
    min_words_per_line: int = 3  # -1 disables
    max_word_length: int = 1000  # characters; -1 disables
    min_num_sentences: int = 5  # -1 disables
    filter_lorem_ipsum: bool = True
    filter_javascript: bool = True
    filter_curly_bracket: bool = True  # drops the document: braces in prose are almost always code or markup
    filter_policy: bool = True
    remove_citations: bool = True


class C4Filter(Filter):
    name = "c4"
    Config = C4Config
    language_defaults = {"ja": {"min_words_per_line": -1}, "code": {"enabled": False}}

    def __init__(self, work_dir: str = ""):
        super().__init__(work_dir)
        # datatrove's citation pattern and policy phrases; imported here so the config loads without datatrove
        from datatrove.pipeline.filters.c4_filters import CITATION_REGEX, POLICY_SUBSTRINGS
        from datatrove.utils.text import TERMINAL_PUNCTUATION

        self.citation, self.policy = CITATION_REGEX, POLICY_SUBSTRINGS
        self.ends = tuple(TERMINAL_PUNCTUATION) + ('"', "'", "」", "』", "”")  # line ends of a sentence, any script

    def filter(self, doc, lang, cfg):
        from auroram.curate.text import split_sentences, split_words

        kept, sentences = [], 0
        for line in doc.text.splitlines():
            line = line.strip()
            if not line:
                continue
            if cfg.max_word_length != -1 and len(line) > cfg.max_word_length and any(
                    len(w) > cfg.max_word_length for w in line.split()):
                continue
            raw = line
            if cfg.remove_citations and "[" in line:
                line = self.citation.sub("", line)
            if cfg.filter_no_terminal_punct and (not line.endswith(self.ends) or line.endswith("...")):
                continue
            # words are counted on the line as it was before citations were cut
            if cfg.min_words_per_line > 0 and len(split_words(raw, lang)) < cfg.min_words_per_line:
                continue
            low = line.lower()
            if cfg.filter_lorem_ipsum and "lorem ipsum" in low:
                return False, "lorem_ipsum"
            if cfg.filter_javascript and "javascript" in low:
                continue
            if cfg.filter_curly_bracket and "{" in line:
                return False, "curly_bracket"
            if cfg.filter_policy and any(p in low for p in self.policy):
                continue
            sentences += len(split_sentences(line)) or 1
            kept.append(line)
        if cfg.min_num_sentences != -1 and sentences < cfg.min_num_sentences:
            return False, "too_few_sentences", f"{sentences} < {cfg.min_num_sentences}"
        new = "\n".join(kept)
        if new != doc.text:
            doc.text = new  # kept lines only: the step counts the bytes removed
        return True
