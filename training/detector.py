"""Train a face detector on YOLO labels (`kaobot train detector`).

Recipe::

    kaobot data synth --out runs/synth --detection --detection-images 300
    kaobot data icartoonface-yolo --csv runs/synth/detection/train.csv \\
        --images runs/synth/detection/images/train --out runs/synth/yolo --split train
    kaobot data icartoonface-yolo --csv runs/synth/detection/val.csv \\
        --images runs/synth/detection/images/val --out runs/synth/yolo --split val
    kaobot train detector --data runs/synth/yolo/dataset.yaml --output runs/det --epochs 20

The network is a torchvision detector from `recognition.detect.nets` (default `fcos_mobilenet_p3`:
FCOS with a stride-8 level for faces from about 16 px), trained without pretrained weights.
Augmentation: random crops that zoom in (small faces become larger and vice versa), horizontal
flips, brightness/contrast/saturation jitter. Every epoch the model is written as a detector
checkpoint and evaluated on the val split through the same `TorchDetector` that serves it
(AP50, AP50:95 by pycocotools; precision/recall at `--threshold`). Written to `--output`:
`last.pt` (resume), `best.pt` (detector checkpoint, best AP50), `history.json`, `curves.png`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from recognition.checkpoints import float_weights, load_checkpoint, save_checkpoint
from recognition.detect.nets import ARCHITECTURES, build_detection_net
from recognition.detect.torch_backend import TorchDetector
from training import detection_eval as dev
from training.datasets import jitter_colour, read_rgb
from training.engine import Loop, fit
from training.runtime import backward_step, plain_config, prepare_run

log = logging.getLogger(__name__)


def read_dataset_yaml(path: str | Path) -> dict[str, Path]:
    """Split name → images folder, from an Ultralytics-style dataset YAML (`path` relative to the file)."""
    import yaml

    path = Path(path)
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    root = Path(spec.get("path") or ".")
    if not root.is_absolute():
        root = (path.parent / root).resolve()
    return {s: root / spec[s] for s in ("train", "val", "test") if spec.get(s)}


# --- augmentations on (image, boxes) with a random.Random -----------------------------------------
def _flip(img, boxes, rng):
    if rng.random() < 0.5:
        w = img.shape[1]
        img = np.ascontiguousarray(img[:, ::-1])
        boxes = np.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], 1) if len(boxes) else boxes
    return img, boxes


def _crop(img, boxes, rng, min_scale: float = 0.5):
    """A random crop of 50–100 % of each side; boxes whose centre leaves it are dropped."""
    if rng.random() < 0.4:
        return img, boxes
    h, w = img.shape[:2]
    cw, ch = int(w * rng.uniform(min_scale, 1)), int(h * rng.uniform(min_scale, 1))
    x0, y0 = rng.randint(0, w - cw), rng.randint(0, h - ch)
    img = np.ascontiguousarray(img[y0 : y0 + ch, x0 : x0 + cw])
    if len(boxes):
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        keep = (centres[:, 0] > x0) & (centres[:, 0] < x0 + cw) & (centres[:, 1] > y0) & (centres[:, 1] < y0 + ch)
        boxes = boxes[keep] - [x0, y0, x0, y0]
        boxes = np.clip(boxes, 0, [cw, ch, cw, ch])
    return img, boxes


def _color(img, boxes, rng):
    return jitter_colour(img, rng, spread=0.3, saturation=0.4), boxes


AUGMENTATIONS = {"flip": _flip, "crop": _crop, "color": _color}


class YoloFaces(Dataset):
    """(CHW float tensor on 0–1, target dict) from a YOLO images folder."""

    def __init__(self, images_dir: Path, augment: list[str], seed: int = 0) -> None:
        gt = dev.load_yolo(images_dir)
        self.items = [(p, gt.boxes[p]) for p in gt.images]
        unknown = [a for a in augment if a not in AUGMENTATIONS]
        if unknown:
            raise ValueError(f"unknown augmentation(s) {unknown}; valid: {', '.join(sorted(AUGMENTATIONS))}")
        self.augment = [AUGMENTATIONS[a] for a in augment]
        self.seed, self.epoch = seed, 0

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        path, boxes = self.items[i]
        img, boxes = read_rgb(path), boxes.astype(np.float32)
        rng = random.Random(hash((self.seed, self.epoch, i)))
        for aug in self.augment:
            img, boxes = aug(img, boxes, rng)
        if len(boxes):
            boxes = boxes[(boxes[:, 2] - boxes[:, 0] >= 2) & (boxes[:, 3] - boxes[:, 1] >= 2)]
        tensor = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float() / 255.0
        target = {"boxes": torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                  "labels": torch.ones(len(boxes), dtype=torch.int64)}
        return tensor, target


def _collate(batch):
    return tuple(zip(*batch))


def get_args_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="dataset YAML (train and val splits, YOLO labels)")
    p.add_argument("--output", required=True, help="run folder")
    p.add_argument("--arch", default="fcos_mobilenet_p3", help=f"one of {', '.join(ARCHITECTURES)}")
    p.add_argument("--arch-kwargs", default="{}", help='JSON keyword arguments, e.g. \'{"backbone": "mobilenet_v3_small"}\'')
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-3, help="AdamW learning rate")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--warmup-epochs", type=float, default=1.0)
    p.add_argument("--augment", default="crop,flip,color", help="comma-separated: crop, flip, color")
    p.add_argument("--threshold", type=float, default=0.5, help="operating score threshold reported in validation")
    p.add_argument("--val-limit", type=int, default=None, help="validate on a seeded subset of this many pictures")
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=None, help="loader processes (default 0 on CPU, 4 on CUDA)")
    p.add_argument("--amp", default="auto", help="auto (on CUDA) | on | off")
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT/last.pt")
    p.add_argument("--init", default=None, metavar="CHECKPOINT",
                   help="fine-tune: start from this detector checkpoint's weights (a path or shipped:FILE) with a new "
                        "schedule; its arch and arch kwargs are used, updated by --arch-kwargs (e.g. input sizes)")
    p.add_argument("--model-id", default=None, help="default: kaobot-<arch>-<weights hash>")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    return p


def train_one_epoch(model, loader, optimizer, scheduler, scaler, device: str) -> dict[str, float]:
    model.train()
    sums: dict[str, float] = {}
    n = 0
    for images, targets in loader:
        images = [im.to(device, non_blocking=True) for im in images]
        targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
        with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=scaler is not None):
            losses = model(images, targets)
            loss = sum(losses.values())
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {loss.item()}; lower --lr or check the labels")
        backward_step(loss, optimizer, scaler, clip_params=model.parameters(), max_norm=10.0)
        scheduler.step()
        for k, v in losses.items():
            sums[k] = sums.get(k, 0.0) + v.item()
        sums["loss"] = sums.get("loss", 0.0) + loss.item()
        n += 1
    return {k: v / max(1, n) for k, v in sums.items()}


def evaluate(checkpoint: Path, gt: dev.GroundTruth, threshold: float, device: str) -> dict[str, Any]:
    """Validation through the serving class: AP and the operating point."""
    detector = TorchDetector(checkpoint, device=device, threshold=0.0, min_size=0)
    report, _ = dev.evaluate_detector(detector, gt, threshold)
    op = report["operating_point"]
    return {"ap50": report["ap50"], "ap50_95": report["ap50_95"], "precision": op["precision"],
            "recall": op["recall"], "ms_per_image": report["ms_per_image"]}


def plot_curves(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    for key in ("loss", "classification", "bbox_regression", "bbox_ctrness"):
        if key in history[0]:
            a.plot(epochs, [h[key] for h in history], marker="o", label=key)
    a.set(title="training losses", xlabel="epoch")
    a.legend(fontsize=8)
    for key in ("ap50", "ap50_95", "precision", "recall"):
        b.plot(epochs, [h.get(key, float("nan")) for h in history], marker="o", label=key)
    b.set(title="validation", xlabel="epoch", ylim=(0, 1.02))
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(args: argparse.Namespace) -> dict[str, Any]:
    run = prepare_run(args)
    out, device, cuda, workers, use_amp = run.out, run.device, run.cuda, run.workers, run.use_amp
    splits = read_dataset_yaml(args.data)
    if "train" not in splits or "val" not in splits:
        raise ValueError(f"{args.data} must name a train and a val split")
    arch_kwargs = json.loads(args.arch_kwargs)
    init = load_checkpoint(args.init, kind="detector") if args.init else None
    if init is not None:
        args.arch, arch_kwargs = init["arch"], {**init["arch_kwargs"], **arch_kwargs}
    if args.arch not in ARCHITECTURES:
        raise ValueError(f"unknown detection architecture {args.arch!r}; valid: {', '.join(sorted(ARCHITECTURES))}")

    dataset = YoloFaces(splits["train"], [a for a in args.augment.split(",") if a], args.seed)
    val_gt = dev.subset(dev.load_yolo(splits["val"]), args.val_limit, args.seed)
    log.info("%d training pictures, %d validation pictures (%s)", len(dataset), len(val_gt.images),
             json.dumps(dev.describe(val_gt)))
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, collate_fn=_collate,
                        num_workers=workers, pin_memory=cuda, persistent_workers=workers > 0,
                        generator=torch.Generator().manual_seed(args.seed))
    model = build_detection_net(args.arch, **arch_kwargs)
    if init is not None:
        try:
            model.load_state_dict(float_weights(init))
        except RuntimeError as exc:
            raise ValueError(f"--init {args.init} does not fit {args.arch} {arch_kwargs}: {exc}") from exc
        log.info("fine-tuning from %s (%s)", args.init, init["model_id"])
    model = model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps, warm = len(loader), args.warmup_epochs * len(loader)
    total = args.epochs * steps

    def factor(step: int) -> float:
        if warm and step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1.0, total - warm))))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    scaler = torch.amp.GradScaler("cuda") if use_amp else None
    meta = {"data": str(args.data), "train_pictures": len(dataset)}
    if init is not None:
        meta["init"] = init["model_id"]
    epoch_weights: dict[str, Any] = {}

    def one_epoch(epoch: int) -> dict[str, float]:
        dataset.epoch = epoch
        return train_one_epoch(model, loader, optimizer, scheduler, scaler, device)

    def validate(epoch: int) -> dict[str, float]:
        """Through the serving class, on the epoch's weights written as a detector checkpoint."""
        weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        digest = hashlib.sha256(b"".join(v.numpy().tobytes() for v in weights.values())).hexdigest()[:10]
        epoch_weights.update(weights=weights, model_id=args.model_id or f"kaobot-{args.arch}-{digest}")
        candidate = save_checkpoint(out / "epoch.pt", kind="detector", model_id=epoch_weights["model_id"],
                                    arch=args.arch, arch_kwargs=arch_kwargs, meta={**meta, "epoch": epoch + 1},
                                    state_dict=weights)
        return evaluate(candidate, val_gt, args.threshold, device)

    def save_best(epoch: int, metrics: dict[str, float]) -> str:
        save_checkpoint(out / "best.pt", kind="detector", model_id=epoch_weights["model_id"], arch=args.arch,
                        arch_kwargs=arch_kwargs, meta={**meta, "epoch": epoch, "validation": metrics},
                        state_dict=epoch_weights["weights"])
        return epoch_weights["model_id"]

    loop = Loop(out=out, modules={"model": model}, optimizer=optimizer, scheduler=scheduler, scaler=scaler,
                train_one_epoch=one_epoch, evaluate=validate, score=lambda row: row["ap50"], save_best=save_best,
                pictures=len(dataset), plot=plot_curves)
    result = fit(loop, args.epochs, resume=args.resume, config=plain_config(args))
    (out / "epoch.pt").unlink(missing_ok=True)
    return result
