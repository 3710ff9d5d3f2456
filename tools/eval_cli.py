"""`kaobot eval recognition|detection`: evaluate the configured models; JSON reports and PNG plots."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from recognition import load_settings


def cmd_eval_recognition(args: argparse.Namespace) -> int:
    from recognition.detect import build_detector
    from recognition.embed import build_embedder
    from training import recognition_eval as ev

    settings = load_settings(args.config, args.data_dir)
    detector = build_detector(settings.detector)
    embedder = build_embedder(settings.embedder)
    gallery = ev.embed_images(ev.list_labelled_images(args.gallery), detector, embedder, progress=not args.quiet)
    probes = ev.embed_images(ev.list_labelled_images(args.probes), detector, embedder, progress=not args.quiet)
    report: dict = {
        "detector": detector.model_id,
        "embedder": embedder.model_id,
        "gallery_images": len(gallery.labels),
        "probe_images": len(probes.labels),
        "face_found": float(np.mean(np.concatenate([gallery.detected, probes.detected]))),
        "closed_set": {},
        "open_set": {},
    }
    for shots in args.shots:
        report["closed_set"][f"{shots}-shot"] = ev.closed_set(gallery, probes, shots, args.seeds)
        result = ev.open_set(gallery, probes, shots, args.unknown_fraction, args.seeds)
        known, rejected = ev.rates_at_threshold(result, settings.recognition.threshold)
        result["at_configured_threshold"] = {
            "threshold": settings.recognition.threshold,
            "known_accuracy": known,
            "unknown_rejection": rejected,
        }
        report["open_set"][f"{shots}-shot"] = result
    report["verification"] = ev.verification(gallery, probes)
    if args.plots:
        from training.plots import plot_open_set, plot_roc

        out = Path(args.plots)
        out.mkdir(parents=True, exist_ok=True)
        fpr, tpr, _ = ev.roc(gallery, probes)
        report["plots"] = [
            str(plot_open_set(report["open_set"], settings.recognition.threshold, out / "recognition_open_set.png")),
            str(plot_roc(fpr, tpr, out / "recognition_roc.png", f"verification ROC ({embedder.model_id})")),
        ]
    if not args.curves:
        for result in report["open_set"].values():
            result.pop("curve")
    text = json.dumps(report, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


def register(sub, add_common) -> None:
    p = sub.add_parser("eval", help="evaluate recognition on labelled folders")
    kinds = p.add_subparsers(dest="eval_kind", required=True, metavar="KIND")
    r = kinds.add_parser("recognition", help="gallery/probe folders, one sub-folder per character")
    r.add_argument("--gallery", required=True, help="folder of enrolment pictures (one sub-folder per character)")
    r.add_argument("--probes", required=True, help="folder of query pictures (one sub-folder per character)")
    r.add_argument("--shots", type=int, nargs="+", default=[1, 5], help="enrolled pictures per character")
    r.add_argument("--seeds", type=int, default=5, help="random galleries averaged")
    r.add_argument("--unknown-fraction", type=float, default=0.5, help="share of characters left unenrolled (open set)")
    r.add_argument("--json", help="also write the report here")
    r.add_argument("--curves", action="store_true", help="include the threshold curves in the report")
    r.add_argument("--plots", help="write PNG plots (open-set curves, ROC) into this folder")
    r.add_argument("--quiet", action="store_true")
    add_common(r, scope=False)
    r.set_defaults(func=cmd_eval_recognition)
