"""`kaobot import`: bulk enrolment from one folder per character."""

from __future__ import annotations

import argparse
import asyncio

from recognition import build_recognizer, load_settings


def cmd_import(args: argparse.Namespace) -> int:
    from .bulk_import import import_folders, read_names

    async def run() -> int:
        names = read_names(args.names) if args.names else None
        recognizer = build_recognizer(load_settings(args.config, args.data_dir))
        async with recognizer.gallery:
            summary = await import_folders(
                recognizer, args.dir, args.scope, args.per_identity, names, progress=not args.quiet
            )
        print(summary.describe())
        return 0

    return asyncio.run(run())


def register(sub, add_common) -> None:
    p = sub.add_parser("import", help="enrol many characters from one folder per character")
    p.add_argument("dir", help="a folder with one sub-folder of pictures per character")
    p.add_argument("--per-identity", type=int, default=None, help="at most N pictures per character (default all)")
    p.add_argument("--names", help="file mapping folder names to character names (two columns)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_common(p)
    p.set_defaults(func=cmd_import)
