"""Training recipes (`kaobot train --recipe`): settings become flags, the command line overrides them, and
each shipped model's recipe still makes a model of the shipped kind on a small slice of the real data."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest
import torch

from recognition.checkpoints import load_checkpoint
from recognition.weights import WEIGHTS_DIR
from tools.cli import main
from training.recipes import RECIPES_DIR, available, load_recipe, settings_argv
from training.train_cli import expand_recipe, trainers


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    p.add_argument("--data", nargs="+")
    p.add_argument("--epochs", type=int)
    p.add_argument("--arch-kwargs", default="{}")
    p.add_argument("--pretrained", action="store_true")
    p.add_argument("--val-from", action="append")
    p.add_argument("--with", dest="base")
    return p


def test_settings_become_the_trainers_flags():
    argv = settings_argv(
        _parser(),
        {"data": ["a", "b"], "epochs": 3, "arch_kwargs": {"min_size": 448}, "pretrained": True, "val-from": ["x", "y"],
         "with": "shipped:h.pt"},
    )
    assert argv == ["--data", "a", "b", "--epochs", "3", "--arch-kwargs", '{"min_size": 448}', "--pretrained",
                    "--val-from", "x", "--val-from", "y", "--with", "shipped:h.pt"]
    assert settings_argv(_parser(), {"pretrained": False}) == []
    with pytest.raises(ValueError, match="'epoch' is not a setting.*valid: arch_kwargs, data, epochs"):
        settings_argv(_parser(), {"epoch": 3})
    with pytest.raises(ValueError, match="true or false"):
        settings_argv(_parser(), {"pretrained": "yes"})


def test_the_command_line_overrides_the_recipe(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("trainer: detector\nargs:\n  data: d.yaml\n  output: out\n  epochs: 4\n  lr: 1.0e-3\n")
    argv = expand_recipe(["-v", "train", "--recipe", str(recipe), "--epochs", "1"])
    assert argv[:3] == ["-v", "train", "detector"]
    args = trainers()["detector"].get_args_parser(argparse.ArgumentParser()).parse_args(argv[3:])
    assert (args.data, args.output, args.epochs, args.lr) == ("d.yaml", "out", 1, 1e-3)
    assert expand_recipe(["train", f"--recipe={recipe}"])[1] == "detector"
    assert expand_recipe(["train", "detector", "--epochs", "1"]) == ["train", "detector", "--epochs", "1"]


def test_bad_recipes_are_refused_in_plain_words(tmp_path, capsys):
    cases = {
        "unknown trainer": ("trainer: painter\nargs: {}\n", "unknown trainer 'painter'"),
        "not a mapping": ("- detector\n", "must be a mapping"),
        "bad yaml": ("trainer: [detector\n", "not valid YAML"),
        "unknown setting": ("trainer: detector\nargs: {epoch: 3}\n", "'epoch' is not a setting"),
    }
    for text, message in cases.values():
        recipe = tmp_path / "r.yaml"
        recipe.write_text(text)
        assert main(["train", "--recipe", str(recipe)]) == 1
        assert message in capsys.readouterr().err
    assert main(["train", "--recipe", "no-such-recipe"]) == 1
    err = capsys.readouterr().err
    assert "no recipe 'no-such-recipe'" in err and "detector-fcos-icf512" in err


def test_every_shipped_recipe_parses_with_its_trainer(capsys):
    """Each file of training/recipes/ names a trainer and only settings that trainer has."""
    names = available()
    assert {"detector-fcos-icf384", "detector-fcos-icf512", "embedder-head128", "embedder-lite0",
            "embedder-lite0-fused"} <= set(names)
    modules = trainers()
    for name in names:
        trainer, _ = load_recipe(name, set(modules))
        argv = expand_recipe(["train", "--recipe", name])
        args = modules[trainer].get_args_parser(argparse.ArgumentParser()).parse_args(argv[2:])
        assert args.seed == 0, name  # every recipe is seeded
    with pytest.raises(SystemExit):
        main(["train", "--recipe", "list"])
    assert str(RECIPES_DIR / "embedder-lite0.yaml") in capsys.readouterr().out


def test_the_head_recipe_is_what_the_shipped_head_was_trained_with():
    """The shipped head records its training settings: the recipe must say the same."""
    _, settings = load_recipe("embedder-head128", set(trainers()))
    meta = load_checkpoint(WEIGHTS_DIR / "embedder-head128-fused.pt", kind="embedder")["meta"]
    trained = {**meta["train"], "data": meta["data"]}
    for key, value in settings.items():
        if key != "output":
            assert trained[key] == value, key


# --- the shipped models from their recipes, on a small slice of ../shared (slow) ----------------------------


def _link_slice(src: Path, dst: Path, names: list[str]) -> None:
    dst.mkdir(parents=True)
    for name in names:
        os.symlink(src / name, dst / name)


@pytest.fixture(scope="module")
def detection_slice(tmp_path_factory) -> Path:
    """6 train and 4 val pictures of icartoonface-det (links) and their YOLO labels, as a dataset YAML."""
    from .conftest import SHARED

    root = SHARED / "data" / "icartoonface-det"
    if not root.is_dir():
        pytest.skip("../shared is absent")
    out = tmp_path_factory.mktemp("icf")
    for split, n in (("train", 6), ("val", 4)):
        images = sorted(p.name for p in (root / "images" / split).iterdir())[:n]
        _link_slice(root / "images" / split, out / "images" / split, images)
        _link_slice(root / "labels" / split, out / "labels" / split, [Path(i).with_suffix(".txt").name for i in images])
    (out / "dataset.yaml").write_text("path: .\ntrain: images/train\nval: images/val\nnc: 1\nnames: [face]\n")
    return out / "dataset.yaml"


@pytest.fixture(scope="module")
def recognition_slice(tmp_path_factory) -> tuple[Path, Path]:
    """Two training roots (as the Lite0 recipe has): 6 anime-id and 6 kancolle-faces train characters,
    5 pictures each (links)."""
    from training.anime_id_views import build_views

    from .conftest import SHARED

    if not SHARED.is_dir():
        pytest.skip("../shared is absent")
    roots = []
    for dataset in ("anime-id", "kancolle-faces"):
        views = tmp_path_factory.mktemp(dataset)
        build_views(SHARED / "data" / dataset, views)
        out = tmp_path_factory.mktemp(f"{dataset}-slice") / "train"
        for character in sorted(p for p in (views / "train").iterdir())[:6]:
            _link_slice(character, out / character.name, sorted(p.name for p in character.iterdir())[:5])
        roots.append(out)
    return roots[0], roots[1]



@pytest.mark.parametrize("recipe", ["detector-fcos-icf384", "detector-fcos-icf512"])
@pytest.mark.shared
@pytest.mark.slow
def test_the_detector_recipes_make_the_shipped_detectors(recipe, detection_slice, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--recipe", recipe, "--data", str(detection_slice), "--output", str(out), "--epochs", "1",
                 "--val-limit", "4", "--batch-size", "2", "--threads", "1"]) == 0
    made = load_checkpoint(out / "best.pt", kind="detector")
    shipped = load_checkpoint(WEIGHTS_DIR / f"{recipe}.pt", kind="detector")
    assert (made["arch"], made["arch_kwargs"]) == (shipped["arch"], shipped["arch_kwargs"])
    assert made["meta"].get("init") == shipped["meta"].get("init")  # the 512 one starts from the 384 one
    assert json.loads(capsys.readouterr().out)["epochs"] == 1


@pytest.mark.shared
@pytest.mark.slow
def test_the_embedder_recipes_make_the_shipped_embedder(recognition_slice, tmp_path, capsys):
    """embedder-lite0 (the network) then embedder-lite0-fused (the fusion) on 12 characters × 5 pictures:
    the same network, crops, preprocessing and fusion as the shipped default embedder."""
    anime_id, kancolle = map(str, recognition_slice)
    net = tmp_path / "net"
    assert main(["train", "--recipe", "embedder-lite0", "--data", anime_id, kancolle, "--output", str(net),
                 "--epochs", "1", "--batch-size", "8", "--val-fraction", "0.5", "--threads", "1"]) == 0
    fused = tmp_path / "fused.pt"
    assert main(["train", "--recipe", "embedder-lite0-fused", "--checkpoint", str(net / "best.pt"),
                 "--output", str(fused), "--val-from", anime_id, kancolle, "--threshold-from", anime_id, kancolle,
                 "--weights", "0.3", "0.5"]) == 0
    made = load_checkpoint(fused, kind="embedder")
    shipped = load_checkpoint(WEIGHTS_DIR / "embedder-lite0-fused.pt", kind="embedder")
    assert (made["arch"], made["arch_kwargs"]) == (shipped["arch"], shipped["arch_kwargs"])
    for key in ("trained_input_size", "margin", "mean", "std", "dim", "head", "backbone", "pretrained", "boxes"):
        assert made["meta"][key] == shipped["meta"][key], key
    assert made["meta"]["input_size"] in (128, 144, 160, 192)  # the recipe's input_sizes, chosen like the weight
    assert made["meta"]["fusion"]["with"] == shipped["meta"]["fusion"]["with"]
    assert isinstance(made["meta"]["flip"], bool) and 0 < made["meta"]["threshold"] < 1
    assert {v.dtype for v in made["state_dict"].values() if v.is_floating_point()} == {torch.float16}  # --half
