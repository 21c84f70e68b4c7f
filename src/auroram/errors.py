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


# what the CLI reports as the user's to fix (exit 2); anything else is a bug (exit 3)
USER_ERRORS = (AuroramError, ValueError, RuntimeError, OSError, KeyError)


def describe_error(e: BaseException) -> str:
    """The one line the CLI prints after "auroram: " for an exception that ends a command."""
    text = str(e).strip()
    msg = text.splitlines()[0] if text else ""
    if isinstance(e, KeyboardInterrupt):
        return "interrupted (rerun the same command to continue where it stopped)"
    if isinstance(e, USER_ERRORS):
        return f"error: {msg or type(e).__name__}"
    return f"internal error: {type(e).__name__}: {msg} (rerun with --debug for the traceback)"
