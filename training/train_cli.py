"""`kaobot train recognizer|detector|projection|descriptor-head`: the trainers' own argument parsers under the kaobot CLI."""

from __future__ import annotations

import argparse
import importlib
import json

TRAINERS = (  # (command, module, help)
    ("recognizer", "training.recognizer", "margin-head (ArcFace/CosFace) embedder on identity folders"),
    ("detector", "training.detector", "torchvision face detector on YOLO labels"),
    ("projection", "training.projection", "shrinkage-LDA projection of the baseline descriptor (seconds on a CPU)"),
    ("descriptor-head", "training.descriptor_head", "ArcFace-trained MLP head on the baseline descriptor (minutes on a CPU)"),
    ("fusion", "training.fusion_choice", "fuse a trained embedder with a descriptor one, weight and threshold chosen on its validation characters"),
)


def _run(module: str):
    def run(args: argparse.Namespace) -> int:
        result = importlib.import_module(module).main(args)
        print(json.dumps(result, indent=1))
        return 0

    return run


def register(sub, add_common) -> None:
    p = sub.add_parser("train", help="train an embedder (recognizer, projection, descriptor head) or a face detector")
    kinds = p.add_subparsers(dest="train_kind", required=True, metavar="KIND")
    for name, module_name, help_text in TRAINERS:
        module = importlib.import_module(module_name)
        k = kinds.add_parser(
            name, help=help_text, description=module.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        module.get_args_parser(k)
        k.set_defaults(func=_run(module_name))
