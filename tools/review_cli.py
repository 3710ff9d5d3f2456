"""`kaobot review list | approve ID [--as NAME] | reject ID | unknowns | name ID NAME | dismiss ID`:
the review queue from the shell (`unknowns`: clusters of faces answered "unknown", `review.unknowns`).

Whoever can run the command line on the bot's machine is its admin: approvals are recorded as
`cli:<login name>`.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import time
from pathlib import Path

from recognition import build_recognizer, load_settings


def _approver() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _age(seconds: float) -> str:
    if seconds < 3600:
        return f"{max(0, int(seconds // 60))} min"
    if seconds < 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"


def _desk(args: argparse.Namespace):
    from recognition.review.service import ReviewDesk

    settings = load_settings(args.config, args.data_dir)
    recognizer = build_recognizer(settings)
    return recognizer, ReviewDesk(recognizer, recognizer.review_queue, settings.review)


def cmd_review_list(args: argparse.Namespace) -> int:
    from recognition.review.service import suggestion_to_json

    async def run() -> int:
        recognizer, desk = _desk(args)
        async with recognizer:
            items = await desk.pending(args.scope, args.limit)
            history = await desk.queue.history(args.scope, args.limit) if args.all else []
        if args.crops:
            out = Path(args.crops)
            out.mkdir(parents=True, exist_ok=True)
            for item in items:
                (out / f"{item.suggestion.id}.jpg").write_bytes(item.suggestion.crop)
        if args.json:
            rows = [
                suggestion_to_json(i.suggestion, recognizer.model_id)
                | {"best": None if i.best is None else {"name": i.best.name, "similarity": round(i.best.similarity, 4)}}
                | {"votes": i.votes}
                for i in items
            ]
            rows += [suggestion_to_json(s, recognizer.model_id) for s in history]
            print(json.dumps(rows, ensure_ascii=False))
            return 0
        if not items:
            print(f"no pending suggestions in scope {args.scope!r}")
        now = time.time()
        for i in items:
            s = i.suggestion
            said = repr(s.answer) if s.answer else "unknown"
            best = f", now closest {i.best.name!r} ({i.best.similarity:.2f})" if i.best else ""
            extra = " [stale: re-embedded on approval]" if i.stale else ""
            votes = f", {i.votes} members" if i.votes > 1 else ""
            print(
                f"{s.id}  {s.name!r} by {s.suggester}{votes}, {_age(now - s.created)} ago; kaobot said {said}{best}{extra}"
            )
            if s.message_link:
                print(f"    {s.message_link}")
        for s in history:
            who = f" by {s.decided_by}" if s.decided_by else ""
            as_name = f" as {s.enrolled_as!r}" if s.enrolled_as and s.enrolled_as != s.name else ""
            print(f"{s.id}  {s.name!r} by {s.suggester}: {s.status}{as_name}{who}")
        return 0

    return asyncio.run(run())


def cmd_review_approve(args: argparse.Namespace) -> int:
    async def run() -> int:
        recognizer, desk = _desk(args)
        async with recognizer:
            decision = await desk.approve(args.scope, args.id, _approver(), as_name=args.as_name)
        s = decision.suggestion
        if decision.changed:
            print(f"approved {s.id}: enrolled the face as {s.enrolled_as!r}")
        else:
            print(
                f"{s.id} was already {s.status}" + (f" by {s.decided_by}" if s.decided_by else "") + "; nothing changed"
            )
        return 0

    return asyncio.run(run())


def cmd_review_reject(args: argparse.Namespace) -> int:
    async def run() -> int:
        recognizer, desk = _desk(args)
        async with recognizer:
            decision = await desk.reject(args.scope, args.id, _approver())
        s = decision.suggestion
        print(f"rejected {s.id}" if decision.changed else f"{s.id} was already {s.status}; nothing changed")
        return 0

    return asyncio.run(run())


def cmd_review_unknowns(args: argparse.Namespace) -> int:
    async def run() -> int:
        recognizer, desk = _desk(args)
        async with recognizer:
            clusters = await desk.unknown_clusters(args.scope, args.min)
        if args.crops:
            out = Path(args.crops)
            for c in clusters:
                (out / c.id).mkdir(parents=True, exist_ok=True)
                for s in c.faces:
                    (out / c.id / f"{s.id}.jpg").write_bytes(s.crop)
        if args.json:
            rows = [
                {"id": c.id, "size": c.size, "first": c.faces[0].created, "last": c.faces[-1].created,
                 "best": None if c.best is None else {"name": c.best.name, "similarity": round(c.best.similarity, 4)},
                 "faces": [s.id for s in c.faces], "links": [s.message_link for s in c.faces if s.message_link]}
                for c in clusters
            ]  # fmt: skip
            print(json.dumps(rows, ensure_ascii=False))
            return 0
        if not clusters:
            print(f"no unknown faces seen {desk.settings.unknowns_min_count if args.min is None else args.min}+ "
                  f"times in scope {args.scope!r}")  # fmt: skip
        now = time.time()
        for c in clusters:
            best = f"; closest {c.best.name!r} ({c.best.similarity:.2f})" if c.best else ""
            print(f"{c.id}  came back {c.size} times, first {_age(now - c.faces[0].created)} ago, "
                  f"last {_age(now - c.faces[-1].created)} ago{best}")  # fmt: skip
        return 0

    return asyncio.run(run())


def cmd_review_name(args: argparse.Namespace) -> int:
    async def run() -> int:
        recognizer, desk = _desk(args)
        async with recognizer:
            decisions = await desk.name_unknowns(args.scope, args.id, args.name, _approver())
        print(f"enrolled {sum(d.changed for d in decisions)} face(s) as {decisions[0].suggestion.enrolled_as!r}")
        return 0

    return asyncio.run(run())


def cmd_review_dismiss(args: argparse.Namespace) -> int:
    async def run() -> int:
        recognizer, desk = _desk(args)
        async with recognizer:
            dropped = await desk.dismiss_unknowns(args.scope, args.id)
        print(f"forgot {dropped} unknown face(s); nothing enrolled")
        return 0

    return asyncio.run(run())


def register(sub, add_common) -> None:
    p = sub.add_parser(
        "review", help="members' suggested names: list, approve, reject; unknown faces: unknowns, name, dismiss"
    )
    kinds = p.add_subparsers(dest="review_command", required=True, metavar="ACTION")
    r = kinds.add_parser("list", help="pending suggestions, oldest first")
    r.add_argument("--limit", type=int, default=50)
    r.add_argument("--all", action="store_true", help="also list decided suggestions (approved, rejected, expired)")
    r.add_argument("--crops", help="write each pending suggestion's face crop to this folder as ID.jpg")
    r.add_argument("--json", action="store_true", help="print one JSON list")
    add_common(r)
    r.set_defaults(func=cmd_review_list)
    r = kinds.add_parser("approve", help="enrol a suggested face (as its name, or --as NAME)")
    r.add_argument("id")
    r.add_argument("--as", dest="as_name", metavar="NAME", help="enrol it under this name instead")
    add_common(r)
    r.set_defaults(func=cmd_review_approve)
    r = kinds.add_parser("reject", help="drop a suggestion without enrolling it")
    r.add_argument("id")
    add_common(r)
    r.set_defaults(func=cmd_review_reject)
    r = kinds.add_parser("unknowns", help="clusters of faces answered unknown (review.unknowns), largest first")
    r.add_argument("--min", type=int, help="faces in a cluster (default review.unknowns_min_count)")
    r.add_argument("--crops", help="write each cluster's faces to DIR/CLUSTER/ID.jpg")
    r.add_argument("--json", action="store_true", help="print one JSON list")
    add_common(r)
    r.set_defaults(func=cmd_review_unknowns)
    r = kinds.add_parser("name", help="enrol every face of an unknown cluster under a name")
    r.add_argument("id", help="the cluster's id (any of its faces' ids)")
    r.add_argument("name")
    add_common(r)
    r.set_defaults(func=cmd_review_name)
    r = kinds.add_parser("dismiss", help="forget an unknown cluster's faces without enrolling them")
    r.add_argument("id")
    add_common(r)
    r.set_defaults(func=cmd_review_dismiss)
