"""`kaobot eval recognition|online|detection`: evaluate the configured models; JSON reports and PNG plots."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from recognition import load_settings


def parse_embedder_spec(spec: str) -> tuple[str, str | None, float | None]:
    """`baseline`, `torch:CKPT` or either with `@THRESHOLD` → (backend, checkpoint, threshold)."""
    threshold = None
    if "@" in spec:
        spec, value = spec.rsplit("@", 1)
        threshold = float(value)
    backend, _, checkpoint = spec.partition(":")
    return backend, checkpoint or None, threshold


class _CachedDetector:
    """Wraps a detector so that comparing several embedders detects each picture only once."""

    def __init__(self, detector) -> None:
        self.detector = detector
        self.model_id = detector.model_id
        self._cache: dict[bytes, list] = {}

    def settings(self) -> dict:
        return self.detector.settings()

    def detect(self, image: np.ndarray) -> list:
        import hashlib

        key = hashlib.sha1(image.tobytes()).digest() + bytes(str(image.shape), "ascii")
        if key not in self._cache:
            self._cache[key] = self.detector.detect(image)
        return self._cache[key]


def _recognition_report(gallery, probes, embedder_id: str, threshold: float, args: argparse.Namespace) -> dict:
    """Closed-set, open-set (at `threshold`) and verification metrics of one embedder."""
    from training import recognition_eval as ev

    report: dict = {
        "embedder": embedder_id,
        "gallery_images": len(gallery.labels),
        "probe_images": len(probes.labels),
        "face_found": float(np.mean(np.concatenate([gallery.detected, probes.detected]))),
        "embed_ms_per_face": round(1000 * (gallery.embed_seconds + probes.embed_seconds)
                                   / max(1, len(gallery.labels) + len(probes.labels)), 2),
        "closed_set": {},
        "open_set": {},
    }
    for shots in args.shots:
        report["closed_set"][f"{shots}-shot"] = ev.closed_set(gallery, probes, shots, args.seeds)
        result = ev.open_set(gallery, probes, shots, args.unknown_fraction, args.seeds)
        known, rejected = ev.rates_at_threshold(result, threshold)
        result["at_configured_threshold"] = {
            "threshold": threshold,
            "known_accuracy": known,
            "unknown_rejection": rejected,
        }
        report["open_set"][f"{shots}-shot"] = result
    report["verification"] = ev.verification(gallery, probes)
    return report


def cmd_eval_recognition(args: argparse.Namespace) -> int:
    """One report for the configured embedder, or (with `--embedder`) one per embedder, same pictures."""
    import dataclasses

    from recognition.detect import build_detector
    from recognition.embed import build_embedder
    from recognition.embed.base import model_threshold

    settings = load_settings(args.config, args.data_dir)
    if len(args.gallery) != len(args.probes):
        raise ValueError("give as many --probes as --gallery folders (one pair per set)")
    detector = build_detector(settings.detector)
    if (args.embedder and len(args.embedder) > 1) or len(args.gallery) > 1:
        detector = _CachedDetector(detector)
    runs = []
    for spec in args.embedder or [None]:
        threshold = settings.recognition.threshold
        embedder_settings = settings.embedder
        if spec is not None:
            backend, checkpoint, spec_threshold = parse_embedder_spec(spec)
            embedder_settings = dataclasses.replace(settings.embedder, backend=backend, checkpoint=checkpoint)
            threshold = spec_threshold if spec_threshold is not None else threshold
        embedder = build_embedder(embedder_settings)
        runs.append((embedder, model_threshold(embedder) if threshold is None else threshold))
    sets = [_recognition_set(args, gallery_dir, probes_dir, detector, runs)
            for gallery_dir, probes_dir in zip(args.gallery, args.probes)]
    final = sets[0] if len(sets) == 1 else {"sets": sets}
    text = json.dumps(final, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


def _recognition_set(args: argparse.Namespace, gallery_dir: str, probes_dir: str, detector, runs) -> dict:
    """The reports of every embedder on one gallery/probe pair of folders (the same detections)."""
    from training import recognition_eval as ev

    reports = []
    for embedder, threshold in runs:
        gallery = ev.embed_images(ev.list_labelled_images(gallery_dir), detector, embedder, progress=not args.quiet)
        probes = ev.embed_images(ev.list_labelled_images(probes_dir), detector, embedder, progress=not args.quiet)
        report = {"detector": detector.model_id, **_recognition_report(gallery, probes, embedder.model_id, threshold, args)}
        if args.plots:
            from training.plots import plot_open_set, plot_roc

            out = Path(args.plots) / (Path(gallery_dir).parent.name if len(args.gallery) > 1 else "") / (
                embedder.model_id if args.embedder else "")
            out.mkdir(parents=True, exist_ok=True)
            fpr, tpr, _ = ev.roc(gallery, probes)
            report["plots"] = [
                str(plot_open_set(report["open_set"], threshold, out / "recognition_open_set.png")),
                str(plot_roc(fpr, tpr, out / "recognition_roc.png", f"verification ROC ({embedder.model_id})")),
            ]
        if not args.curves:
            for result in report["open_set"].values():
                result.pop("curve")
        reports.append(report)
    if args.embedder:
        return {"gallery": str(gallery_dir), "probes": str(probes_dir), "embedders": reports}
    return reports[0] | ({"gallery": str(gallery_dir), "probes": str(probes_dir)} if len(args.gallery) > 1 else {})


def cmd_eval_detection(args: argparse.Namespace) -> int:
    import dataclasses

    from recognition.detect import build_detector
    from training import detection_eval as dev

    settings = load_settings(args.config, args.data_dir)
    if args.csv:
        gt = dev.load_csv(args.csv, args.images)
    else:
        gt = dev.load_yolo(args.images, args.labels)
    gt = dev.subset(gt, args.limit, args.seed)
    threshold = args.threshold if args.threshold is not None else settings.detector.threshold
    report: dict = {"data": {"images_dir": str(args.images), **dev.describe(gt)}, "detectors": []}
    curves = {}
    for spec in args.detector or [
        settings.detector.backend + (f":{settings.detector.checkpoint}" if settings.detector.checkpoint else "")
    ]:
        backend, checkpoint, options = dev.parse_detector_options(spec)
        op_threshold = options.pop("threshold", threshold)  # a spec's own `?threshold=` is its operating point
        by_size = options.pop("size_thresholds", settings.detector.size_thresholds) if backend == "torch" else []
        overrides = {**options, "backend": backend, "threshold": min(args.min_score, op_threshold),
                     "size_thresholds": []}
        if checkpoint:
            overrides["checkpoint"] = checkpoint
        if args.min_size is not None:
            overrides["min_size"] = args.min_size
        detector = build_detector(dataclasses.replace(settings.detector, **overrides))
        result, curve = dev.evaluate_detector(detector, gt, op_threshold, progress=not args.quiet,
                                              size_thresholds=by_size)
        result["name"] = spec if len(spec) < 100 else backend
        report["detectors"].append(result)
        curves[result["name"]] = curve
    if args.plots:
        from training.plots import plot_detection

        Path(args.plots).mkdir(parents=True, exist_ok=True)
        report["plots"] = [
            str(plot_detection(curves, dev.sizes_table(report["detectors"]), Path(args.plots) / "detection.png"))
        ]
    text = json.dumps(report, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


def cmd_eval_online(args: argparse.Namespace) -> int:
    """Replay the probes as a stream of posts, correcting each wrong answer (training/online_eval.py)."""
    from recognition.detect import build_detector
    from recognition.embed import build_embedder
    from recognition.embed.base import model_threshold
    from training import online_eval
    from training import recognition_eval as ev

    settings = load_settings(args.config, args.data_dir)
    detector, embedder = build_detector(settings.detector), build_embedder(settings.embedder)
    report = online_eval.run(
        ev.list_labelled_images(args.gallery),
        ev.list_labelled_images(args.probes),
        detector,
        embedder,
        model_threshold(embedder) if settings.recognition.threshold is None else settings.recognition.threshold,
        args.shots,
        args.seed,
        progress=not args.quiet,
        unknown_fraction=args.unknown_fraction,
    )
    report = {"gallery_dir": str(args.gallery), "probes_dir": str(args.probes), **report}
    if args.plot:
        report["plot"] = str(online_eval.plot_online(report, args.plot, args.window))
    if not args.stream:
        report.pop("stream")
    text = json.dumps(report, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


def register(sub, add_common) -> None:
    p = sub.add_parser("eval", help="evaluate recognition on labelled folders")
    kinds = p.add_subparsers(dest="eval_kind", required=True, metavar="KIND")
    r = kinds.add_parser("recognition", help="gallery/probe folders, one sub-folder per character")
    r.add_argument("--gallery", required=True, action="append",
                   help="folder of enrolment pictures (one sub-folder per character); repeat with --probes for "
                        "several sets in one run (the report then holds a list of sets)")
    r.add_argument("--probes", required=True, action="append",
                   help="folder of query pictures (one sub-folder per character), one per --gallery")
    r.add_argument("--shots", type=int, nargs="+", default=[1, 5], help="enrolled pictures per character")
    r.add_argument("--seeds", type=int, default=5, help="random galleries averaged")
    r.add_argument("--unknown-fraction", type=float, default=0.5, help="share of characters left unenrolled (open set)")
    r.add_argument(
        "--embedder",
        action="append",
        help="baseline | torch:CHECKPOINT, optionally @THRESHOLD (repeat to compare on the same "
        "pictures; default: the configured embedder and recognition.threshold)",
    )
    r.add_argument("--json", help="also write the report here")
    r.add_argument("--curves", action="store_true", help="include the threshold curves in the report")
    r.add_argument("--plots", help="write PNG plots (open-set curves, ROC) into this folder")
    r.add_argument("--quiet", action="store_true")
    add_common(r, scope=False)
    r.set_defaults(func=cmd_eval_recognition)

    o = kinds.add_parser("online", help="replay probes as posts; correct each wrong answer as an approved suggestion")
    o.add_argument("--gallery", required=True, help="folder of enrolment pictures (one sub-folder per character)")
    o.add_argument("--probes", required=True, help="folder of posted pictures (one sub-folder per character)")
    o.add_argument("--shots", type=int, default=1, help="pictures per character enrolled before the stream")
    o.add_argument("--seed", type=int, default=0, help="seeds the enrolled pictures and the order of the stream")
    o.add_argument("--unknown-fraction", type=float, default=0.0,
                   help="this fraction of the characters (seeded) is never enrolled: their posts are strangers, "
                        "right when answered unknown, never corrected")
    o.add_argument("--json", help="also write the report here")
    o.add_argument("--plot", help="write the rolling rank-1 over the stream (PNG) here")
    o.add_argument("--window", type=int, default=50, help="posts averaged by the plot's rolling rank-1")
    o.add_argument("--stream", action="store_true", help="include every post's outcome in the report")
    o.add_argument("--quiet", action="store_true")
    add_common(o, scope=False)
    o.set_defaults(func=cmd_eval_online)

    d = kinds.add_parser("detection", help="pictures + CSV or YOLO labels: AP50, AP50:95, precision/recall by size")
    d.add_argument("--images", required=True, help="folder of pictures")
    d.add_argument("--csv", help="iCartoonFace boxes (image,x1,y1,x2,y2); default: YOLO labels")
    d.add_argument("--labels", help="YOLO label folder (default: the images path with images -> labels)")
    d.add_argument(
        "--detector",
        action="append",
        help="animeface | torch:CHECKPOINT | onnx:MODEL | yolo_onnx:MODEL, optionally ?key=value&… detector settings "
        "(e.g. ?input_side=640&threshold=0.55; threshold is then its operating point) (repeat to compare; default: "
        "the configured one)",
    )
    d.add_argument(
        "--threshold", type=float, default=None, help="operating score threshold (default: detector.threshold)"
    )
    d.add_argument("--min-score", type=float, default=0.05, help="lowest score kept for the AP curves")
    d.add_argument("--min-size", type=int, default=None, help="override detector.min_size (smallest face side kept)")
    d.add_argument("--limit", type=int, default=None, help="evaluate a seeded random subset of this many pictures")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--json", help="also write the report here")
    d.add_argument("--plots", help="write detection.png (PR curves, recall by face size) into this folder")
    d.add_argument("--quiet", action="store_true")
    add_common(d, scope=False)
    d.set_defaults(func=cmd_eval_detection)
