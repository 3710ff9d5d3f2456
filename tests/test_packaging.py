"""A built wheel carries the shipped model files, so the defaults (`shipped:FILE`) work in any install, and
the web page's files."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from recognition.weights import shipped_models

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_contains_the_shipped_models(tmp_path):
    pytest.importorskip("setuptools")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for package in ("bot", "recognition", "training", "tools", "web"):
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), "."],
        cwd=src, check=True, capture_output=True,
    )
    (wheel,) = tmp_path.glob("kaobot-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert shipped_models() and {f"recognition/weights/{m}" for m in shipped_models()} <= names
    # The page of `kaobot web`, so that it is served from any install.
    static = {f"web/static/{p.name}" for p in (ROOT / "web" / "static").iterdir()}
    assert {"web/static/index.html", "web/static/app.js", "web/static/style.css"} <= static <= names
