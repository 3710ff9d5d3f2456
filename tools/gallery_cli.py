"""`kaobot gallery migrate` and `kaobot gallery reembed`: whole-gallery jobs on any backend."""

from __future__ import annotations

import argparse
import asyncio

from recognition import KaobotError, load_settings
from recognition.gallery import BACKENDS, open_gallery


def _bar(total: int, desc: str, quiet: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="face", disable=quiet)


def cmd_migrate(args: argparse.Namespace) -> int:
    from recognition.maintenance import copy_gallery

    if args.source == args.target:
        raise KaobotError("--from and --to name the same backend")
    settings = load_settings(args.config, args.data_dir)

    async def run() -> int:
        async with open_gallery(settings, args.source) as source, open_gallery(settings, args.target) as target:
            with _bar(await source.count(), "migrate", args.quiet) as bar:
                summary = await copy_gallery(source, target, args.batch_size, resume=args.resume, progress=bar.update)
        print(f"{args.source} → {args.target}: {summary.describe()}")
        return 0

    return asyncio.run(run())


def cmd_reembed(args: argparse.Namespace) -> int:
    from recognition.embed import build_embedder
    from recognition.maintenance import reembed_gallery

    settings = load_settings(args.config, args.data_dir)
    embedder = build_embedder(settings.embedder)

    async def run() -> int:
        async with open_gallery(settings) as gallery:
            stale = {m: n for m, n in (await gallery.model_ids()).items() if m != embedder.model_id}
            if not stale:
                print(f"every face is already embedded with {embedder.model_id!r}: nothing to do")
                return 0
            with _bar(await gallery.count(), "reembed", args.quiet) as bar:
                summary = await reembed_gallery(
                    gallery,
                    embedder,
                    batch_size=args.batch_size,
                    drop_without_crop=args.drop_without_crop,
                    progress=bar.update,
                )
        print(summary.describe(embedder.model_id))
        return 0

    return asyncio.run(run())


def register(sub, add_common) -> None:
    p = sub.add_parser("gallery", help="whole-gallery jobs: migrate between backends, re-embed")
    gsub = p.add_subparsers(dest="gallery_command", required=True, metavar="JOB")

    m = gsub.add_parser("migrate", help="copy the whole gallery to another backend and verify the counts")
    m.add_argument("--from", dest="source", required=True, choices=BACKENDS)
    m.add_argument("--to", dest="target", required=True, choices=BACKENDS)
    m.add_argument("--batch-size", type=int, default=500)
    m.add_argument("--resume", action="store_true", help="finish an interrupted copy into a non-empty destination")
    m.add_argument("--quiet", action="store_true", help="no progress bar")
    add_common(m, scope=False)
    m.set_defaults(func=cmd_migrate)

    r = gsub.add_parser("reembed", help="re-embed faces stored with an older model, from their stored crops")
    r.add_argument("--batch-size", type=int, default=64)
    r.add_argument(
        "--drop-without-crop", action="store_true", help="delete stale faces that have no usable crop (default: keep)"
    )
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    add_common(r, scope=False)
    r.set_defaults(func=cmd_reembed)
