"""`kaobot` command line: the same `Recognizer` service the bot uses.

Core commands live here; the other command groups add theirs through their modules'
`register(subparsers, add_common)` functions, imported in `command_groups` (only when a command
outside `CORE_COMMANDS` runs, so `kaobot whois` never loads the trainers, aiohttp or discord.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from recognition import DoubtfulFace, KaobotError, Settings, build_recognizer, load_settings
from recognition.gallery import GLOBAL_SCOPE

log = logging.getLogger("kaobot")



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


def _face_line(face) -> str:
    match = face.match
    if match is not None:
        series = f" [{match.series}]" if match.series else ""
        line = f"{face.number}: {face.name}{series} ({face.similarity:.2f})"
    elif face.candidates:
        line = f"{face.number}: unknown (closest: {face.candidates[0].name}, {face.candidates[0].similarity:.2f})"
    else:
        line = f"{face.number}: unknown (nobody enrolled)"
    return f"{line}  box={list(face.box)}"


def _numbered_path(out: str, index: int, count: int) -> Path:
    """`--out` for picture `index` of `count`: the path itself for one picture, else `stem-N.suffix`."""
    path = Path(out)
    return path if count == 1 else path.with_name(f"{path.stem}-{index}{path.suffix}")


def cmd_whois(args: argparse.Namespace) -> int:
    """One or several pictures, the models loaded once. A picture that cannot be read is reported on
    stderr and the others are still answered (exit status 1 when any failed)."""

    async def run() -> int:
        recognizer = build_recognizer(_settings(args))
        several = len(args.images) > 1
        failed = 0
        async with recognizer.gallery:
            for index, path in enumerate(args.images, start=1):
                try:
                    result = await recognizer.identify(_read(path), args.scope, args.top_k)
                except KaobotError as exc:
                    if not several:
                        raise
                    print(f"kaobot: error: {path}: {exc}", file=sys.stderr)
                    failed += 1
                    continue
                if args.out:
                    from recognition.images import encode_png

                    _numbered_path(args.out, index, len(args.images)).write_bytes(encode_png(result.annotated()))
                if args.json:
                    doc = result.to_json()
                    print(json.dumps({"image": path} | doc if several else doc, ensure_ascii=False))
                    continue
                if several:
                    print(f"{path}:")
                if not result.faces:
                    print("no face found")
                for face in result.faces:
                    print(_face_line(face))
            await _stale_notice(recognizer, args.scope)
        return 1 if failed else 0

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
            for index, path in enumerate(args.images, start=1):
                try:
                    e = await recognizer.enroll(args.name, _read(path), args.scope, args.face)
                except DoubtfulFace as exc:
                    raise DoubtfulFace(f"{path}: {exc}; to enrol it anyway, give its number with --face") from None
                print(
                    f"enrolled face {e.face_number} of {e.faces_in_picture} in {path} as {e.name!r} "
                    f"(box={list(e.box)}, detection score {e.detection_score:.2f})"
                )
                if args.out:  # the face that was stored, with its context
                    target = _numbered_path(args.out, index, len(args.images))
                    target.write_bytes(e.crop)
                    print(f"  its crop: {target}")
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


CORE_COMMANDS = frozenset({"whois", "detect", "enroll", "characters", "forget", "rename", "clear"})


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; for one of `CORE_COMMANDS` the `command_groups` are not imported (they pull in
    torch, discord.py and training code: seconds of a cold `kaobot whois`)."""
    parser = argparse.ArgumentParser(prog="kaobot", description="Anime character face recognition.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("whois", help="name the characters in one or more pictures")
    p.add_argument("images", nargs="+", metavar="image")
    p.add_argument("--json", action="store_true", help="print one JSON object (per picture, with its path, for several)")
    p.add_argument("--out", help="write the picture with numbered boxes (PNG) here (several: NAME-1.png, NAME-2.png, ...)")
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
    p.add_argument(
        "--face", type=int, default=None, help="face number (left to right, from 1); default the clearest large face"
    )
    p.add_argument("--out", help="write the crop of the enrolled face (JPEG) here (several pictures: NAME-1.jpg, ...)")
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

    if command not in CORE_COMMANDS:
        for register in command_groups():
            register(sub, _add_common)
    return parser


def command_groups() -> list[Callable]:
    """The `register` functions of every command group outside this module, in `--help` order."""
    from bot import cli as bot_cli
    from tools import data_cli, eval_cli, export_cli, gallery_cli, import_cli, review_cli
    from tools.bench import cli as bench_cli
    from training import train_cli
    from web import cli as web_cli

    return [
        import_cli.register,
        eval_cli.register,
        gallery_cli.register,
        review_cli.register,
        data_cli.register,
        train_cli.register,
        export_cli.register,
        bench_cli.register,
        bot_cli.register,
        web_cli.register,
    ]


def _command(argv: list[str]) -> str | None:
    """The subcommand named in `argv` (its first word that is not an option)."""
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = _command(argv)
    if command == "train":  # `train --recipe R [flags]`: the recipe's flags, then the command line's
        from training.train_cli import expand_recipe

        try:
            argv = expand_recipe(argv)
        except ValueError as exc:
            print(f"kaobot: error: {exc}", file=sys.stderr)
            return 1
    parser = build_parser(command)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    # Library warnings (torch, Pillow, ...) are for developers: logged, shown only with -v.
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.INFO if args.verbose else logging.ERROR)
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
    except Exception as exc:  # a bug: one line for the person, the traceback with -v
        log.debug("unexpected failure", exc_info=True)
        if args.verbose:
            raise
        print(
            f"kaobot: error: unexpected failure ({type(exc).__name__}); run with -v for the details", file=sys.stderr
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
