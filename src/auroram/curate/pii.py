"""PII and secrets -> placeholders (<EMAIL>, <IP_ADDRESS>, <PHONE>, <CARD>, <PRIVATE_KEY>, <API_KEY>, <PASSWORD>).

Card numbers must pass the Luhn check and IPs must parse, so order numbers and version strings stay.
In Python code only string literals and comments are edited, so redacted code still compiles.
"""

from __future__ import annotations

import io
import ipaddress
import re
import tokenize
from typing import Any

PEM_RE = re.compile(r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----", re.S)
API_KEY_RE = re.compile(
    r"\b(?:AKIA[0-9A-Z]{16}"  # AWS access key id
    r"|gh[pousr]_[A-Za-z0-9]{36,255}"  # GitHub tokens
    r"|github_pat_[A-Za-z0-9_]{40,255}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,250}"  # Slack
    r"|AIza[0-9A-Za-z_\-]{35}"  # Google
    r"|sk_(?:live|test)_[0-9a-zA-Z]{16,99}"  # Stripe
    r"|sk-(?:proj-)?[A-Za-z0-9_\-]{20,200}"  # OpenAI-style
    r"|hf_[A-Za-z0-9]{30,60}"  # Hugging Face
    r")\b")
_SECRET_NAMES = r"(?:password|passwd|pwd|pass|secret|secret_key|api_key|apikey|api_token|access_token|auth_token" \
                r"|private_key|client_secret|token)"
# name = "value" (code and config); the quotes stay so the code still parses
SECRET_ASSIGN_RE = re.compile(
    r"(?i)(\b[\w.]*" + _SECRET_NAMES + r"\b[\"']?\s*(?::|=|:=|=>)\s*)([\"'])([^\"'\n]{3,200})\2")
# name: value / name=value in prose and config files (not used inside code)
SECRET_BARE_RE = re.compile(r"(?im)^(\s*[\w.]*" + _SECRET_NAMES + r"\s*[:=]\s*)(?![\"'<])(\S{3,200})\s*$")
# necessary conditions of the patterns above, much cheaper to scan for: every secret name contains one of these
# (same engine and flags, so case folding agrees), every API key starts with one of these
_SECRET_NAME_HINT = re.compile(r"(?i)pass|pwd|secret|token|api_?key|private_key")
_API_KEY_HINT = re.compile(r"AKIA|gh[pousr]_|github_pat_|xox[abprs]-|AIza|sk_|sk-|hf_")
EMAIL_RE = re.compile(r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,24}\b")
IPV4_RE = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]|\.\d)")
IPV6_RE = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])")
CARD_RE = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
PHONE_RE = re.compile(
    r"(?<![\w+])(?:"
    r"\+\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]\d{2,4}){1,4}"  # international
    r"|\(\d{3}\)\s?\d{3}[\s.-]\d{4}"  # (555) 123-4567
    r"|\d{3}[.-]\d{3}[.-]\d{4}"  # 555-123-4567
    r")(?![\w])")


def luhn_ok(digits: str) -> bool:
    total, alt = 0, False
    for ch in reversed(digits):
        d = ord(ch) - 48
        if alt:
            d *= 2
            if d > 9:
                d -= 9
        total += d
        alt = not alt
    return total % 10 == 0


def _ip_ok(s: str, public_only: bool) -> bool:
    try:
        ip = ipaddress.ip_address(s)
    except ValueError:
        return False
    if ip.is_unspecified or ip.is_loopback:  # 0.0.0.0, 127.0.0.1, :: and ::1 identify no one
        return False
    return ip.is_global if public_only else True


def _sub(pattern: re.Pattern, repl: Any, text: str, found: dict[str, int], kind: str) -> str:
    n = 0

    def f(m: re.Match) -> str:
        nonlocal n
        out = repl(m) if callable(repl) else repl
        if out != m.group(0):
            n += 1
        return out

    text = pattern.sub(f, text)
    if n:
        found[kind] = found.get(kind, 0) + n
    return text


