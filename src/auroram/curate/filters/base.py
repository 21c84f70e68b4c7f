"""What a curation filter is: a name, a settings dataclass, and `filter(doc, lang, cfg)`.

The step that runs a filter (`auroram.curate.steps.FilterStep`) does the bookkeeping: it skips documents an
earlier step rejected and languages where the filter is disabled, counts documents and bytes in, kept and
dropped by reason, and tags a dropped document with the filter's name, its reason and a detail.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Iterator

if TYPE_CHECKING:
    from datatrove.data import Document

    from auroram.curate.config import CurateConfig
    from auroram.curate.readers import InputFile

# what `filter` returns: True keeps; False drops with the filter's name as the reason;
# (False, reason) or (False, reason, detail) drops with a reason of its own (datatrove's convention, plus a detail)
Verdict = bool | tuple[bool, str] | tuple[bool, str, str]


class Filter:
    name: ClassVar[str]  # the step's name in stats.json and rejected records, and its key in `languages.<lang>`
    Config: ClassVar[type]  # its per-language settings: a dataclass with an `enabled: bool` field
    # built-in values for some languages, under a recipe's own `languages.<lang>.<name>` ("code" is the code route)
    language_defaults: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init__(self, work_dir: str = ""):
        self.work_dir = work_dir  # the run's work directory: where `prepare` leaves what the tasks read

    def filter(self, doc: Document, lang: str, cfg: Any) -> Verdict:
        """Judge one document of language `lang` with that language's settings `cfg` (an instance of Config)."""
        raise NotImplementedError

    def prepare(self, cfg: CurateConfig, files: list[InputFile], quiet: bool) -> None:
        """Runs once in the launching process before any task (e.g. to train a model every task then loads)."""

    @classmethod
    def problems(cls, cfg: Any) -> Iterator[tuple[str, str]]:
        """(key under the filter's section, message) for each invalid setting of one language."""
        return iter(())


class DatatroveFilter(Filter):
    """One datatrove filter instance per language, made by `build` from that language's settings."""

    def __init__(self, work_dir: str = ""):
        super().__init__(work_dir)
        self._filters: dict[str, Any] = {}

    def build(self, lang: str, cfg: Any) -> Any:
        raise NotImplementedError

    def filter(self, doc, lang, cfg):
        f = self._filters.get(lang)
        if f is None:
            f = self._filters[lang] = self.build(lang, cfg)
        return f.filter(doc)
