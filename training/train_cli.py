"""`kaobot train recognizer|detector|projection|descriptor-head`: the trainers' own argument parsers under the kaobot CLI."""

from __future__ import annotations

import argparse
import json


def _run(module: str):
    def run(args: argparse.Namespace) -> int:
        import importlib

        result = importlib.import_module(module).main(args)
        print(json.dumps(result, indent=1))
        return 0

    return run


def register(sub, add_common) -> None:
    from training import recognizer

    p = sub.add_parser("train", help="train an embedder (recognizer, projection, descriptor head) or a face detector")
    kinds = p.add_subparsers(dest="train_kind", required=True, metavar="KIND")
    r = kinds.add_parser("recognizer", help="margin-head (ArcFace/CosFace) embedder on identity folders",
                         description=recognizer.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    recognizer.get_args_parser(r)
    r.set_defaults(func=_run("training.recognizer"))

    from training import detector

    d = kinds.add_parser("detector", help="torchvision face detector on YOLO labels",
                         description=detector.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    detector.get_args_parser(d)
    d.set_defaults(func=_run("training.detector"))

    from training import projection

    j = kinds.add_parser("projection", help="shrinkage-LDA projection of the baseline descriptor (seconds on a CPU)",
                         description=projection.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    projection.get_args_parser(j)
    j.set_defaults(func=_run("training.projection"))

    from training import descriptor_head

    h = kinds.add_parser("descriptor-head", help="ArcFace-trained MLP head on the baseline descriptor (minutes on a CPU)",
                         description=descriptor_head.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    descriptor_head.get_args_parser(h)
    h.set_defaults(func=_run("training.descriptor_head"))
