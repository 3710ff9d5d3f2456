"""The one epoch loop of kaobot's trainers: train one epoch, evaluate, keep the best, checkpoint, resume.

A trainer builds its model, data and optimiser, then hands the engine a `Loop` saying how to train
one epoch, how to evaluate and how to write its best checkpoint. The engine owns everything else,
the same way for every trainer:

* `OUTPUT/last.pt`: the resume checkpoint (the loop's modules, optimiser, scheduler, AMP scaler,
  epoch, history, best, the config as plain types and the trainer's `identity`; written atomically,
  loads with `weights_only=True`); `--resume` continues from it;
* `OUTPUT/best.pt`: written by the loop's `save_best` whenever an epoch beats the best score so far;
* `OUTPUT/history.json` (one row per epoch: losses, learning rate, pictures per second, validation
  metrics), `OUTPUT/curves.png` (the loop's plot) and `OUTPUT/result.json` (what `fit` returns);
* progress: a tqdm bar over the epochs (shown on a terminal) and one log line per epoch.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)


@dataclass
class Loop:
    """What a trainer hands `fit`."""

    out: Path
    modules: dict[str, torch.nn.Module]  # saved in and restored from last.pt under these names
    optimizer: torch.optim.Optimizer
    scheduler: Any  # a torch LR scheduler, stepped by `train_one_epoch`
    scaler: Any  # torch.amp.GradScaler or None
    train_one_epoch: Callable[[int], dict[str, float]]  # epoch index → mean losses (with "loss")
    evaluate: Callable[[int], dict[str, float]]  # epoch index → validation metrics ({} when none)
    score: Callable[[dict[str, float]], float]  # an epoch's row → its score (higher is better)
    save_best: Callable[[int, dict[str, float]], str]  # (epoch number, metrics) → model id; writes best.pt
    pictures: int  # training pictures per epoch (for pictures per second)
    plot: Callable[[list[dict[str, float]], Path], None] | None = None
    identity: dict[str, Any] = field(default_factory=dict)  # what a resumed run must share (e.g. the classes)


def _resume(loop: Loop) -> tuple[int, list[dict[str, float]], dict[str, Any] | None]:
    state = torch.load(loop.out / "last.pt", map_location="cpu", weights_only=True)
    for key, value in loop.identity.items():
        if state.get("identity", {}).get(key) != value:
            raise ValueError(f"the data's {key} differ from the resumed run's ({loop.out / 'last.pt'})")
    for name, module in loop.modules.items():
        module.load_state_dict(state["modules"][name])
    loop.optimizer.load_state_dict(state["optimizer"])
    loop.scheduler.load_state_dict(state["scheduler"])
    if loop.scaler is not None and state.get("scaler"):
        loop.scaler.load_state_dict(state["scaler"])
    log.info("resumed from epoch %d", state["epoch"])
    return state["epoch"], state["history"], state["best"]


def _checkpoint(loop: Loop, epoch: int, history: list, best: dict | None, config: dict[str, Any]) -> None:
    state = {
        "modules": {name: module.state_dict() for name, module in loop.modules.items()},
        "optimizer": loop.optimizer.state_dict(),
        "scheduler": loop.scheduler.state_dict(),
        "scaler": loop.scaler.state_dict() if loop.scaler is not None else {},
        "epoch": epoch,
        "history": history,
        "best": best,
        "config": config,
        "identity": loop.identity,
    }
    tmp = loop.out / "last.pt.tmp"
    torch.save(state, tmp)
    tmp.replace(loop.out / "last.pt")


def fit(loop: Loop, epochs: int, *, resume: bool = False, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run epochs `[start, epochs)` (start > 0 when resuming); returns the best epoch and its checkpoint."""
    from tqdm import tqdm

    start, history, best = 0, [], None
    if resume and (loop.out / "last.pt").is_file():
        start, history, best = _resume(loop)
    bar = tqdm(range(start, epochs), desc="epochs", unit="epoch", initial=start, total=epochs, leave=False)
    for epoch in bar:
        t0 = time.perf_counter()
        losses = loop.train_one_epoch(epoch)
        seconds = time.perf_counter() - t0
        metrics = loop.evaluate(epoch)
        row = {
            "epoch": epoch + 1,
            **losses,
            "lr": loop.optimizer.param_groups[0]["lr"],
            "images_per_s": loop.pictures / seconds,
            **metrics,
        }
        history.append(row)
        log.info("epoch %d: %s", epoch + 1, json.dumps({k: round(v, 4) for k, v in row.items()}))
        score = loop.score(row)
        if best is None or score > best["score"] or not (loop.out / "best.pt").is_file():
            model_id = loop.save_best(epoch + 1, metrics)
            best = {"score": score, "epoch": epoch + 1, "model_id": model_id, **metrics}
        _checkpoint(loop, epoch + 1, history, best, config or {})
        (loop.out / "history.json").write_text(json.dumps(history, indent=1) + "\n")
        if loop.plot is not None:
            loop.plot(history, loop.out / "curves.png")
    result = {"best": best, "checkpoint": str(loop.out / "best.pt"), "epochs": len(history)}
    (loop.out / "result.json").write_text(json.dumps(result, indent=1) + "\n")
    return result
