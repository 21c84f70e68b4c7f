"""The toolkit's user-facing errors. Each says what is wrong and where (file, line, key) in one line; the
CLI prints it and exits 2. Subclasses keep the built-in base they had (ValueError, RuntimeError, OSError)
so callers that catch those still do."""

from __future__ import annotations


class AuroramError(Exception):
    """Something the user can fix: bad input, a bad recipe, a missing extra, a run that cannot go on."""


class MissingExtraError(AuroramError, ImportError):
    """A command needs an optional extra that is not installed."""

    def __init__(self, extra: str, what: str, module: str | None = None):
        self.extra = extra
        missing = f" ({module} is not installed)" if module else ""
        super().__init__(f"{what} needs the '{extra}' extra{missing}: pip install 'auroram[{extra}]'")


def require_extra(module: str, extra: str, what: str) -> None:
    """Import `module` or raise MissingExtraError naming the extra that brings it."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(extra, what, module) from None
