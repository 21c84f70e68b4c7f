"""Typed configuration from plain data: dataclasses built from YAML/JSON dicts with errors that name the
file and the key, and back to plain data. Used by recipes (auroram.config) and curation configs."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Literal, Union

import yaml

from auroram.errors import AuroramError

# a recipe or curation config is a few kilobytes; the caps stop a hostile file before the parser sees it
MAX_YAML_BYTES = 1 << 20
MAX_OVERRIDE_BYTES = 1 << 16
# nodes after aliases are expanded: a few hundred bytes of nested aliases expand to billions ("billion laughs")
MAX_YAML_NODES = 100_000
# integers end up in numpy and torch as int64; beyond that they overflow instead of failing
INT_LIMIT = 2**63


class ConfigError(AuroramError, ValueError):
    """A recipe or override is invalid; the message names the file and the key."""


def load_yaml(text: str, where: str, *, max_bytes: int = MAX_YAML_BYTES) -> Any:
    """yaml.safe_load with a size cap, a cap on nodes once aliases are expanded, and no recursive aliases;
    every refusal is a one-line ConfigError naming `where`. YAML syntax errors propagate as yaml.YAMLError."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise ConfigError(f"{where}: {size:,} bytes, more than the {max_bytes:,} a configuration may have")
    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise ConfigError(f"{where}: nested too deeply") from None
        if node is None:
            return None
        _check_expanded(node, where)
        try:
            return loader.construct_document(node)
        except RecursionError:
            raise ConfigError(f"{where}: nested too deeply") from None
        except ValueError as e:  # Python refuses integer literals of more than 4,300 digits
            raise ConfigError(f"{where}: {str(e).split(':')[0]}") from None
    finally:
        loader.dispose()


def load_yaml_file(path: Any, where: str) -> Any:
    """Read and parse a YAML file, reading no more than the cap, so a huge file fails at once."""
    with open(path, "rb") as fh:
        raw = fh.read(MAX_YAML_BYTES + 1)
    if len(raw) > MAX_YAML_BYTES:
        raise ConfigError(f"{where}: larger than the {MAX_YAML_BYTES:,} bytes a configuration may have")
    return load_yaml(raw.decode("utf-8"), where)


def _check_expanded(root: yaml.Node, where: str) -> None:
    # sizes are memoised per node, so shared (aliased) subtrees are counted as often as they expand
    # without expanding them; a node met again while its own size is pending is a recursive alias
    sizes: dict[int, int] = {}
    pending: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            pending.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in _children(node))
            if sizes[key] > MAX_YAML_NODES:
                line = node.start_mark.line + 1 if node.start_mark else 0
                raise ConfigError(f"{where}: line {line}: aliases expand to more than {MAX_YAML_NODES:,} values "
                                  f"(anchors and aliases may only repeat small blocks)")
            continue
        if key in sizes:
            continue
        if key in pending:
            line = node.start_mark.line + 1 if node.start_mark else 0
            raise ConfigError(f"{where}: line {line}: an alias refers to a block that contains it")
        pending.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    return obj


def type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    if origin is not None:
        return {list: "a list", dict: "a mapping", tuple: "a list"}.get(origin, str(tp))
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(tp, str(tp))


def convert(value: Any, tp: Any, key: str, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)

    def bad() -> ConfigError:
        return ConfigError(f"{where}: key '{key}': expected {type_name(tp)}, got {_short(value)}")

    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return convert(value, a, key, where)
            except ConfigError:
                continue
        raise bad()
    if origin is Literal:
        if value in args:
            return value
        raise bad()
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise bad()
        return build(tp, value, key, where)
    if origin is list:
        if not isinstance(value, list):
            raise bad()
        return [convert(v, args[0], f"{key}[{i}]", where) for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise bad()
        return tuple(convert(v, a, f"{key}[{i}]", where) for i, (v, a) in enumerate(zip(value, args)))
    if origin is dict:
        if not isinstance(value, dict):
            raise bad()
        return {str(k): convert(v, args[1], f"{key}.{k}", where) for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad()
    if tp is int:
        n = _as_int(value)
        if n is None:
            raise bad()
        if not -INT_LIMIT < n < INT_LIMIT:
            raise ConfigError(f"{where}: key '{key}': {_short(value)} is out of range (beyond 2**63)")
        return n
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                f = float(value)
            except OverflowError:  # an integer literal past 1.8e308
                f = math.inf
        elif isinstance(value, str):  # YAML reads "3e-4" (no dot) as a string
            try:
                f = float(value)
            except ValueError:
                raise bad() from None
        else:
            raise bad()
        # NaN passes every `< 0` check and then trains on nothing (a NaN weight) or diverges (a NaN LR)
        if not math.isfinite(f):
            raise ConfigError(f"{where}: key '{key}': expected a finite number, got {_short(value)}")
        return f
    if tp is str:
        if isinstance(value, str):
            return value
        raise bad()
    raise bad()


def _short(value: Any) -> str:
    # the message is one line; a mapping or list of thousands of values would make it a page
    try:
        text = repr(value)
    except ValueError:  # an integer too long to print
        return "a number too large"
    return text if len(text) <= 80 else text[:77] + "..."


def _as_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            f = float(value.replace("_", ""))
        except ValueError:
            return None
        if math.isfinite(f) and f.is_integer():
            return int(f)
    return None


def build(cls: type, data: dict[str, Any], prefix: str, where: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for k, v in data.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if k not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{where}: unknown key '{key}' (known here: {known})")
        kwargs[k] = convert(v, hints[k], key, where)
    for name, f in fields.items():
        if name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            key = f"{prefix}.{name}" if prefix else name
            raise ConfigError(f"{where}: missing required key '{key}'")
    return cls(**kwargs)
