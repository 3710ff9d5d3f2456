"""`kaobot` command line: the same `Recognizer` service the bot uses.

Core commands live here; other packages add theirs through `register(subparsers)` functions
listed in `COMMAND_MODULES` (imported lazily, so a missing optional dependency only matters
when its command runs).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from recognition import KaobotError, Settings, build_recognizer, load_settings
from recognition.gallery import GLOBAL_SCOPE

log = logging.getLogger("kaobot")

# Modules with a `register(subparsers)` function adding more subcommands.
COMMAND_MODULES: list[str] = [
    "tools.import_cli",
    "tools.eval_cli",
    "tools.gallery_cli",
    "tools.review_cli",
    "tools.data_cli",
    "training.train_cli",
    "tools.export_cli",
    "tools.bench.run",
    "bot.cli",
    "web.cli",
]


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise KaobotError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config, args.data_dir)


async def _stale_notice(recognizer, scope: str | None) -> None:
    notice = await recognizer.stale_notice(scope)
    if notice:
        print(f"note: {notice}", file=sys.stderr)


def cmd_whois(args: argparse.Namespace) -> int:
    async def run() -> int:
        recognizer = build_recognizer(_settings(args))
        async with recognizer.gallery:
            result = await recognizer.identify(_read(args.image), args.scope, args.top_k)
            await _stale_notice(recognizer, args.scope)
        if args.out:
            from recognition.images import encode_png

            Path(args.out).write_bytes(encode_png(result.annotated()))
        if args.json:
            print(json.dumps(result.to_json(), ensure_ascii=False))
            return 0
        if not result.faces:
            print("no face found")
        for face in result.faces:
            if face.name is not None:
                series = f" [{face.candidates[0].series}]" if face.candidates[0].series else ""
                line = f"{face.number}: {face.name}{series} ({face.similarity:.2f})"
            elif face.similarity is not None:
                line = f"{face.number}: unknown (closest: {face.candidates[0].name}, {face.similarity:.2f})"
            else:
                line = f"{face.number}: unknown (nobody enrolled)"
            print(f"{line}  box={list(face.box)}")
        return 0

    return asyncio.run(run())


def cmd_detect(args: argparse.Namespace) -> int:
    from recognition.images import ImageLimits, decode_image
    from recognition.service import faces_to_json

    settings = _settings(args)
    from recognition.detect import build_detector
    from recognition.faces import order_left_to_right

    image = decode_image(_read(args.image), ImageLimits(settings.limits.max_bytes, settings.limits.max_pixels))
    faces = order_left_to_right(build_detector(settings.detector).detect(image))
    if args.json:
        print(json.dumps(faces_to_json(faces)))
    else:
        print(f"{len(faces)} face(s)")
        for i, f in enumerate(faces, 1):
            print(f"{i}: box={list(f.box)} score={f.score:.3f}")
    return 0


def cmd_enroll(args: argparse.Namespace) -> int:
    async def run() -> int:
        recognizer = build_recognizer(_settings(args))
        async with recognizer.gallery:
            for path in args.images:
                e = await recognizer.enroll(args.name, _read(path), args.scope, args.face)
                print(f"enrolled face {e.face_number} of {e.faces_in_picture} in {path} as {e.name!r}")
            if args.series or args.link:
                await recognizer.gallery.set_character_info(args.scope, args.name, args.series, args.link)
        return 0

    return asyncio.run(run())


def cmd_characters(args: argparse.Namespace) -> int:
    async def run() -> int:
        recognizer = build_recognizer(_settings(args))
        async with recognizer.gallery:
            chars = await recognizer.characters(args.scope)
            await _stale_notice(recognizer, args.scope)
        if args.json:
            print(
                json.dumps(
                    [{"name": c.name, "faces": c.faces, "series": c.series, "link": c.link} for c in chars],
                    ensure_ascii=False,
                )
            )
            return 0
        if not chars:
            print(f"no characters enrolled in scope {args.scope!r}")
        for c in chars:
            extra = f" [{c.series}]" if c.series else ""
            print(f"{c.name}{extra}: {c.faces} face(s)")
        return 0

    return asyncio.run(run())


def cmd_forget(args: argparse.Namespace) -> int:
    async def run() -> int:
        recognizer = build_recognizer(_settings(args))
        async with recognizer.gallery:
            n = await recognizer.forget(args.name, args.scope)
        print(f"forgot {args.name!r} ({n} face(s))")
        return 0

    return asyncio.run(run())


def cmd_rename(args: argparse.Namespace) -> int:
    async def run() -> int:
        recognizer = build_recognizer(_settings(args))
        async with recognizer.gallery:
            n = await recognizer.rename(args.old, args.new, args.scope)
        print(f"renamed {args.old!r} to {args.new!r} ({n} face(s))")
        return 0

    return asyncio.run(run())


def cmd_clear(args: argparse.Namespace) -> int:
    if not args.yes:
        raise KaobotError(f"this deletes every character in scope {args.scope!r}; add --yes to confirm")

    async def run() -> int:
        from recognition.gallery import open_gallery
        from recognition.review import open_review_queue

        settings = _settings(args)
        async with open_gallery(settings) as gallery, open_review_queue(settings, gallery) as queue:
            n = await gallery.clear(args.scope)
            await queue.clear(args.scope)  # the scope's suggestions too
        print(f"cleared scope {args.scope!r} ({n} face(s))")
        return 0

    return asyncio.run(run())


def _add_common(parser: argparse.ArgumentParser, scope: bool = True) -> None:
    parser.add_argument("--config", help="settings file (default: $KAOBOT_CONFIG, else built-in defaults)")
    parser.add_argument("--data-dir", help="data directory (default: $KAOBOT_DATA_DIR, else ./data)")
    if scope:
        parser.add_argument("--scope", default=GLOBAL_SCOPE, help="gallery scope: a guild id or 'global' (default)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kaobot", description="Anime character face recognition.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("whois", help="name the characters in a picture")
    p.add_argument("image")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--out", help="write the picture with numbered boxes (PNG) here")
    p.add_argument("--top-k", type=int, default=None, help="candidates per face")
    _add_common(p)
    p.set_defaults(func=cmd_whois)

    p = sub.add_parser("detect", help="find the faces in a picture")
    p.add_argument("image")
    p.add_argument("--json", action="store_true")
    _add_common(p, scope=False)
    p.set_defaults(func=cmd_detect)

    p = sub.add_parser("enroll", help="teach kaobot a character from pictures")
    p.add_argument("name")
    p.add_argument("images", nargs="+")
    p.add_argument("--face", type=int, default=None, help="face number (left to right, from 1); default the largest")
    p.add_argument("--series", help="the character's series (franchise), shown with answers")
    p.add_argument("--link", help="a link shown with answers")
    _add_common(p)
    p.set_defaults(func=cmd_enroll)

    p = sub.add_parser("characters", help="list the enrolled characters")
    p.add_argument("--json", action="store_true")
    _add_common(p)
    p.set_defaults(func=cmd_characters)

    p = sub.add_parser("forget", help="delete a character")
    p.add_argument("name")
    _add_common(p)
    p.set_defaults(func=cmd_forget)

    p = sub.add_parser("rename", help="rename a character")
    p.add_argument("old")
    p.add_argument("new")
    _add_common(p)
    p.set_defaults(func=cmd_rename)

    p = sub.add_parser("clear", help="delete every character of a scope")
    p.add_argument("--yes", action="store_true", help="confirm")
    _add_common(p)
    p.set_defaults(func=cmd_clear)

    for name in COMMAND_MODULES:
        register: Callable = importlib.import_module(name).register
        register(sub, _add_common)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args) or 0)
    except KaobotError as exc:
        print(f"kaobot: error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # invalid names and the like
        print(f"kaobot: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("kaobot: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
