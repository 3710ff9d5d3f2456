"""`kaobot train recognizer|detector|descriptor-head|fusion`: the trainers' own argument parsers under the
kaobot CLI, and `kaobot train --recipe FILE|NAME [flags]` (a recipe file names the trainer and its settings:
`training.recipes`)."""

from __future__ import annotations

import argparse
import json
from types import ModuleType

HELP = {
    "recognizer": "margin-head (ArcFace/CosFace) embedder on identity folders",
    "detector": "torchvision face detector on YOLO labels",
    "descriptor-head": "ArcFace-trained MLP head on the baseline descriptor (minutes on a CPU)",
    "fusion": "fuse a trained embedder with a descriptor one, weight and threshold chosen on its validation characters",
}


def trainers() -> dict[str, ModuleType]:
    """Each trainer's module (`get_args_parser`, `main`), by command name."""
    from training import descriptor_head, detector, fusion_choice, recognizer

    return {"recognizer": recognizer, "detector": detector, "descriptor-head": descriptor_head, "fusion": fusion_choice}


def expand_recipe(argv: list[str]) -> list[str]:
    """`… train --recipe R [flags]` → `… train TRAINER <the recipe's flags> [flags]`; other argv unchanged."""
    from training.recipes import available, load_recipe, recipe_path, settings_argv

    if "train" not in argv:
        return argv
    at = argv.index("train") + 1
    rest = argv[at:]
    if not rest or not (rest[0] == "--recipe" or rest[0].startswith("--recipe=")):
        return argv
    if rest[0].startswith("--recipe="):
        spec, overrides = rest[0].split("=", 1)[1], rest[1:]
    else:
        spec, overrides = (rest[1] if len(rest) > 1 else ""), rest[2:]
    if not spec:
        raise ValueError("--recipe needs a file or the name of a shipped recipe")
    if spec == "list":
        print("\n".join(f"{name}  ({recipe_path(name)})" for name in available()))
        raise SystemExit(0)
    modules = trainers()
    trainer, settings = load_recipe(spec, set(modules))
    parser = modules[trainer].get_args_parser(argparse.ArgumentParser(add_help=False))
    return [*argv[:at], trainer, *settings_argv(parser, settings, f"recipe {spec}"), *overrides]


def _run(module: ModuleType):
    def run(args: argparse.Namespace) -> int:
        print(json.dumps(module.main(args), indent=1))
        return 0

    return run


def register(sub, add_common) -> None:
    p = sub.add_parser(
        "train",
        help="train a face detector or an embedder (recognizer, descriptor head, fusion), or run a recipe",
        description="Run one trainer (`kaobot train KIND --help`), or a recipe: `kaobot train --recipe FILE|NAME "
        "[flags]`, the recipe's settings first and the flags after them (they override); `--recipe list` lists "
        "the shipped recipes (training/recipes/, one per shipped model).",
    )
    p.add_argument("--recipe", metavar="FILE|NAME", help="a recipe file or a shipped recipe's name (given first)")
    kinds = p.add_subparsers(dest="train_kind", required=True, metavar="KIND")
    for name, module in trainers().items():
        k = kinds.add_parser(
            name, help=HELP[name], description=module.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        module.get_args_parser(k)
        k.set_defaults(func=_run(module))