def _redact_plain(text: str, cfg: Any, found: dict[str, int], code: bool) -> str:
    # each guard is a cheap necessary condition of its pattern, tested on the text as it is at that point
    if cfg.secrets:
        if "PRIVATE KEY-----" in text:
            text = _sub(PEM_RE, "<PRIVATE_KEY>", text, found, "private_key")
        if _API_KEY_HINT.search(text):
            text = _sub(API_KEY_RE, "<API_KEY>", text, found, "api_key")
        if _SECRET_NAME_HINT.search(text):
            text = _sub(SECRET_ASSIGN_RE, lambda m: m.group(0) if m.group(3).startswith("<")
                        else f"{m.group(1)}{m.group(2)}<PASSWORD>{m.group(2)}", text, found, "password")
            if not code:
                text = _sub(SECRET_BARE_RE, lambda m: f"{m.group(1)}<PASSWORD>", text, found, "password")
    if cfg.emails and "@" in text:
        text = _sub(EMAIL_RE, "<EMAIL>", text, found, "email")
    if cfg.cards:
        text = _sub(CARD_RE, lambda m: "<CARD>" if luhn_ok(re.sub(r"\D", "", m.group(0)))
                    and len(set(re.sub(r"\D", "", m.group(0)))) > 1 else m.group(0), text, found, "card")
    if cfg.ips:
        if text.count(".") >= 3:
            text = _sub(IPV4_RE, lambda m: "<IP_ADDRESS>" if _ip_ok(m.group(0), cfg.only_public_ips) else m.group(0),
                        text, found, "ip")
        if text.count(":") >= 2:
            text = _sub(IPV6_RE, lambda m: "<IP_ADDRESS>" if m.group(0).count(":") >= 2
                        and _ip_ok(m.group(0), cfg.only_public_ips) else m.group(0), text, found, "ip")
    if cfg.phones:
        text = _sub(PHONE_RE, lambda m: "<PHONE>" if 8 <= sum(c.isdigit() for c in m.group(0)) <= 15
                    else m.group(0), text, found, "phone")
    return text


def _compiles(text: str) -> bool:
    try:
        compile(text, "<doc>", "exec", dont_inherit=True)
        return True
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False


def _redact_python_tokens(text: str, cfg: Any, found: dict[str, int]) -> str:
    """Edit only string literals and comments; code tokens are left exactly as they were."""
    if cfg.secrets:  # `name = "value"` needs the name, which is outside the string token; it keeps the quotes
        text = _sub(SECRET_ASSIGN_RE, lambda m: m.group(0) if m.group(3).startswith("<")
                    else f"{m.group(1)}{m.group(2)}<PASSWORD>{m.group(2)}", text, found, "password")
    lines = text.splitlines(keepends=True)
    starts = [0]
    for ln in lines:
        starts.append(starts[-1] + len(ln))
    pieces, pos = [], 0
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type not in (tokenize.STRING, tokenize.COMMENT) and tok.type != getattr(tokenize, "FSTRING_MIDDLE", -1):
            continue
        a = starts[tok.start[0] - 1] + tok.start[1]
        b = starts[tok.end[0] - 1] + tok.end[1]
        pieces.append(text[pos:a])
        pieces.append(_redact_plain(text[a:b], cfg, found, code=True))
        pos = b
    pieces.append(text[pos:])
    return "".join(pieces)


def redact(text: str, cfg: Any, code: bool = False) -> tuple[str, dict[str, int]]:
    """The redacted text and the number of replacements by kind."""
    found: dict[str, int] = {}
    new = _redact_plain(text, cfg, found, code)
    if not found or not code:
        return new, found
    if _compiles(new) or not _compiles(text):
        return new, found
    # the plain pass broke valid Python (a number literal, say): redo it inside strings and comments only
    found = {}
    try:
        new = _redact_python_tokens(text, cfg, found)
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return text, {}
    if not _compiles(new):
        return text, {}
    return new, found
