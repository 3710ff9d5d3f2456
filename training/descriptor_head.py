"""An ArcFace-trained MLP head on the baseline descriptor (`kaobot train descriptor-head`).

    kaobot train descriptor-head --data runs/anime-id/train --output runs/head --seed 0

The baseline descriptors of `--data` are computed (or read from `--output`/descriptors.npz) by
`training.descriptors`. A small MLP — centring, Linear → BatchNorm → ReLU → Linear, unit
output — is trained with an ArcFace margin head over the training characters; inputs
are augmented in descriptor space (random feature dropout and Gaussian noise). Each setting of
the grid (epochs × fusion weight) is scored by a character-disjoint cross-validation (mean of 1-shot
and 5-shot rank-1 on left-out characters, `training.descriptors.cv_scores`), and the best one
is refitted on every character. The checkpoint is a `baseline-projection` embedder with a hidden
layer (BatchNorm folded into the first layer), optionally fused with the baseline descriptor.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from recognition.checkpoints import save_checkpoint
from recognition.embed.base import check_fusion_weight
from recognition.embed.baseline import BaselineEmbedder
from recognition.embed.projected import ARCH, mlp_forward
from training.descriptors import cv_scores, descriptors

log = logging.getLogger(__name__)


def get_args_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", required=True, help="folder(s) of character sub-folders")
    p.add_argument("--output", required=True, help="run folder")
    p.add_argument("--epochs", type=int, nargs="+", default=[20, 60], help="epochs tried by cross-validation")
    p.add_argument("--fusion-weights", type=float, nargs="+", default=[0.5, 1.0],
                   help="share w of the head in the similarity, fused with the baseline descriptor; 1: the head alone")
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--dropout", type=float, default=0.3, help="input feature dropout (augmentation)")
    p.add_argument("--noise", type=float, default=0.01, help="Gaussian noise added to the unit descriptor")
    p.add_argument("--margin", type=float, default=0.3, help="ArcFace margin")
    p.add_argument("--scale", type=float, default=30.0, help="ArcFace scale")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=5e-2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--folds", type=int, default=4, help="character folds for the cross-validation")
    p.add_argument("--seed", type=int, default=0)
    return p


def train_net(x: np.ndarray, y: np.ndarray, args: argparse.Namespace, epochs: int):
    """The MLP (torch, eval mode) trained with an ArcFace head on centred descriptors `x`, labels `y`."""
    import torch
    from torch import nn

    from training.heads import build_head

    torch.manual_seed(args.seed)
    classes = sorted(set(y))
    target = torch.tensor([classes.index(v) for v in y])
    inputs = torch.from_numpy((x - x.mean(axis=0)).astype(np.float32))
    net = nn.Sequential(nn.Linear(x.shape[1], args.hidden), nn.BatchNorm1d(args.hidden), nn.ReLU(),
                        nn.Linear(args.hidden, args.dim))
    head = build_head("arcface", args.dim, len(classes), args.scale, args.margin)
    opt = torch.optim.AdamW(list(net.parameters()) + list(head.parameters()), lr=args.lr,
                            weight_decay=args.weight_decay)
    steps = epochs * ((len(y) + args.batch_size - 1) // args.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.1)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(args.seed)
    net.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(y), generator=gen).split(args.batch_size):
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            batch = inputs[idx]
            keep = (torch.rand(batch.shape, generator=gen) >= args.dropout).float() / (1 - args.dropout)
            batch = batch * keep + torch.randn(batch.shape, generator=gen) * args.noise
            loss = loss_fn(head(nn.functional.normalize(net(batch)), target[idx]), target[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return net.eval()


def fold(net, mean: np.ndarray) -> dict[str, np.ndarray]:
    """Inference weights of a trained `train_net` MLP for `mlp_forward`: BatchNorm folded into layer 1."""
    import torch

    lin1, bn, _, lin2 = net
    with torch.no_grad():
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        return {"mean": mean.astype(np.float32), "matrix": (lin1.weight.T * scale).numpy().astype(np.float32),
                "bias": ((lin1.bias - bn.running_mean) * scale + bn.bias).numpy().astype(np.float32),
                "matrix2": lin2.weight.T.numpy().astype(np.float32), "bias2": lin2.bias.numpy().astype(np.float32)}


def fit(x: np.ndarray, y: np.ndarray, args: argparse.Namespace, epochs: int) -> dict[str, np.ndarray]:
    """Train the head on descriptors `x`, labels `y`; its inference weights."""
    return fold(train_net(x, y, args, epochs), x.mean(axis=0))


def _key(epochs: int, weight: float) -> str:
    return f"e={epochs} w={weight:g}"


def cross_validate(x: np.ndarray, y: np.ndarray, args: argparse.Namespace) -> dict[str, Any]:
    """Scores of each (epochs, fusion weight) on characters left out of the fit ."""
    from recognition.embed.base import weighted_concat

    characters = sorted(set(y))
    random.Random(args.seed).shuffle(characters)
    groups = [set(characters[i::args.folds]) for i in range(args.folds)]
    settings = [(e, w) for e in args.epochs for w in args.fusion_weights]
    metrics: dict[str, list[dict[str, float]]] = {"baseline": [], **{_key(e, w): [] for e, w in settings}}
    for i, group in enumerate(groups):
        held = np.isin(y, list(group))
        metrics["baseline"].append(cv_scores(x[held], y[held], random.Random(args.seed + i)))
        for e in args.epochs:
            weights = fit(x[~held], y[~held], args, e)
            z = mlp_forward(x[held], weights)
            for w in args.fusion_weights:
                fused = z if w >= 1.0 else weighted_concat(z, x[held], w)
                metrics[_key(e, w)].append(cv_scores(fused, y[held], random.Random(args.seed + i)))
        log.info("fold %d/%d done", i + 1, args.folds)
    means = {k: float(np.mean([(m["rank1_1shot"] + m["rank1_5shot"]) / 2 for m in v])) for k, v in metrics.items()}
    table = {k: {name: float(np.mean([m[name] for m in v])) for name in v[0]} for k, v in metrics.items()}
    best_e, best_w = max(settings, key=lambda ew: means[_key(*ew)])
    return {"folds": [sorted(g) for g in groups], "mean": means, "metrics": table,
            "best_epochs": best_e, "best_weight": best_w}


def main(args: argparse.Namespace) -> dict[str, Any]:
    """Cross-validate, refit the best setting on every character and save the embedder checkpoint."""
    import torch

    for w in args.fusion_weights:
        if w != 1.0:
            check_fusion_weight(w)
    torch.set_num_threads(1)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    x, y, detected = descriptors(list(args.data), out / "descriptors.npz")
    searched = len(args.epochs) > 1 or len(args.fusion_weights) > 1
    cv = cross_validate(x, y, args) if searched else None
    epochs, weight = (cv["best_epochs"], cv["best_weight"]) if cv else (args.epochs[0], args.fusion_weights[0])
    weights = fit(x, y, args, epochs)
    fused = weight < 1.0
    base_id = BaselineEmbedder.model_id
    digest = hashlib.sha256(b"".join(v.tobytes() for v in weights.values()) + f"w{weight:g}".encode()).hexdigest()
    model_id = f"kaobot-mlp{args.dim}" + (f"-fused-w{weight:g}" if fused else "") + f"-{base_id}-{digest[:10]}"
    meta = {"base": base_id, "dim": args.dim + (x.shape[1] if fused else 0), "epochs": epochs,
            "characters": len(set(y)), "pictures": len(y), "face_found": detected,
            "data": [str(d) for d in args.data], "seed": args.seed,
            "train": {k: v for k, v in vars(args).items() if k not in ("data", "output", "func")}}
    if fused:
        meta["fusion_weight"] = weight
    path = save_checkpoint(out / "head.pt", kind="embedder", model_id=model_id, arch=ARCH, arch_kwargs={},
                           meta=meta, state_dict={k: torch.from_numpy(v) for k, v in weights.items()})
    result = {"model_id": model_id, "checkpoint": str(path), "epochs": epochs, "fusion_weight": weight,
              "cv_mean": cv["mean"] if cv else None, "seconds": round(time.perf_counter() - t0, 1)}
    (out / "cv.json").write_text(json.dumps({"result": result, "cv": cv}, indent=1) + "\n")
    return result
