"""``diagrambot db stats | export | import | vacuum``: the database's command line.

``add_parser`` plugs into the project's argparse CLI; every subcommand sets
``func=run_db``, which returns the exit status: 0 on success, 2 on bad input
(missing file, malformed import line, not a database) with one line on stderr.
``import`` validates the whole file first (see ``storage.transfer``) and then
writes it in one transaction: a bad file writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

from .db import Database
from .schema import SchemaTooNewError
from .transfer import (
    MAX_LINE_CHARS,
    ImportFormatError,
    export_jsonl,
    import_records,
    parse_jsonl,
    read_lines,
)

DEFAULT_DB = "data/diagrambot.sqlite3"
DEFAULT_DATA_DIR = "data"


class UsageError(Exception):
    """Bad input from the command line; reported as one line, exit status 2."""


def add_parser(subparsers: Any) -> None:
    """Register ``db`` and its subcommands on the main CLI's subparsers."""
    db = subparsers.add_parser("db", help="inspect, back up and restore the database")
    commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=DEFAULT_DB, metavar="PATH", help=f"SQLite file (default: {DEFAULT_DB})")
    common.add_argument(
        "--data-dir",
        default=DEFAULT_DATA_DIR,
        metavar="DIR",
        help=f"folder holding images/ (default: {DEFAULT_DATA_DIR})",
    )

    stats = commands.add_parser("stats", parents=[common], help="print counts as one JSON object")
    stats.set_defaults(func=run_db)

    export = commands.add_parser("export", parents=[common], help="write candidates, ratings and the rest as JSONL")
    export.add_argument("--out", default="-", metavar="FILE.jsonl", help="output file, '-' for stdout (default)")
    export.add_argument(
        "--images", action="store_true", help="embed the PNG files (base64) so the export is self-contained"
    )
    export.set_defaults(func=run_db)

    imp = commands.add_parser("import", parents=[common], help="read a JSONL export; importing twice adds nothing")
    imp.add_argument(
        "file",
        metavar="FILE.jsonl",
        help="file written by 'db export', '-' for stdin; lines of at most "
        f"{MAX_LINE_CHARS:,} characters; a bad line imports nothing",
    )
    imp.set_defaults(func=run_db)

    vacuum = commands.add_parser("vacuum", parents=[common], help="checkpoint the WAL and compact the file")
    vacuum.set_defaults(func=run_db)


def run_db(args: argparse.Namespace) -> int:
    """Run one ``db`` subcommand; return the process exit status."""
    handlers = {"stats": _stats, "export": _export, "import": _import, "vacuum": _vacuum}
    command = args.db_command
    try:
        return asyncio.run(handlers[command](args))
    except ImportFormatError as exc:
        _error(command, f"{args.file}: {exc}; nothing was imported")
    except UnicodeDecodeError:
        _error(command, f"{args.file}: not UTF-8 text; nothing was imported")
    except (UsageError, SchemaTooNewError) as exc:
        _error(command, str(exc))
    except sqlite3.DatabaseError as exc:
        _error(command, f"{args.db}: {exc}")
    except OSError as exc:
        _error(command, f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
    return 2


def _error(command: str, message: str) -> None:
    print(f"diagrambot db {command}: error: {message}", file=sys.stderr)


def _existing_db(args: argparse.Namespace) -> Path:
    """Reading commands must not silently create an empty database at a mistyped path."""
    path = Path(args.db)
    if not path.is_file():
        raise UsageError(f"database not found: {path}")
    return path


def _print_json(value: Any) -> None:
    print(json.dumps(value, sort_keys=True))


async def _stats(args: argparse.Namespace) -> int:
    path = _existing_db(args)
    async with await Database.open(path, args.data_dir) as db:
        stats = await db.stats()
    stats["path"] = str(path)
    stats["bytes"] = _size(path)
    _print_json(stats)
    return 0


async def _export(args: argparse.Namespace) -> int:
    path = _existing_db(args)
    async with await Database.open(path, args.data_dir) as db:
        if args.out == "-":
            counts = await export_jsonl(db, sys.stdout.write, include_images=args.images)
            sys.stdout.flush()
            # stdout holds the data; the summary goes where it cannot corrupt it.
            print(json.dumps({"exported": counts}, sort_keys=True), file=sys.stderr)
            return 0
        out = Path(args.out)
        tmp = out.with_name(out.name + ".partial")
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                counts = await export_jsonl(db, f.write, include_images=args.images)
            tmp.replace(out)  # never leave a truncated backup under the real name
        finally:
            tmp.unlink(missing_ok=True)
    _print_json({"exported": counts, "out": str(out)})
    return 0


async def _import(args: argparse.Namespace) -> int:
    if args.file == "-":
        records = parse_jsonl(read_lines(sys.stdin))
    else:
        with open(args.file, encoding="utf-8") as f:
            records = parse_jsonl(read_lines(f))
    async with await Database.open(args.db, args.data_dir) as db:
        counts = await import_records(db, records)
    _print_json({"imported": counts, "db": str(args.db)})
    return 0


async def _vacuum(args: argparse.Namespace) -> int:
    path = _existing_db(args)
    before = _size(path)
    async with await Database.open(path, args.data_dir) as db:
        await db.vacuum()
    _print_json({"vacuumed": str(path), "bytes_before": before, "bytes_after": _size(path)})
    return 0


def _size(path: Path) -> int:
    """Database bytes including the WAL, which is where recent writes live."""
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
