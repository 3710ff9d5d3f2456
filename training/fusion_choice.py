"""Fuse a trained torch embedder with a descriptor embedder, weight and threshold chosen on training
characters (`kaobot train fusion`).

    kaobot train fusion --checkpoint runs/lite/best.pt --with shipped:embedder-head128-fused.pt \\
        --output runs/lite/fused.pt

The checkpoint must come from `kaobot train recognizer --val-split identities`: its `val_identities`
are characters the network never trained on, so they can choose the fusion without touching any test
set. Each validation picture is embedded by both embedders exactly as at inference (largest face of
the configured detector, else the whole picture). For every weight w of the grid, half of each
character's pictures are enrolled and the rest are probes (`training.descriptors.cv_scores`); the
weight with the best mean of 1-shot and 5-shot rank-1 wins (w = 1 is the network alone, 0 the
descriptor alone), with and without test-time flip of the network's crop (`--flip choose`) and at
each side of `--input-sizes` (the network's crop may be served larger than it was trained at). The
threshold is the mean of the 1-shot and 5-shot open-set optima (half the characters unknown) of the
chosen fusion — the protocol the shipped thresholds always used — taken per `--threshold-from` folder
and averaged, so that each kind of picture counts once.

The output is the torch checkpoint with `meta["fusion"] = {"with": ..., "weight": w}`, `meta["flip"]`
and `meta["threshold"]`, served by `embedder.backend: fusion` (`recognition/embed/fusion.py`).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
from pathlib import Path
from typing import Any

import numpy as np

from recognition.checkpoints import load_checkpoint, save_checkpoint
from recognition.embed.base import weighted_concat
from recognition.embed.fusion import base_embedder
from recognition.embed.torch_backend import TorchEmbedder
from recognition.faces import Face
from recognition.images import decode_image
from training import recognition_eval as ev
from training.datasets import detect_boxes
from training.descriptors import cv_scores, half_split

log = logging.getLogger(__name__)


def get_args_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="best.pt of `kaobot train recognizer --val-split identities`")
    p.add_argument("--with", dest="base", default="shipped:embedder-head128-fused.pt",
                   help="the descriptor embedder fused with it: baseline or a projected checkpoint")
    p.add_argument("--output", required=True, help="the fused checkpoint to write")
    p.add_argument("--weights", type=float, nargs="+", default=[0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
                   help="shares w of the network in the similarity tried")
    p.add_argument("--data", nargs="+", default=None, help="the training folders (default: the checkpoint's)")
    p.add_argument("--val-from", nargs="+", default=None,
                   help="only the validation characters of these training folders: those the descriptor "
                        "embedder never trained on either (the shipped head was fitted on anime-id train)")
    p.add_argument("--threshold-from", nargs="+", default=None,
                   help="training folders whose validation characters set the threshold, each folder's optimum "
                        "counted once (pictures of one source are alike: tight game banners score higher than fan "
                        "art); default: the --val-from folders")
    p.add_argument("--flip", default="choose", help="test-time flip of the network's crop: choose (by the same "
                   "validation) | on | off")
    p.add_argument("--input-sizes", type=int, nargs="+", default=None,
                   help="sides of the network's input crop tried at inference (chosen by the same validation; "
                        "default: the side it was trained at)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--half", action="store_true", help="store the weights as float16 (half the file)")
    return p


def validation_items(data: list[str], identities: list[str], only: list[str] | None = None) -> list[tuple[Path, str]]:
    """(picture, label) of the validation characters, labelled as the recognizer trainer labels them;
    with `only`, those of the folders in it."""
    wanted, items = set(identities), []
    keep = None if only is None else {Path(p).resolve() for p in only}
    for root in data:
        prefix = f"{Path(root).name}/" if len(data) > 1 else ""
        if keep is not None and Path(root).resolve() not in keep:
            continue
        items += [(path, prefix + label) for path, label in ev.list_labelled_images(root) if prefix + label in wanted]
    return items


def embed_faces(items, boxes: dict, embedder) -> np.ndarray:
    """Vectors of the largest face of each picture (`boxes`, from `training.datasets.detect_boxes`; the
    whole picture where none was found)."""
    out = []
    for path, _ in items:
        image = decode_image(Path(path).read_bytes())
        box = boxes.get(str(path))
        face = Face(tuple(box), 1.0) if box else Face((0, 0, image.shape[1], image.shape[0]), 0.0)
        out.append(embedder.embed(image, [face])[0])
    return np.array(out, np.float32)


def fused(a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
    if weight >= 1.0:
        return a
    if weight <= 0.0:
        return b
    return weighted_concat(a, b, weight)


def open_set_threshold(z: np.ndarray, y: np.ndarray, seed: int) -> tuple[float, dict[str, float]]:
    """Mean of the 1-shot and 5-shot open-set optima (half the characters unknown) on a half/half split."""
    g, p = half_split(z, y, random.Random(seed))
    optima = {f"{s}-shot": ev.open_set(g, p, s)["suggested_threshold"] for s in (1, 5)}
    return float(np.mean(list(optima.values()))), optima


def trained_input_size(meta: dict[str, Any]) -> int:
    """The side the network was trained at (a fused file may serve it at another, `input_size`)."""
    return int(meta.get("trained_input_size", meta["input_size"]))


def variant_suffix(flip: bool, size: int, trained_size: int) -> str:
    """What a fused file's model id adds to its network's: flipped or resized crops give other vectors."""
    return ("-flip" if flip else "") + (f"-s{size}" if size != trained_size else "")


def network_model_id(payload: dict[str, Any]) -> str:
    """The model id of the bare network: an already fused checkpoint (the shipped one) drops the
    suffix its fusion added, so that choosing again names the same vectors the same way."""
    meta = payload["meta"]
    if "fusion" not in meta:
        return payload["model_id"]
    suffix = variant_suffix(bool(meta.get("flip")), int(meta["input_size"]), trained_input_size(meta))
    return payload["model_id"].removesuffix(suffix)


def main(args: argparse.Namespace) -> dict[str, Any]:
    from recognition import load_settings
    from recognition.detect import build_detector

    payload = load_checkpoint(args.checkpoint, kind="embedder")
    meta = payload["meta"]
    identities = list(meta.get("val_identities") or [])
    if len(identities) < 4:
        raise ValueError(f"{args.checkpoint} names {len(identities)} validation characters; train it with "
                         "`kaobot train recognizer --val-split identities` so the fusion is chosen on unseen ones")
    data = args.data or list(meta["data"])
    items = validation_items(data, identities, args.val_from)
    if len({label for _, label in items}) < 4:
        raise ValueError(f"fewer than 4 validation characters in {args.val_from or 'the training folders'}")
    # The pictures that set the threshold, per folder (default: those that choose the weight).
    folders = args.threshold_from or args.val_from
    subsets = {str(f): validation_items(data, identities, [f]) for f in folders} if folders else {"validation": items}
    missing = [f for f, subset in subsets.items() if not subset]
    if missing:
        raise ValueError(f"no validation characters in {', '.join(missing)}")
    if args.flip not in ("choose", "on", "off"):
        raise ValueError(f"unknown --flip {args.flip!r}; valid: choose, on, off")
    flips = {"choose": (False, True), "on": (True,), "off": (False,)}[args.flip]
    trained_size = trained_input_size(meta)
    sizes = list(dict.fromkeys(args.input_sizes or [trained_size]))
    if any(not 32 <= size <= 512 for size in sizes):
        raise ValueError(f"--input-sizes must be between 32 and 512 px, not {sizes}")

    learned, base = TorchEmbedder(args.checkpoint, device="cpu"), base_embedder(args.base)
    detector = build_detector(load_settings(getattr(args, "config", None), None).detector)
    # Every picture is detected and embedded once; the recognizer run's detections (boxes.json beside
    # the checkpoint) are reused when the detector is the same.
    pictures = list(dict.fromkeys([*items, *(item for subset in subsets.values() for item in subset)]))
    where = {item: i for i, item in enumerate(pictures)}
    boxes = detect_boxes([path for path, _ in pictures], detector, Path(args.checkpoint).parent / "boxes.json")
    labels = np.array([label for _, label in pictures])
    described = embed_faces(pictures, boxes, base)
    networked = {}  # (input side, flip) -> vectors
    for size in sizes:
        learned.input_size = size
        for flip in flips:
            learned.flip = flip
            networked[size, flip] = embed_faces(pictures, boxes, learned)
    chosen = [where[item] for item in items]
    y = labels[chosen]
    log.info("%d validation pictures of %d characters", len(y), len(set(y)))

    def key(size: int, flip: bool, w: float) -> str:
        return f"w={w:g}" + (" flip" if flip else "") + (f" {size}px" if size != trained_size else "")

    grid = sorted({0.0, 1.0, *args.weights})
    table = {}
    for (size, flip), a in networked.items():
        for w in grid:
            row = cv_scores(fused(a[chosen], described[chosen], w), y, random.Random(args.seed))
            table[key(size, flip, w)] = row | {"mean": (row["rank1_1shot"] + row["rank1_5shot"]) / 2}
    candidates = [(size, flip, w) for size, flip in networked for w in grid if 0.0 < w < 1.0]
    size, flip, weight = max(candidates, key=lambda c: table[key(*c)]["mean"])
    optima = {}
    for folder, subset in subsets.items():
        rows = [where[item] for item in subset]
        folder_threshold, folder_optima = open_set_threshold(
            fused(networked[size, flip][rows], described[rows], weight), labels[rows], args.seed)
        optima[folder] = {**folder_optima, "threshold": folder_threshold, "characters": len(set(labels[rows]))}
    threshold = float(np.mean([o["threshold"] for o in optima.values()]))

    fusion_meta = {**meta, "input_size": size, "trained_input_size": trained_size,
                   "flip": flip, "fusion": {"with": args.base, "weight": weight},
                   "threshold": round(threshold, 4),
                   "fusion_selection": {"val_from": args.val_from, "validation_pictures": int(len(y)), "characters": len(set(y)),
                                        "table": table, "threshold_optima": optima}}
    model_id = network_model_id(payload) + variant_suffix(flip, size, trained_size)
    save_checkpoint(args.output, kind="embedder", model_id=model_id, arch=payload["arch"],
                    arch_kwargs=payload["arch_kwargs"], meta=fusion_meta, state_dict=payload["state_dict"],
                    half=args.half)
    result = {"output": str(args.output), "val_from": args.val_from, "input_size": size, "flip": flip, "weight": weight, "threshold": round(threshold, 4),
              "threshold_optima": optima, "table": table}
    Path(str(args.output) + ".json").write_text(json.dumps(result, indent=1) + "\n")
    return result
