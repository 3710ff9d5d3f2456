"""`kaobot export onnx`: a kaobot checkpoint (embedder or detector) to ONNX, checked against torch."""

from __future__ import annotations

import argparse
import json


def cmd_export_onnx(args: argparse.Namespace) -> int:
    from training.export import export_onnx

    print(json.dumps(export_onnx(args.checkpoint, args.out, opset=args.opset, atol=args.atol), indent=1))
    return 0


def register(sub, add_common) -> None:
    p = sub.add_parser("export", help="export a checkpoint to another format")
    kinds = p.add_subparsers(dest="export_kind", required=True, metavar="FORMAT")
    o = kinds.add_parser("onnx", help="ONNX (embedder or detector), compared numerically with torch")
    o.add_argument("checkpoint", help="a kaobot embedder or detector checkpoint (.pt)")
    o.add_argument("out", help="the .onnx file to write")
    o.add_argument("--opset", type=int, default=17)
    o.add_argument("--atol", type=float, default=1e-3, help="largest absolute difference accepted")
    o.set_defaults(func=cmd_export_onnx)
