"""Settings as dataclasses, defined once: argparse options generated from their fields, presets and stored
configs read as partial overrides and checked against the fields' types.

A field's CLI options live in its metadata (`option(...)`): help text, flag name, choices, a text parser.
Every generated option defaults to None, so `given(args)` tells what the user typed from what they left out;
defaults then come from the dataclass (or a preset), never from argparse.
"""
from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from kit.errors import ToolkitError

MISSING = dataclasses.MISSING


class ConfigError(ToolkitError):
    """A settings file (preset, config.yaml) or value that does not fit the settings' fields."""


def option(default: Any = MISSING, *, help: str, flag: str | None = None, choices: Iterable[str] | None = None,
           parse: Callable[[str], Any] | None = None, metavar: str | None = None, cli: bool = True,
           required: bool = False, default_factory: Any = MISSING) -> Any:
    """A dataclass field with its command-line option; `cli=False` keeps it out of argparse, `required` makes
    the option compulsory on the command line."""
    meta = {"help": help, "flag": flag, "choices": tuple(choices) if choices else None, "parse": parse,
            "metavar": metavar, "cli": cli, "required": required}
    if default_factory is not MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _base(tp: Any) -> tuple[Any, bool]:
    """(inner type, optional?) of `X | None` / `Optional[X]`."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else tp), True
    return tp, False


def _number(kind: type) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'a whole number' if kind is int else 'a number'}, "
                                             f"got {text!r}") from None
    return parse


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    value = _number(int)(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def seed(text: str) -> int:
    """An argparse type: a random seed, a whole number of at least 0."""
    value = _number(int)(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"a seed is a whole number >= 0, got {value}")
    return value


def fraction(text: str) -> float:
    """An argparse type: a number in [0, 1)."""
    value = _number(float)(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {value}")
    return value


def comma_list(text: str) -> list[str]:
    """`a, b,c` -> ['a', 'b', 'c']."""
    return [x.strip() for x in text.split(",") if x.strip()]


def default_of(f: dataclasses.Field) -> Any:
    """A field's default value (None where it has none)."""
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None


def _shown(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def add_options(parser: argparse.ArgumentParser, cls: type, *, notes: Mapping[str, str] | None = None,
                exclude: Iterable[str] = ()) -> None:
    """Add one option per CLI field of the dataclass `cls`; `notes[name]` replaces the shown default."""
    hints = typing.get_type_hints(cls)
    skip = set(exclude)
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if not meta.get("cli", False) or f.name in skip:
            continue
        kind, _ = _base(hints[f.name])
        flag = "--" + (meta.get("flag") or f.name.replace("_", "-"))
        note = (notes or {}).get(f.name)
        if note is None:
            value = default_of(f)
            note = f"default: {_shown(value)}" if value not in (None, "", []) else ""
        text = meta["help"] + (f" ({note})" if note else "")
        kw: dict[str, Any] = {"dest": f.name, "default": None, "help": text.replace("%", "%%"),
                              "required": bool(meta.get("required"))}
        if kind is bool:
            kw["action"] = argparse.BooleanOptionalAction
        else:
            if meta.get("parse"):
                kw["type"] = meta["parse"]
            elif typing.get_origin(kind) in (list, tuple):
                kw["type"] = comma_list
            elif kind in (int, float):
                kw["type"] = _number(kind)
            if meta.get("choices"):
                kw["choices"] = meta["choices"]
            if meta.get("metavar"):
                kw["metavar"] = meta["metavar"]
        parser.add_argument(flag, **kw)


def given(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of `cls` that the user set on the command line."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


def check_value(cls: type, name: str, value: Any, where: str) -> Any:
    """`value` for field `name` of `cls` after checking its type (ints for floats are widened)."""
    hints = typing.get_type_hints(cls)
    kind, optional = _base(hints[name])
    if value is None:
        if optional or default_of(next(f for f in dataclasses.fields(cls) if f.name == name)) is None:
            return None
        raise ConfigError(f"{where}: {name} must not be empty")
    origin = typing.get_origin(kind)
    ok = {bool: isinstance(value, bool), int: isinstance(value, int) and not isinstance(value, bool),
          float: isinstance(value, (int, float)) and not isinstance(value, bool), str: isinstance(value, str)}
    if origin in (list, tuple):
        if isinstance(value, str):
            value = comma_list(value)
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, (str, int, float)) for v in value):
            raise ConfigError(f"{where}: {name} must be a list, got {value!r}")
        return list(value) if origin is list else tuple(value)
    if kind in ok and not ok[kind]:
        raise ConfigError(f"{where}: {name} must be {kind.__name__}, got {value!r}")
    return float(value) if kind is float else value


def read_mapping(path: Path, what: str) -> dict[str, Any]:
    """A YAML file that must hold a mapping of settings; one-line ConfigError otherwise."""
    import yaml
    try:
        value = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {what}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the {what} ({exc})") from None
    except yaml.YAMLError as exc:
        first = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise ConfigError(f"{path}: not valid YAML ({first})") from None
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ConfigError(f"{path}: a {what} must be a mapping of settings, got {type(value).__name__}")
    return value


def overrides(values: Mapping[str, Any], cls: type, where: str, allowed: Iterable[str] | None = None) -> dict[str, Any]:
    """A partial mapping of settings, each key a field of `cls` (or of `allowed`) and each value of its type."""
    names = set(allowed) if allowed is not None else {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown settings {unknown}")
    return {k: check_value(cls, k, v, where) for k, v in values.items()}


def to_dict(settings: Any) -> dict[str, Any]:
    """Plain form of a settings dataclass for YAML (tuples as lists)."""
    def plain(v: Any) -> Any:
        return list(v) if isinstance(v, tuple) else v
    return {k: plain(v) for k, v in dataclasses.asdict(settings).items()}
