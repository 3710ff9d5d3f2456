"""Set-up shared by the trainers' `main()`: output folder, seed, threads, device, loaders, AMP."""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from recognition.device import resolve_device

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Runtime:
    out: Path
    device: str
    cuda: bool
    workers: int
    use_amp: bool


def plain_config(args: argparse.Namespace) -> dict[str, Any]:
    """The arguments that are plain values (what a checkpoint stores as the run's config)."""
    return {k: v for k, v in vars(args).items() if isinstance(v, (str, int, float, bool, list, type(None)))}


def prepare_run(args: argparse.Namespace) -> Runtime:
    """Log the resolved config, create `--output`, seed torch, set threads, pick device, workers and AMP."""
    log.info("config: %s", json.dumps(plain_config(args), sort_keys=True))
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    cuda = device.startswith("cuda")
    workers = args.workers if args.workers is not None else (4 if cuda else 0)
    use_amp = args.amp == "on" or (args.amp == "auto" and cuda)
    return Runtime(out, device, cuda, workers, use_amp)


def backward_step(loss: torch.Tensor, optimizer, scaler, clip_params=None, max_norm: float = 10.0) -> None:
    """Zero the gradients, back-propagate (scaled when AMP's `scaler` is set), clip the gradient norm
    of `clip_params` to `max_norm` when given, and step the optimiser."""
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        if clip_params is not None:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(clip_params, max_norm)
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        if clip_params is not None:
            torch.nn.utils.clip_grad_norm_(clip_params, max_norm)
        optimizer.step()
