"""Entry point of the `diagrambot` command: wires in the subcommands that each package owns."""

from __future__ import annotations

import argparse
import logging
import sys
import traceback

from bot import cli as bot_commands
from diagrambot import config
from ml import commands as ml_commands
from ml.errors import UserError
from storage import commands as storage_commands
from training import jobs as job_commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="diagrambot", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    subparsers = parser.add_subparsers(dest="command", required=True)
    ml_commands.add_parsers(subparsers)
    storage_commands.add_parser(subparsers)
    job_commands.add_parser(subparsers)
    bot_commands.add_parser(subparsers)
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, with `args.settings` loaded from --config for the commands that take one.

    The roof loads the config once, so the packages below never read config files themselves."""
    return _with_settings(build_parser().parse_args(argv))


def _with_settings(args: argparse.Namespace) -> argparse.Namespace:
    if hasattr(args, "config"):
        args.settings = config.load(args.config)
    return args


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(_with_settings(args)) or 0)
    except (UserError, OSError) as error:
        print(f"diagrambot {args.command}: {_one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"diagrambot {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a bug, not bad input: still one line; -v adds the traceback
        if args.verbose:
            traceback.print_exc()
        print(
            f"diagrambot {args.command}: internal error: {type(error).__name__}: {_one_line(error)} "
            "(run with -v for the traceback)",
            file=sys.stderr,
        )
        return 1


def _one_line(error: BaseException) -> str:
    """The message on one line (a file name or an OS message may hold a line break), at most 500 characters."""
    text = " ".join(str(error).split())
    return text if len(text) <= 500 else text[:497] + "..."


if __name__ == "__main__":
    sys.exit(main())
