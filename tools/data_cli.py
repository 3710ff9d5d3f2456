"""`kaobot data …`: iCartoonFace converters and the synthetic data generator."""

from __future__ import annotations

import argparse
import json


def cmd_yolo(args: argparse.Namespace) -> int:
    from training.icartoonface import csv_to_yolo

    report = csv_to_yolo(args.csv, args.images, args.out, split=args.split, link_images=not args.no_link)
    return _print_report(report, args.show)


def _print_report(report, show: int) -> int:
    """The first `show` bad rows, how many more there were, and the summary line."""
    for problem in report.problems[:show]:
        print(problem)
    if len(report.problems) > show:
        print(f"... and {len(report.problems) - show} more bad rows")
    print(report.summary())
    return 0


def cmd_crop(args: argparse.Namespace) -> int:
    from training.icartoonface import crop_recognition

    report = crop_recognition(
        args.list,
        args.images,
        args.out,
        margin=args.margin,
        size=args.size,
        keep_aspect=not args.stretch,
        names_path=args.names,
        quality=args.quality,
        test_list=args.test_list,
    )
    return _print_report(report, args.show)


def cmd_synth(args: argparse.Namespace) -> int:
    from training.synth import SynthConfig, generate

    cfg = SynthConfig(
        identities=args.identities,
        per_identity=args.per_identity,
        detection_images=args.detection_images,
        val_fraction=args.val_fraction,
        face_min=args.face_min,
        face_max=args.face_max,
        max_faces=args.max_faces,
        seed=args.seed,
    )
    what = tuple(w for w in ("detection", "recognition") if getattr(args, w))
    print(json.dumps(generate(args.out, cfg, what or ("detection", "recognition"))))
    return 0


def cmd_anime_id_views(args: argparse.Namespace) -> int:
    from training.anime_id_views import build_views

    report = build_views(args.root, args.out, args.gallery_fraction, args.min_gallery, args.seed)
    print(json.dumps({k: report[k] for k in ("characters", "images")}))
    return 0


def register(sub, add_common) -> None:
    p = sub.add_parser("data", help="prepare training data (iCartoonFace converters, synthetic faces)")
    kinds = p.add_subparsers(dest="data_kind", required=True, metavar="TOOL")

    y = kinds.add_parser("icartoonface-yolo", help="detection CSV (image,x1,y1,x2,y2) → YOLO labels + dataset.yaml")
    y.add_argument("--csv", required=True, help="iCartoonFace detection annotations (no header)")
    y.add_argument("--images", required=True, help="folder holding the images named in the CSV")
    y.add_argument("--out", required=True, help="dataset folder: labels/<split>/, images/<split>/ links, dataset.yaml")
    y.add_argument("--split", default="train", help="split name (train, val, ...)")
    y.add_argument("--no-link", action="store_true", help="do not link the images under OUT/images/<split>")
    y.add_argument("--show", type=int, default=20, help="bad rows printed (all are logged)")
    y.set_defaults(func=cmd_yolo)

    c = kinds.add_parser("icartoonface-crop", help="recognition list (relpath<TAB>x1 y1 x2 y2) → identity folders")
    c.add_argument("--list", required=True, help="e.g. icartoonface_rectrain_det.txt")
    c.add_argument("--images", required=True, help="root the relpaths are relative to")
    c.add_argument("--out", required=True, help="output folder, one sub-folder per identity")
    c.add_argument("--margin", type=float, default=0.25, help="margin around the box, × its size (default 0.25)")
    c.add_argument("--size", type=int, default=250, help="output side in pixels (default 250 as in the original)")
    c.add_argument("--stretch", action="store_true", help="ignore the aspect ratio (the original's crops)")
    c.add_argument("--names", help="id → name file; folders are named after the characters")
    c.add_argument(
        "--test-list",
        action="store_true",
        help="the list is icartoonface_rectest_det.txt (filename x1 y1 x2 y2 label_id; -1 → unknown/)",
    )
    c.add_argument("--quality", type=int, default=95, help="JPEG quality")
    c.add_argument("--show", type=int, default=20, help="bad rows printed (all are logged)")
    c.set_defaults(func=cmd_crop)

    s = kinds.add_parser("synth", help="synthetic anime faces in both iCartoonFace formats")
    s.add_argument("--out", required=True)
    s.add_argument("--identities", type=int, default=50)
    s.add_argument("--per-identity", type=int, default=20)
    s.add_argument("--detection-images", type=int, default=200)
    s.add_argument("--val-fraction", type=float, default=0.2, help="share of detection pictures in the val split")
    s.add_argument("--face-min", type=int, default=16, help="smallest face side in detection pictures")
    s.add_argument("--face-max", type=int, default=160, help="largest face side in detection pictures")
    s.add_argument("--max-faces", type=int, default=6, help="faces per detection picture, at most")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--detection", action="store_true", help="only the detection set (default: both)")
    s.add_argument("--recognition", action="store_true", help="only the recognition set (default: both)")
    s.set_defaults(func=cmd_synth)

    v = kinds.add_parser("anime-id-views", help="anime-id or kancolle-faces train / heldout (gallery, probes) folders of symlinks")
    v.add_argument("--root", required=True, help="the anime-id folder (characters.csv) or the kancolle-faces folder (images.csv)")
    v.add_argument("--out", required=True, help="output folder, e.g. runs/anime-id (never inside the data)")
    v.add_argument("--gallery-fraction", type=float, default=0.5, help="share of a heldout character's images enrolled")
    v.add_argument("--min-gallery", type=int, default=5, help="gallery images per heldout character, at least")
    v.add_argument("--seed", type=int, default=0)
    v.set_defaults(func=cmd_anime_id_views)
