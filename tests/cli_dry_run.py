"""Reads documented command lines with the programs' own argparse parsers, and runs nothing else.

    python tests/cli_dry_run.py COMMANDS.json

COMMANDS.json is a list of {"module": "training.orpo"} or {"path": "bench/render.py"}, with
"argv" (the words after the program) and "mode":

- "parse": the program starts as `python -m module ARGV` would start it, up to its first
  `parse_args` / `parse_known_args`, which parses ARGV for real (flags, choices, types, required
  arguments, subcommands) and then stops the program: no work is done.
- "names": for a synopsis or an inline example with placeholders (`--seed S`): every `-x` / `--xx`
  word must be an option of the parser, or of the subcommand the words before it select, and a
  value written `a|b|c` after an option with choices must name only those choices.

Prints one JSON list: per command {"ok": bool, "error": str}. One process reads them all, so the
heavy imports (torch, transformers) happen once. A program that returns without parsing its
arguments is reported, not trusted.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import runpy
import sys
from pathlib import Path


class Parsed(BaseException):
    """Raised in place of running the program once its command line was read."""


class Refused(BaseException):
    def __init__(self, message: str):
        self.message = message


MODE = {"mode": "parse"}
DEPTH = {"n": 0}
_parse_known_args = argparse.ArgumentParser.parse_known_args


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _check_names(parser: argparse.ArgumentParser, words: list[str]) -> None:
    chain = [parser]
    options = dict(parser._option_string_actions)
    for i, word in enumerate(words):
        if word.startswith("-") and word != "-":
            name = word.split("=", 1)[0]
            if name not in options:
                raise Refused(f"{' '.join(p.prog for p in chain[-1:])}: no option {name}")
            action = options[name]
            value = words[i + 1] if i + 1 < len(words) and "=" not in word else None
            if action.choices and value is not None and "|" in value:
                unknown = [v for v in value.split("|") if v not in action.choices]
                if unknown:
                    raise Refused(f"{name}: {unknown} not among its choices {sorted(action.choices)}")
        elif (sub := _subparsers(chain[-1])) and word in sub:
            chain.append(sub[word])
            options.update(sub[word]._option_string_actions)


def _intercept(self, args=None, namespace=None):
    if DEPTH["n"]:  # a subcommand's parser, inside the outer parse: parse normally
        return _parse_known_args(self, args, namespace)
    DEPTH["n"] += 1
    try:
        words = list(sys.argv[1:] if args is None else args)
        if MODE["mode"] == "names":
            _check_names(self, words)
        else:
            # parse_args's own check for words nobody claimed, for parse_known_args callers too
            _, extra = _parse_known_args(self, words, namespace)
            if extra:
                self.error("unrecognized arguments: " + " ".join(extra))
    finally:
        DEPTH["n"] -= 1
    raise Parsed


def _intercept_args(self, args=None, namespace=None):
    return _intercept(self, args, namespace)


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # as `python -m` from the checkout
    commands = json.loads(open(sys.argv[1], encoding="utf-8").read())
    argparse.ArgumentParser.parse_known_args = _intercept  # type: ignore[method-assign]
    argparse.ArgumentParser.parse_args = _intercept_args  # type: ignore[method-assign]
    results = []
    real_argv = sys.argv
    for command in commands:
        MODE["mode"] = command["mode"]
        target = command.get("module") or command["path"]
        sys.argv = [target, *command["argv"]]
        stderr = io.StringIO()
        try:
            with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
                if "module" in command:
                    runpy.run_module(command["module"], run_name="__main__", alter_sys=True)
                else:  # as `python PATH` runs it: its folder first on the import path
                    sys.path.insert(0, str(Path(command["path"]).resolve().parent))
                    try:
                        runpy.run_path(command["path"], run_name="__main__")
                    finally:
                        del sys.path[0]
            results.append({"ok": False, "error": "returned without parsing a command line"})
        except Parsed:
            results.append({"ok": True, "error": ""})
        except Refused as refused:
            results.append({"ok": False, "error": refused.message})
        except SystemExit as exit:
            results.append({"ok": False, "error": f"exit {exit.code}: {stderr.getvalue().strip()[-600:]}"})
        except Exception as error:  # noqa: BLE001 - reported per command
            results.append({"ok": False, "error": f"{type(error).__name__}: {error}"})
        finally:
            sys.argv = real_argv
    print(json.dumps(results))


if __name__ == "__main__":
    main()
