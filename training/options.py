"""Command-line options built from settings dataclasses, so each default and its help are written once.

    @dataclass
    class Settings:
        max_steps: int = option(200, "optimizer steps; <= 0: train for `epochs`")
        lora: LoraSettings = group(LoraSettings, prefix="lora-")

    parser = options.parser(__doc__)
    options.add(parser, Settings)
    settings = options.build(Settings, parser.parse_args(argv))

Each field becomes --its-name (metadata "flag" renames it), typed by its annotation: a bool gives
--x / --no-x, `X | None` takes an X, `list[X]` one or more; the other metadata (choices, required,
metavar) goes to argparse as it is; a field without a default is a required option. A field made
with `group` adds its dataclass's fields, named with its prefix. Plain fields (no `option`) become
options too, without help.

transformers.HfArgumentParser (trl's TrlParser) does this for flat dataclasses; it is not used here
because importing transformers costs the retrain subprocess seconds at every start, and it has no
nested groups, renamed flags or --x/--no-x for an optional bool, which these commands already had.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Iterator
from typing import Any

MISSING: Any = dataclasses.MISSING


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The module docstring as written, and each option's default (if it has one) after its help."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.required or action.default in (None, ""):
            return action.help
        return super()._get_help_string(action)


def option(default: Any = MISSING, help: str = "", *, default_factory: Any = MISSING, **argparse_kwargs: Any):
    """A settings field with its command-line help (and argparse extras: flag, choices, required, metavar)."""
    return dataclasses.field(
        default=default, default_factory=default_factory, metadata={"help": help, **argparse_kwargs}
    )


def group(cls: type, prefix: str = "", skip: tuple[str, ...] = ()):
    """A nested settings dataclass whose fields become flags --{prefix}{name}, except those in `skip`
    (they keep their defaults)."""
    return dataclasses.field(default_factory=cls, metadata={"group": prefix, "skip": tuple(skip)})


def parser(description: str | None, **kwargs: Any) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(description=description, formatter_class=HelpFormatter, **kwargs)


def _options(
    cls: type, prefix: str = "", dest: str = "", skip: tuple[str, ...] = ()
) -> Iterator[tuple[dataclasses.Field, Any, str, str]]:
    """(field, type, flag, dest) per option of `cls`, groups expanded (dest: the field's dotted path)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not f.init or f.name in skip:
            continue
        if "group" in f.metadata:
            yield from _options(hints[f.name], prefix + f.metadata["group"], f"{dest}{f.name}.", f.metadata["skip"])
        else:
            yield f, hints[f.name], "--" + prefix + f.metadata.get("flag", f.name).replace("_", "-"), dest + f.name


def add(parser: argparse.ArgumentParser, cls: type) -> argparse.ArgumentParser:
    """One option per field of dataclass `cls` (see the module docstring)."""
    for f, hint, flag, dest in _options(cls):
        kwargs = {"help": "", **{key: value for key, value in f.metadata.items() if key != "flag"}}
        # dataclasses.MISSING, not this module's `MISSING: Any`, so that the checks narrow the types
        if f.default is not dataclasses.MISSING:
            kwargs["default"] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            kwargs["default"] = f.default_factory()
        else:
            kwargs["required"] = True
        if typing.get_origin(hint) in (typing.Union, types.UnionType):
            (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if hint is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(hint) is list:
            kwargs.update(type=typing.get_args(hint)[0], nargs="+")
        else:
            kwargs["type"] = hint
        if hint is not bool and "choices" not in kwargs:
            kwargs.setdefault("metavar", flag[2:].replace("-", "_").upper())  # not the dotted dest
        parser.add_argument(flag, dest=dest, **kwargs)
    return parser


def build(cls: type, namespace: argparse.Namespace, _dest: str = "") -> Any:
    """An instance of `cls` from parsed options; a field without an option keeps its default."""
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if "group" in f.metadata:
            values[f.name] = build(hints[f.name], namespace, f"{_dest}{f.name}.")
        elif f.init and hasattr(namespace, _dest + f.name):
            values[f.name] = getattr(namespace, _dest + f.name)
    return cls(**values)
