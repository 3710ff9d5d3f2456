"""Write a trained checkpoint as a small fp16 file for `recognition/weights/` (same model id, metadata kept).

    python -m tools.ship_model runs/emb/best.pt recognition/weights/embedder.pt --kind embedder

The model id is kept: the fp16 file gives the same faces/vectors up to rounding, and a kaobot
gallery embedded with it is compared only with vectors of that id.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from recognition.checkpoints import load_checkpoint, save_checkpoint


def ship(src: str | Path, dst: str | Path, kind: str) -> dict[str, object]:
    """Copy `src` to `dst` with fp16 weights; returns the id, size and sha256 of the new file."""
    payload = load_checkpoint(src, kind=kind)
    path = save_checkpoint(dst, kind=kind, model_id=payload["model_id"], arch=payload["arch"],
                           arch_kwargs=payload["arch_kwargs"], meta=payload["meta"],
                           state_dict=payload["state_dict"], half=True)
    data = path.read_bytes()
    return {"model_id": payload["model_id"], "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--kind", required=True, choices=["embedder", "detector"])
    args = p.parse_args(argv)
    print(ship(args.src, args.dst, args.kind))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
