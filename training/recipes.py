"""Training recipes: one YAML file per shipped model (`kaobot train --recipe FILE|NAME`).

A recipe names its trainer and that trainer's settings under their option names without dashes::

    trainer: detector
    args:
      data: runs/icf/dataset.yaml
      arch_kwargs: {min_size: 448, max_size: 512}
      epochs: 4

`kaobot train --recipe NAME [flags]` becomes `kaobot train TRAINER --data … --epochs 4 [flags]`: the
recipe's settings first, the command line's after them, so a flag on the command line overrides the
recipe (for a repeatable option, such as fusion's `--val-from`, it adds to the recipe's). NAME is a
file, or the name of one of the files in `training/recipes/` (`kaobot train --recipe list` lists them).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"


def available() -> list[str]:
    """The names of the shipped recipes."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def recipe_path(spec: str) -> Path:
    """A recipe file from a path or a shipped recipe's name."""
    path = Path(spec)
    if path.is_file():
        return path
    shipped = RECIPES_DIR / f"{spec}.yaml"
    if shipped.is_file():
        return shipped
    raise ValueError(f"no recipe {spec!r}: not a file, nor one of {', '.join(available())}")


def load_recipe(spec: str, trainers: set[str]) -> tuple[str, dict[str, Any]]:
    """(trainer, settings) of a recipe, checked for shape and trainer name."""
    path = recipe_path(spec)
    try:
        recipe = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"recipe {path} is not valid YAML: {exc}") from exc
    if not isinstance(recipe, dict) or set(recipe) - {"trainer", "args"} or "trainer" not in recipe:
        raise ValueError(f"recipe {path} must be a mapping with `trainer` and `args`")
    trainer, settings = recipe["trainer"], recipe.get("args") or {}
    if trainer not in trainers:
        raise ValueError(f"recipe {path}: unknown trainer {trainer!r}; valid: {', '.join(sorted(trainers))}")
    if not isinstance(settings, dict):
        raise ValueError(f"recipe {path}: `args` must be a mapping of option names to values")
    return trainer, settings


def _value(value: Any) -> str:
    return json.dumps(value) if isinstance(value, dict) else str(value)


def settings_argv(parser: argparse.ArgumentParser, settings: dict[str, Any], where: str = "recipe") -> list[str]:
    """The command-line flags of `parser` that set `settings` (keys: the long options' names, `_` or `-`)."""
    actions = {}  # by long option name without its dashes, `_` for `-` (argparse keeps them nowhere public)
    for action in parser._actions:
        for option in action.option_strings:
            if option.startswith("--") and option != "--help":
                actions[option[2:].replace("-", "_")] = action
    argv: list[str] = []
    for key, value in settings.items():
        action = actions.get(str(key).replace("-", "_"))
        if action is None:
            valid = ", ".join(sorted(actions))
            raise ValueError(f"{where}: {key!r} is not a setting of this trainer; valid: {valid}")
        flag = max(action.option_strings, key=len)
        if isinstance(action, argparse._StoreTrueAction):
            if not isinstance(value, bool):
                raise ValueError(f"{where}: {key} is true or false, not {value!r}")
            argv += [flag] if value else []
        elif isinstance(action, argparse._AppendAction):
            for item in value if isinstance(value, list) else [value]:
                argv += [flag, _value(item)]
        elif isinstance(value, list):
            argv += [flag, *map(_value, value)]
        else:
            argv += [flag, _value(value)]
    return argv
